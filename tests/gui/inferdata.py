"""Data for the inference / comparison GUI tests: a demo dataset with real DNG raws, aligned in
process, and small randomly initialised checkpoints (tests never use the shipped weights)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

DEMO_SIZE = (480, 360)


def build_aligned_demo(sources: Path, root: Path, count: int = 2) -> Path:
    """Demo sources -> import -> alignment (in this process: no worker start-up)."""
    from ispviewer.dataset.demo import build_demo_sources
    from ispviewer.dataset.importer import import_sources
    from ispviewer.dataset.manifest import Manifest
    from ispviewer.gui.realign import align_one

    build_demo_sources(sources, count=count, size=DEMO_SIZE, seed=3)
    assert import_sources(sources, root).ok
    with Manifest.open(root) as m:
        for t in m.triplets():
            result, error = align_one(m.root, t, 64, m.threshold_px)
            assert error is None, error
            m.store_alignment(t.id, result)
    return root


def copy_dataset(template: Path, dst: Path) -> Path:
    shutil.copytree(template, dst)
    return dst


def save_model(path: Path, seed: int = 0, **hparams) -> Path:
    """A randomly initialised network saved as a real checkpoint (small unless told otherwise)."""
    import torch

    from ispviewer.model.checkpoint import save_checkpoint
    from ispviewer.model.registry import build_model

    torch.manual_seed(seed)
    hparams = hparams or {"widths": [8, 16], "kernel_size": 3}
    model = build_model("kpn", **hparams)
    with torch.no_grad():  # not the identity kernels of a fresh network: an output unlike the phone's
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return save_checkpoint(path, model)


def use_weights(window, qtbot, path: Path) -> None:
    out = window.tools.output
    out.weights.load(path)
    qtbot.waitUntil(lambda: out.weights.current is not None and out.weights.current.path == Path(path)
                    and not out.weights.busy, timeout=10000)


def expected_output(weights: Path, raw: Path, rect=None) -> np.ndarray:
    """The model's own render of ``rect`` (x, y, w, h) of the phone frame, float RGB."""
    from ispviewer.dataset.images import load_packed_raw
    from ispviewer.model.checkpoint import load_checkpoint
    from ispviewer.model.inference import render_region

    model, _ = load_checkpoint(weights)
    return render_region(model, load_packed_raw(raw), rect)


def raw_path(window, name: str) -> Path:
    s = window.session
    return s.manifest.resolve(s.triplet(name).files.raw)


_TEMPLATE: Path | None = None


def demo_template(tmp_path_factory) -> Path:
    """One aligned demo dataset per test session (copy it before writing to it)."""
    global _TEMPLATE
    if _TEMPLATE is None:
        base = tmp_path_factory.mktemp("inferdemo")
        _TEMPLATE = build_aligned_demo(base / "sources", base / "ds")
    return _TEMPLATE
