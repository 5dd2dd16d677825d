"""CLI subcommands of the workflows: ``import`` (its capture guard needs the aligner) and ``check``
(``--repair`` re-aligns), so neither is the dataset layer's."""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("import", help="import captures from a source folder into a dataset",
                       description="Copy the captures of SRC (per-capture or by-role layout) into DATASET "
                                   "and register them in its manifest, each checked against its phone image "
                                   "in every orientation first. Re-running adds new captures only.",
                       epilog="example: ispviewer import ~/captures/2026-11 ~/datasets/phone2nikon")
    p.add_argument("src", type=Path)
    p.add_argument("dataset", type=Path)
    p.set_defaults(func=run_import)

    p = sub.add_parser("check", help="check a dataset: manifest, referenced files, heatmaps, decision history",
                       description="Run SQLite's integrity check on the manifest, check that every file it "
                                   "references is inside the dataset, present and readable (headers; --deep "
                                   "decodes), that heatmaps and aligned-target caches load and cover the phone "
                                   "frame, and that each patch's decision history ends in its status. Exit "
                                   "status 0: no problems, 1: problems found (listed one per line).",
                       epilog="examples:\n  ispviewer check DS\n  ispviewer check DS --repair")
    p.add_argument("dataset", type=Path)
    p.add_argument("--repair", action="store_true",
                   help="rebuild what can be rebuilt (heatmaps, aligned targets: re-aligns those triplets, "
                        "user decisions kept; removes leftover temporary files and orphan heatmaps/aligned targets "
                        "older than 60 s); never deletes decisions")
    p.add_argument("--deep", action="store_true", help="decode every image fully (slow) instead of headers only")
    p.set_defaults(func=run_check)


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
    from ispviewer.dataset.check import check_dataset
    from ispviewer.workflows.capture_check import check_capture_orientation
    from ispviewer.workflows.repair import repair_dataset

    captures = check_capture_orientation(args.dataset)
    if captures.problems or captures.notes:  # before the file report, whose last line is its verdict
        print(f"capture orientation: {len(captures.problems)} problem(s), {len(captures.notes)} note(s)")
        for line in captures.lines():
            print(f"  {line}")
    report = check_dataset(args.dataset, deep=args.deep)
    print(report.summary())
    if args.repair and (any(p.repairable for p in report.problems) or report.leftovers
                        or report.orphans or report.without_metadata):
        for line in repair_dataset(args.dataset, report, log=lambda text: print(text, file=sys.stderr)):
            print(f"repair: {line}")
        report = check_dataset(args.dataset, deep=args.deep)
        print("after repair:")
        print(report.summary())
    return 0 if report.ok and captures.ok else 1
