"""A small aligned demo dataset (4 triplets: RGGB and BGGR phones, several illuminations) for the
dataset-as-a-product tests, and a runner for the CLI."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

DEMO_SIZE = (640, 480)
DEMO_COUNT = 4


def build_aligned_demo(folder: Path) -> Path:
    """SRC (demo sources with ground truth) and DS (imported, aligned) under ``folder``; returns DS."""
    from ispviewer.align.batch import align_dataset
    from ispviewer.dataset.demo.build import build_demo_sources
    from ispviewer.dataset.importer import import_sources

    src, ds = folder / "src", folder / "ds"
    build_demo_sources(src, count=DEMO_COUNT, size=DEMO_SIZE, seed=3)
    report = import_sources(src, ds)
    assert report.ok, report.summary()
    summary = align_dataset(ds, workers=1)
    assert summary.failed_count == 0
    return ds


def copy_dataset(ds: Path, to: Path) -> Path:
    shutil.copytree(ds, to)
    return to


def cli(*argv) -> tuple[int, str, str]:
    """Run ``ispviewer ARGV`` in-process: (exit status, stdout, stderr)."""
    from ispviewer.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse errors
            code = exc.code
    return int(code or 0), out.getvalue(), err.getvalue()
