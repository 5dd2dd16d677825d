"""CLI subcommands of the alignment layer: align, stats."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("align", help="align triplets and decide patches automatically",
                       description="SIFT homography (target -> phone), NCC patch matching and optical-flow "
                                   "misalignment for every triplet not aligned yet. User decisions survive "
                                   "re-alignment. The exit status is the number of triplets that failed.",
                       epilog="examples:\n  ispviewer align DS\n"
                              "  ispviewer align DS --workers 2 --threshold 1.0 --force\n"
                              "  ispviewer align DS --scheduler tcp://10.0.0.5:8786   "
                              "(Dask cluster; see docs/scaling.md)")
    p.add_argument("dataset", type=Path)
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--threshold", type=float, default=None, help="reject above this misalignment, px (default 1.2)")
    p.add_argument("--patch", type=int, default=128, help="patch size in phone pixels (even, default 128)")
    p.add_argument("--force", action="store_true", help="re-align triplets that are already aligned")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run on a Dask cluster (tcp://host:8786, or local:N for N local worker processes) "
                        "instead of the local process pool; needs ispviewer[distributed]")
    p.add_argument("--worker-root", metavar="PATH", default=None,
                   help="with --scheduler: the dataset folder as the workers see it (default: same path)")
    p.add_argument("--retries", type=int, default=2,
                   help="with --scheduler: re-runs of a triplet whose task failed on the cluster (default 2)")
    p.set_defaults(func=run_align)

    p = sub.add_parser("stats", help="misalignment distribution (the poster's Figure 4)",
                       epilog="examples:\n  ispviewer stats DS --png figure4.png\n"
                              "  ispviewer stats DS --by illumination --png figure4b.png")
    p.add_argument("dataset", type=Path)
    p.add_argument("--by", choices=("illumination", "phone", "tag", "split"), default=None,
                   help="per-group distribution (Figure 4b); --png then overlays one histogram per group")
    p.add_argument("--png", type=Path, help="also draw the histogram to this PNG")
    p.set_defaults(func=run_stats)


def run_align(args) -> int:
    from ispviewer.align.batch import align_dataset

    if args.patch < 16 or args.patch % 2:
        print("ispviewer align: error: --patch must be an even number >= 16", file=sys.stderr)
        return 2
    if args.threshold is not None and args.threshold <= 0:
        print("ispviewer align: error: --threshold must be positive", file=sys.stderr)
        return 2
    if getattr(args, "scheduler", None):
        summary = _align_on_cluster(args)
        if summary is None:
            return 2
    else:
        summary = align_dataset(args.dataset, workers=args.workers, threshold_px=args.threshold,
                                patch_size=args.patch, force=args.force)
    print(f"aligned {len(summary.aligned)}, failed {summary.failed_count}, already aligned {len(summary.skipped)}")
    if summary.interrupted:
        return 130
    return min(summary.failed_count, 125)


def _align_on_cluster(args):
    """The Dask backend of ``align``; None (after an error message) when the cluster cannot be used."""
    from ispviewer.cluster import ClusterError, connect

    if args.retries < 0:
        print("ispviewer align: error: --retries must be >= 0", file=sys.stderr)
        return None
    try:
        from ispviewer.align.distributed import align_dataset_on_cluster

        with connect(args.scheduler) as client:
            return align_dataset_on_cluster(args.dataset, client, threshold_px=args.threshold,
                                            patch_size=args.patch, force=args.force, retries=args.retries,
                                            worker_root=args.worker_root)
    except ClusterError as exc:
        print(f"ispviewer align: error: {exc}", file=sys.stderr)
        return None


def run_stats(args) -> int:
    from ispviewer.align.stats import collect, format_report, render_png
    from ispviewer.dataset.manifest import Manifest

    if getattr(args, "by", None):
        from ispviewer.align.group_stats import collect_groups, render_groups_png

        with Manifest.open(args.dataset, readonly=True) as manifest:
            groups = collect_groups(manifest, args.by)
        print(groups.report())
        if args.png:
            render_groups_png(groups, args.png)
            print(f"wrote {args.png}")
        return 0
    with Manifest.open(args.dataset, readonly=True) as manifest:
        stats = collect(manifest)
    print(format_report(stats))
    if args.png:
        render_png(stats, args.png)
        print(f"wrote {args.png}")
    return 0
