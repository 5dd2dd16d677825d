"""CLI subcommands of the dataset layer: export.  (``import`` and ``check`` are workflows: the import's
capture guard and ``check --repair`` need the aligner.)"""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
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
