"""CLI subcommands that open the app: ``ispviewer open [DATASET]`` and ``ispviewer demo``.

Without DATASET (and for a bare ``ispviewer``) the app opens the last dataset, or else the demo
dataset, building it first when it does not exist yet.  Building the demo is a workflow
(:mod:`ispviewer.workflows.demo`); these commands add the window on top of it.
"""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    from ispviewer.dataset.manifest import MANIFEST_NAME
    from ispviewer.workflows.demo import DEFAULT_COUNT, DEFAULT_SIZE, default_demo_dir

    p = sub.add_parser("demo", help="build the demo dataset (if missing) and open it",
                       description="Build a small dataset from real photographs bundled with scikit-image: "
                                   "phone raws (DNG) made by an inverse ISP, mediocre phone ISP JPEGs and "
                                   "higher-resolution 'Nikon' targets with a known misalignment (ground truth "
                                   "saved beside). Then import and align it, and open it in the app.",
                       epilog="examples:\n  ispviewer demo\n  ispviewer demo --out /tmp/demo --no-gui\n"
                              "  ispviewer demo --out /tmp/big --count 20 --size 4032x3024 --no-gui")
    p.add_argument("--out", type=Path, default=None, help=f"dataset folder (default {default_demo_dir()})")
    p.add_argument("--count", type=int, default=DEFAULT_COUNT, help=f"number of triplets (default {DEFAULT_COUNT})")
    size = "x".join(map(str, DEFAULT_SIZE))
    p.add_argument("--size", default=size, help=f"phone frame WIDTHxHEIGHT (default {size})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hard", action="store_true",
                   help="the harder variant: randomised camera looks, lens distortion, near objects with rig parallax "
                        "(default folder: demo-hard beside the demo)")
    p.add_argument("--force", action="store_true", help="rebuild even if the dataset exists")
    p.add_argument("--no-gui", action="store_true", help="build only; print where the dataset is")
    p.add_argument("--screenshot", type=Path, help="render the window offscreen to this PNG and exit")
    p.set_defaults(func=run_demo)

    p = sub.add_parser(
        "open", help="open a dataset in the viewer",
        description="Open DATASET in the viewer: the phone ISP JPEG, the aligned Nikon target and the "
                    "network output side by side, with the patch grid, the misalignment heatmap and triage.",
        epilog="examples:\n  ispviewer open ~/datasets/phone2nikon\n"
               "  ispviewer open ~/datasets/phone2nikon --screenshot window.png\n"
               "  ispviewer open            (the last dataset, or the demo)")
    p.add_argument("dataset", type=Path, nargs="?", default=None,
                   help=f"dataset folder (holds {MANIFEST_NAME}); default: the last dataset opened, "
                        "or the demo dataset (built on first use)")
    p.add_argument("--screenshot", type=Path, metavar="FILE",
                   help="render the window offscreen, save it as PNG to FILE, and exit")
    p.add_argument("--read-only", action="store_true", dest="readonly",
                   help="view only: open the manifest read-only (decisions disabled)")
    p.add_argument("--gallery", action="store_true",
                   help="start in the patch gallery (the worst queue's patches, phone and target at 1:1)")
    p.set_defaults(func=run_open)


def run_demo(args) -> int:
    from ispviewer.workflows.demo import ensure_demo_dataset, parse_size

    try:
        size = parse_size(args.size)
    except ValueError as exc:
        print(f"ispviewer demo: error: {exc}", file=sys.stderr)
        return 2
    out, problems = ensure_demo_dataset(args.out, force=args.force, count=args.count, size=size, seed=args.seed,
                                         hard=args.hard)
    print(f"demo dataset: {out}")
    if args.no_gui and not args.screenshot:
        return 1 if problems else 0
    try:
        from ispviewer.gui.app import run_app
    except ImportError:
        print("the desktop app is not available in this build; open the dataset above with other tools")
        return 1 if problems else 0
    return run_app(out, screenshot=args.screenshot)


def last_or_demo_dataset(log=print) -> tuple[Path | None, int]:
    """The last dataset opened, if it still exists, else the demo dataset (built when missing).

    Returns (dataset, problems while building the demo); dataset is None if nothing could be made.
    """
    from ispviewer.gui.settings import last_dataset
    from ispviewer.workflows.demo import default_demo_dir, ensure_demo_dataset, is_dataset

    last = last_dataset()
    if last is not None:
        return last, 0
    demo = default_demo_dir()
    if not is_dataset(demo):
        log(f"no dataset opened before: building the demo dataset in {demo} (once)")
    demo, problems = ensure_demo_dataset(demo, log=log)
    return (demo if is_dataset(demo) else None), problems


def run_open(args) -> int:
    from ispviewer.dataset.manifest import MANIFEST_NAME
    from ispviewer.workflows.demo import is_dataset

    if args.dataset is None:
        args.dataset, problems = last_or_demo_dataset()
        if args.dataset is None:
            print("ispviewer: could not build the demo dataset; open one with: ispviewer open DATASET",
                  file=sys.stderr)
            return 2
        if problems:
            print(f"ispviewer: the demo dataset was built with {problems} problem(s)", file=sys.stderr)
    if not is_dataset(args.dataset):
        print(f"ispviewer: {args.dataset}: no ispviewer dataset here ({MANIFEST_NAME} not found); "
              "create one with: ispviewer import SRC DATASET", file=sys.stderr)
        return 2
    from ispviewer.gui.app import run_app

    return run_app(args.dataset, screenshot=args.screenshot, readonly=args.readonly, gallery=args.gallery)
