"""CLI subcommand: export-patches (training-ready patch pairs, ZRR folders or webdataset shards)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "export-patches", help="write training-ready patch pairs (ZRR layout or webdataset shards)",
        description="For every patch with --status (default accepted) of the triplets of each split: the phone "
                    "raw patch as a 16-bit single-channel RGGB mosaic PNG (the sensor's own Bayer phase, black "
                    "level subtracted, white level = 1020, as PyNET-style loaders expect: /(4*255)) and the "
                    "target patch resampled from the original Nikon JPEG through the homography and the "
                    "patch's matched offset, area-averaged first so it does not alias. zrr: DIR/<split>/"
                    "huawei_raw/<i>.png, DIR/<split>/canon/<i>.jpg, DIR/<split>/index.jsonl (i = 0..N-1). "
                    "webdataset: DIR/<split>-NNNNNN.tar shards of <key>.raw.png, <key>.target.png, <key>.json "
                    "and DIR/<split>-index.jsonl. Default: every stored split that has triplets (all patches "
                    "in DIR/all when the dataset has no split). Re-running reuses what is done; a killed "
                    "export leaves no file that looks complete (a split is complete once its index exists).",
        epilog="examples:\n  ispviewer export-patches DS --layout zrr --out ~/zrr\n"
               "  ispviewer export-patches DS --layout webdataset --out ~/shards --split train --shard-size 2000\n"
               "  ispviewer export-patches DS --layout zrr --out ~/zrr --split all --workers 2")
    p.add_argument("dataset", type=Path)
    p.add_argument("--layout", required=True, help="zrr or webdataset")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--split", default=None, help="train, val, test or all (default: every stored split)")
    p.add_argument("--status", default="accepted", help="accepted (default), rejected or flagged")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--shard-size", type=int, default=1000, help="webdataset: samples per shard (default 1000)")
    p.add_argument("--jpeg-quality", type=int, default=95, help="zrr: quality of the target JPEGs (default 95)")
    p.set_defaults(func=run_export_patches)


def run_export_patches(args) -> int:
    from ispviewer.workflows.patch_export import ExportError, ExportOptions, export_patches, summary

    opts = ExportOptions(layout=args.layout, out=args.out, split=args.split, status=args.status,
                         workers=args.workers, shard_size=args.shard_size, jpeg_quality=args.jpeg_quality)
    try:
        report = export_patches(args.dataset, opts)
    except ExportError as exc:
        print(f"ispviewer export-patches: error: {exc}", file=sys.stderr)
        return 2
    print(summary(report, ExportOptions(**{**opts.__dict__, "out": Path(args.out).resolve()})))
    for name, reason in report.failed:
        print(f"ispviewer export-patches: error: triplet {name}: {reason}", file=sys.stderr)
    return 0 if report.ok else 1
