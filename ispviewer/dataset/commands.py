"""CLI subcommands of the dataset layer: import, export (``check`` is a workflow: it can re-align)."""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("import", help="import captures from a source folder into a dataset",
                       description="Copy the captures of SRC (per-capture or by-role layout) into DATASET "
                                   "and register them in its manifest. Re-running adds new captures only.",
                       epilog="example: ispviewer import ~/captures/2026-11 ~/datasets/phone2nikon")
    p.add_argument("src", type=Path)
    p.add_argument("dataset", type=Path)
    p.set_defaults(func=run_import)

    p = sub.add_parser("export", help="export patches (or triplets) as jsonl, csv or parquet",
                       epilog="examples:\n  ispviewer export DS --format jsonl --status accepted > patches.jsonl\n"
                              "  ispviewer export DS --format csv --triplets --out triplets.csv\n"
                              "  ispviewer export DS --format parquet --out patches.parquet")
    p.add_argument("dataset", type=Path)
    p.add_argument("--format", choices=("jsonl", "csv", "parquet"), default="jsonl",
                   help="parquet needs --out")
    p.add_argument("--status", choices=("accepted", "rejected", "flagged"))
    p.add_argument("--triplets", action="store_true", help="one record per triplet instead of per patch")
    p.add_argument("--out", type=Path, help="output file (default: stdout)")
    p.set_defaults(func=run_export)


def run_import(args) -> int:
    from ispviewer.dataset.importer import import_sources

    def progress(i, n, name):
        print(f"\r[{i + 1}/{n}] {name}".ljust(60), end="", file=sys.stderr, flush=True)

    report = import_sources(args.src, args.dataset, progress=progress if sys.stderr.isatty() else None)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(report.summary())
    return 0 if report.ok else 1


def run_export(args) -> int:
    from ispviewer.dataset.export import PATCH_FIELDS, TRIPLET_FIELDS, patch_rows, triplet_rows, write_records
    from ispviewer.dataset.manifest import Manifest

    with Manifest.open(args.dataset, readonly=True) as manifest:
        if args.triplets:
            rows, fields = triplet_rows(manifest), TRIPLET_FIELDS
        else:
            rows, fields = patch_rows(manifest, args.status), PATCH_FIELDS
        if args.format == "parquet":
            from ispviewer.dataset.parquet_export import write_parquet

            if not args.out:
                print("ispviewer export: error: --format parquet needs --out FILE", file=sys.stderr)
                return 2
            n = write_parquet(rows, fields, args.out)
            print(f"wrote {n} record(s) to {args.out}", file=sys.stderr)
        elif args.out:
            with open(args.out, "w", newline="") as fh:
                n = write_records(rows, fields, args.format, fh)
            print(f"wrote {n} record(s) to {args.out}", file=sys.stderr)
        else:
            write_records(rows, fields, args.format, sys.stdout)
    return 0
