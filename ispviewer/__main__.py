from ispviewer.cli import main

raise SystemExit(main())
