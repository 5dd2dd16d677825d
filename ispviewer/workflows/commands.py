"""CLI: ``import`` and ``check`` run with the capture guard.

The dataset layer registers both subcommands; this module (registered after it) points them at
the guarded workflows, which need the aligner's machinery that ``dataset`` must not import.
"""

from __future__ import annotations

import sys


def register(sub) -> None:
    if "import" in sub.choices:
        sub.choices["import"].set_defaults(func=run_import)
    if "check" in sub.choices:
        sub.choices["check"].set_defaults(func=run_check)


def run_import(args) -> int:
    from ispviewer.workflows.capture_import import import_captures

    def progress(i, n, name):
        print(f"\r[{i + 1}/{n}] {name}".ljust(60), end="", file=sys.stderr, flush=True)

    report = import_captures(args.src, args.dataset, progress=progress if sys.stderr.isatty() else None)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(report.summary())
    return 0 if report.ok else 1


def run_check(args) -> int:
    from ispviewer.dataset.commands import run_check as run_file_check
    from ispviewer.workflows.capture_check import check_capture_orientation

    captures = check_capture_orientation(args.dataset)
    if captures.problems or captures.notes:  # before the file report, whose last line is its verdict
        print(f"capture orientation: {len(captures.problems)} problem(s), {len(captures.notes)} note(s)")
        for line in captures.lines():
            print(f"  {line}")
    rc = run_file_check(args)
    return rc if captures.ok else 1
