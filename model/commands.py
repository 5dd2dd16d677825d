"""CLI subcommands of the network: infer (train and evaluate register here once present)."""

from __future__ import annotations

import sys
from pathlib import Path

from .weight_files import default_weights


def register(sub) -> None:
    p = sub.add_parser("infer", help="render phone raws with the ISP network",
                       description="Render each RAW to an sRGB image with the network, tile by tile "
                                   "(memory bounded by the tile, not the image).",
                       epilog="examples:\n  ispviewer infer shot.dng --out shot.png\n"
                              "  ispviewer infer a.dng b.dng --out renders/ --weights W.pt --tile 256")
    p.add_argument("raws", nargs="+", type=Path, metavar="RAW")
    p.add_argument("--out", type=Path, required=True,
                   help="output file (one raw) or folder (several raws; PNG named after each raw)")
    p.add_argument("--weights", type=Path, default=None, help="checkpoint (default: the shipped weights)")
    p.add_argument("--tile", type=int, default=256, help="tile side in packed pixels (default 256)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="render on a Dask cluster (tcp://host:8786, or local:N); the raws must be readable "
                        "by the workers under the same paths; needs ispviewer[distributed]")
    p.add_argument("--retries", type=int, default=2,
                   help="with --scheduler: re-runs of a raw whose task failed on the cluster (default 2)")
    p.set_defaults(func=run_infer)
    try:
        from . import training_commands
    except ImportError:
        return
    training_commands.register(sub)


def _outputs(raws: list[Path], out: Path) -> list[Path]:
    if len(raws) == 1 and out.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff"):
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    return [out / f"{raw.stem}.png" for raw in raws]


def run_infer(args) -> int:
    import cv2
    import numpy as np

    from ispviewer.dataset.images import ImageReadError, load_packed_raw

    from .checkpoint import CheckpointError, load_checkpoint
    from .inference import render_full

    weights = args.weights or default_weights()
    try:
        model, _meta = load_checkpoint(weights)
    except CheckpointError as exc:
        print(f"ispviewer infer: error: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "scheduler", None):
        return _infer_on_cluster(args, weights)
    failures = 0
    for raw, dst in zip(args.raws, _outputs(args.raws, args.out)):
        try:
            packed = load_packed_raw(raw)
        except ImageReadError as exc:
            print(f"ispviewer infer: skipped {exc}", file=sys.stderr)
            failures += 1
            continue

        def progress(done, total, name=raw.name):
            if sys.stderr.isatty():
                print(f"\r{name}: tile {done}/{total}", end="", file=sys.stderr, flush=True)

        rgb = render_full(model, packed, tile=args.tile, progress=progress)
        if sys.stderr.isatty():
            print(file=sys.stderr)
        bgr = cv2.cvtColor(np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(str(dst), bgr):
            print(f"ispviewer infer: error: {dst}: could not write image", file=sys.stderr)
            failures += 1
            continue
        print(f"{raw} -> {dst}")
    return 1 if failures else 0


def _infer_on_cluster(args, weights: Path) -> int:
    from ispviewer.cluster import ClusterError, connect

    from .cluster_infer import infer_on_cluster

    if args.retries < 0:
        print("ispviewer infer: error: --retries must be >= 0", file=sys.stderr)
        return 2
    try:
        with connect(args.scheduler) as client:
            failures = infer_on_cluster(client, args.raws, _outputs(args.raws, args.out), weights,
                                        tile=args.tile, retries=args.retries)
    except ClusterError as exc:
        print(f"ispviewer infer: error: {exc}", file=sys.stderr)
        return 2
    return 1 if failures else 0
