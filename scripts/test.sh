#!/usr/bin/env bash
# Set up a virtual environment (if needed), lint, and run the whole test suite offscreen.
# The lint (ruff, then the import-linter layer contracts) fails the run before any test starts.
set -euo pipefail
source "$(dirname "$0")/_venv.sh"
setup_venv '[test]'
.venv/bin/ruff check .
.venv/bin/python scripts/lint_imports.py --no-logo
export QT_QPA_PLATFORM=offscreen
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
# pytest exits 5 when it collected no tests: not a failure of the project.
[ "$rc" -eq 5 ] && rc=0
exit "$rc"
