"""The ``ispviewer`` command: one entry point, one subcommand per task.

Each area registers its own subcommands (``<area>/commands.py: register(subparsers)``) and keeps
its heavy imports inside the handlers, so ``ispviewer --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

EXAMPLES = """\
examples:
  ispviewer demo                           build the demo dataset (if missing) and open it
  ispviewer demo --out /tmp/demo --no-gui  build the demo dataset only
  ispviewer import SRC DATASET             import captures (per-capture or by-role layout)
  ispviewer align DATASET --workers 2      align every triplet, reject misaligned patches
  ispviewer stats DATASET --png fig4.png   misalignment distribution (the poster's Figure 4)
  ispviewer export DATASET --format jsonl  one record per patch, for training pipelines
  ispviewer split DATASET --val 0.1 --test 0.1   store a train/val/test split of whole captures
  ispviewer export-patches DATASET --layout zrr --out DIR   training-ready patch pairs (ZRR)
  ispviewer queue DATASET --kind audit --limit 200 --seed 1   what to review next, as JSONL
  ispviewer merge DATASET OTHER_COPY       bring in the decisions people made in another copy
  ispviewer open DATASET                   browse, compare and triage in the desktop app
"""

#: modules that contribute subcommands; a missing optional area is skipped.
COMMAND_MODULES = (
    "ispviewer.workflows.commands",
    "ispviewer.dataset.commands",
    "ispviewer.dataset.review.commands",
    "ispviewer.dataset.product_commands",
    "ispviewer.align.commands",
    "ispviewer.workflows.patch_export_commands",
    "ispviewer.model.commands",
    "ispviewer.gui.commands",
)


def build_parser() -> argparse.ArgumentParser:
    return _parser_and_commands()[0]


def _parser_and_commands() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser and its subcommands by name."""
    parser = argparse.ArgumentParser(
        prog="ispviewer", description="Build, align, inspect and clean learned-ISP datasets "
        "(phone raw, phone ISP JPEG, high-end camera target).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    from ispviewer import __version__
    parser.add_argument("--version", action="version", version=f"ispviewer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    for p in sub.choices.values():
        p.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser, sub.choices


def main(argv: list[str] | None = None) -> int:
    from ispviewer.dataset.images import ImageReadError
    from ispviewer.dataset.manifest import ManifestError

    parser, commands = _parser_and_commands()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        if "open" in commands:  # default: the desktop app
            args = parser.parse_args(["open"])  # the last dataset, or the demo
        else:
            parser.print_help()
            return 0
    try:
        return int(args.func(args) or 0)
    except (ManifestError, ImageReadError) as exc:
        print(f"ispviewer: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ispviewer: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `ispviewer export DS | head`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
