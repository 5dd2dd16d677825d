"""CLI subcommands of the GUI: ``ispviewer open [DATASET] [--screenshot FILE]``.

Without DATASET (and for a bare ``ispviewer``) the app opens the last dataset, or else the demo
dataset, building it first when it does not exist yet.
"""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "open", help="open a dataset in the viewer",
        description="Open DATASET in the viewer: the phone ISP JPEG, the aligned Nikon target and the "
                    "network output side by side, with the patch grid, the misalignment heatmap and triage.",
        epilog="examples:\n  ispviewer open ~/datasets/phone2nikon\n"
               "  ispviewer open ~/datasets/phone2nikon --screenshot window.png\n"
               "  ispviewer open            (the last dataset, or the demo)")
    p.add_argument("dataset", type=Path, nargs="?", default=None,
                   help="dataset folder (holds manifest.sqlite); default: the last dataset opened, "
                        "or the demo dataset (built on first use)")
    p.add_argument("--screenshot", type=Path, metavar="FILE",
                   help="render the window offscreen, save it as PNG to FILE, and exit")
    p.add_argument("--read-only", action="store_true", dest="readonly",
                   help="view only: open the manifest read-only (decisions disabled)")
    p.set_defaults(func=run_open)


def last_or_demo_dataset(log=print) -> tuple[Path | None, int]:
    """The last dataset opened, if it still exists, else the demo dataset (built when missing).

    Returns (dataset, problems while building the demo); dataset is None if nothing could be made.
    """
    from ispviewer.gui.settings import last_dataset

    last = last_dataset()
    if last is not None:
        return last, 0
    from ispviewer.dataset.demo.commands import build_demo_dataset, default_demo_dir

    demo = default_demo_dir()
    if (demo / "manifest.sqlite").is_file():
        return demo, 0
    log(f"no dataset opened before: building the demo dataset in {demo} (once)")
    problems = build_demo_dataset(demo, 6, (2000, 1500), 0, log=log)
    return (demo if (demo / "manifest.sqlite").is_file() else None), problems


def run_open(args) -> int:
    import sys

    if args.dataset is None:
        args.dataset, problems = last_or_demo_dataset()
        if args.dataset is None:
            print("ispviewer: could not build the demo dataset; open one with: ispviewer open DATASET",
                  file=sys.stderr)
            return 2
        if problems:
            print(f"ispviewer: the demo dataset was built with {problems} problem(s)", file=sys.stderr)
    if not (args.dataset / "manifest.sqlite").is_file():
        print(f"ispviewer: {args.dataset}: no ispviewer dataset here (manifest.sqlite not found); "
              "create one with: ispviewer import SRC DATASET", file=sys.stderr)
        return 2
    from ispviewer.gui.app import run_app

    return run_app(args.dataset, screenshot=args.screenshot, readonly=args.readonly)
