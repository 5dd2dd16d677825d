"""The demo dataset: build its sources, import them, align them (Qt-free; the app opens the result)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

#: What ``ispviewer demo`` and a first ``ispviewer open`` build: count, phone frame (w, h), seed.
DEFAULT_COUNT = 6
DEFAULT_SIZE = (2000, 1500)
DEFAULT_SEED = 0


def default_demo_dir() -> Path:
    """Where the demo dataset lives unless told otherwise (``$XDG_DATA_HOME/ispviewer/demo``)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "ispviewer" / "demo"


def parse_size(text: str) -> tuple[int, int]:
    """``"2000x1500"`` -> (2000, 1500); ValueError with a message for the user otherwise."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must look like 2000x1500, not {text!r}") from None
    if w < 128 or h < 96 or w % 2 or h % 2:
        raise ValueError(f"--size {text}: width and height must be even and at least 128x96")
    return w, h


def is_dataset(root: Path) -> bool:
    """Does ``root`` hold an ispviewer dataset (its manifest)?"""
    from ispviewer.dataset.manifest import MANIFEST_NAME

    return (root / MANIFEST_NAME).is_file()


def build_demo_dataset(out: Path, count: int, size: tuple[int, int], seed: int,
                       log: Callable[[str], object] = print, hard: bool = False) -> int:
    """Sources -> import -> alignment.  Returns the number of problems (0 when all went well).

    ``hard``: the harder variant (randomised camera looks, lens distortion, rig parallax)."""
    from ispviewer.align.batch import align_dataset
    from ispviewer.dataset.demo import build_demo_sources
    from ispviewer.workflows.capture_import import import_captures

    sources = out / "sources"
    log(f"building {count} demo triplet(s) at {size[0]}x{size[1]} in {sources}")
    build_demo_sources(sources, count=count, size=size, seed=seed, hard=hard,
                       progress=lambda i, n, stem: log(f"  [{i + 1}/{n}] {stem}"))
    report = import_captures(sources, out)  # as `ispviewer import` does: with the capture guard
    log(report.summary())
    gt = out / "groundtruth"
    gt.mkdir(exist_ok=True)
    for f in sorted((sources / "groundtruth").glob("*.npz")):
        shutil.copyfile(f, gt / f.name)
    summary = align_dataset(out, workers=min(2, os.cpu_count() or 1), log=log)
    return len(report.skipped) + summary.failed_count


def ensure_demo_dataset(out: Path | None = None, *, force: bool = False, count: int = DEFAULT_COUNT,
                        size: tuple[int, int] = DEFAULT_SIZE, seed: int = DEFAULT_SEED,
                        log: Callable[[str], object] = print, hard: bool = False) -> tuple[Path, int]:
    """The demo dataset at ``out`` (default :func:`default_demo_dir`), built when missing (or ``force``).

    Returns (its folder, problems while building; 0 when it existed already).
    """
    default = default_demo_dir().with_name("demo-hard") if hard else default_demo_dir()
    out = (out or default).expanduser().resolve()
    if not force and is_dataset(out):
        return out, 0
    if force and out.exists():
        shutil.rmtree(out)
    return out, build_demo_dataset(out, count, size, seed, log=log, hard=hard)
