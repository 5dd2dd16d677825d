"""CLI subcommands of the GUI: ``ispviewer open DATASET [--screenshot FILE]``."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "open", help="open a dataset in the viewer",
        description="Open DATASET in the viewer: the phone ISP JPEG, the aligned Nikon target and the "
                    "network output side by side, with the patch grid, the misalignment heatmap and triage.",
        epilog="examples:\n  ispviewer open ~/datasets/phone2nikon\n"
               "  ispviewer open ~/datasets/phone2nikon --screenshot window.png")
    p.add_argument("dataset", type=Path, help="dataset folder (holds manifest.sqlite)")
    p.add_argument("--screenshot", type=Path, metavar="FILE",
                   help="render the window offscreen, save it as PNG to FILE, and exit")
    p.add_argument("--read-only", action="store_true", dest="readonly",
                   help="view only: open the manifest read-only (decisions disabled)")
    p.set_defaults(func=run_open)


def run_open(args) -> int:
    import sys

    if not (args.dataset / "manifest.sqlite").is_file():
        print(f"ispviewer: {args.dataset}: no ispviewer dataset here (manifest.sqlite not found); "
              "create one with: ispviewer import SRC DATASET", file=sys.stderr)
        return 2
    from ispviewer.gui.app import run_app

    return run_app(args.dataset, screenshot=args.screenshot, readonly=args.readonly)
