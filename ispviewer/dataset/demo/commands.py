"""`ispviewer demo`: build the built-in demo dataset (sources, import, alignment) and open it."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def default_demo_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "ispviewer" / "demo"


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must look like 2000x1500, not {text!r}") from None
    if w < 128 or h < 96 or w % 2 or h % 2:
        raise ValueError(f"--size {text}: width and height must be even and at least 128x96")
    return w, h


def register(sub) -> None:
    p = sub.add_parser("demo", help="build the demo dataset (if missing) and open it",
                       description="Build a small dataset from real photographs bundled with scikit-image: "
                                   "phone raws (DNG) made by an inverse ISP, mediocre phone ISP JPEGs and "
                                   "higher-resolution 'Nikon' targets with a known misalignment (ground truth "
                                   "saved beside). Then import and align it, and open it in the app.",
                       epilog="examples:\n  ispviewer demo\n  ispviewer demo --out /tmp/demo --no-gui\n"
                              "  ispviewer demo --out /tmp/big --count 20 --size 4032x3024 --no-gui")
    p.add_argument("--out", type=Path, default=None, help=f"dataset folder (default {default_demo_dir()})")
    p.add_argument("--count", type=int, default=6, help="number of triplets (default 6)")
    p.add_argument("--size", default="2000x1500", help="phone frame WIDTHxHEIGHT (default 2000x1500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hard", action="store_true",
                   help="the harder variant: randomised camera looks, lens distortion, near objects with rig parallax")
    p.add_argument("--force", action="store_true", help="rebuild even if the dataset exists")
    p.add_argument("--no-gui", action="store_true", help="build only; print where the dataset is")
    p.add_argument("--screenshot", type=Path, help="render the window offscreen to this PNG and exit")
    p.set_defaults(func=run_demo)


def build_demo_dataset(out: Path, count: int, size: tuple[int, int], seed: int, log=print,
                       hard: bool = False) -> int:
    """Sources -> import -> alignment.  Returns the number of problems (0 when all went well)."""
    from ispviewer.dataset.demo import build_demo_sources
    from ispviewer.dataset.importer import import_sources

    sources = out / "sources"
    log(f"building {count} demo triplet(s) at {size[0]}x{size[1]} in {sources}")
    build_demo_sources(sources, count=count, size=size, seed=seed, hard=hard,
                       progress=lambda i, n, stem: log(f"  [{i + 1}/{n}] {stem}"))
    report = import_sources(sources, out)
    log(report.summary())
    gt = out / "groundtruth"
    gt.mkdir(exist_ok=True)
    for f in sorted((sources / "groundtruth").glob("*.npz")):
        shutil.copyfile(f, gt / f.name)
    problems = len(report.skipped)
    try:
        from ispviewer.align.batch import align_dataset
    except ImportError:
        log("alignment is not available in this build; the dataset is imported but not aligned")
        return problems
    summary = align_dataset(out, workers=min(2, os.cpu_count() or 1), log=log)
    return problems + summary.failed_count


def run_demo(args) -> int:
    try:
        size = _size(args.size)
    except ValueError as exc:
        print(f"ispviewer demo: error: {exc}", file=sys.stderr)
        return 2
    hard = getattr(args, "hard", False)
    default = default_demo_dir().with_name("demo-hard") if hard else default_demo_dir()
    out = (args.out or default).expanduser().resolve()
    problems = 0
    if args.force or not (out / "manifest.sqlite").exists():
        if args.force and out.exists():
            shutil.rmtree(out)
        problems = build_demo_dataset(out, args.count, size, args.seed, hard=hard)
    print(f"demo dataset: {out}")
    if args.no_gui and not args.screenshot:
        return 1 if problems else 0
    try:
        from ispviewer.gui.app import run_app
    except ImportError:
        print("the desktop app is not available in this build; open the dataset above with other tools")
        return 1 if problems else 0
    return run_app(out, screenshot=args.screenshot)
