"""The misalignment heatmap file: per-pixel flow magnitude (px) at reduced scale, NaN = not measured.

One of the dataset's files (``heatmaps/<name>.<token>.npz``, named by :mod:`.alignment_files`): the
aligner writes it, ``ispviewer check`` and the viewer read it; none of them needs the aligner's code
to do so.

Stored as ``.npz`` with ``heatmap`` (float16, rows x cols at ``scale`` x the phone frame) and
``scale`` (float).  Written atomically (:mod:`ispviewer.dataset.atomic`) so a reader or a killed
worker never sees half a file.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from ispviewer.dataset.atomic import atomic_file

FORMAT_VERSION = 1


class HeatmapError(Exception):
    """A heatmap file is missing or not a heatmap this version can read."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def save_heatmap(path: str | os.PathLike, heatmap: np.ndarray, scale: float) -> None:
    """Write ``heatmap`` (2-D, px; NaN where not measured) measured at ``scale`` of the phone frame."""
    heatmap = np.asarray(heatmap)
    if heatmap.ndim != 2:
        raise ValueError(f"heatmap must be 2-D, got shape {heatmap.shape}")
    if not 0 < scale <= 1:
        raise ValueError(f"heatmap scale must be in (0, 1], got {scale}")
    with atomic_file(path) as fh:  # stored, not deflated: float16 flow magnitudes deflate by ~15%
        # only, for 20-50x the time of writing them (0.05-0.1 s a 12 MP triplet's map)
        np.savez(fh, heatmap=heatmap.astype(np.float16), scale=np.float64(scale), version=np.int32(FORMAT_VERSION))


def load_heatmap(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """(heatmap float32, scale) from a file written by :func:`save_heatmap`."""
    path = Path(path)
    if not path.is_file():
        raise HeatmapError(path, "heatmap file does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "heatmap" not in data or "scale" not in data:
                raise HeatmapError(path, "not a heatmap file (no 'heatmap'/'scale' arrays)")
            version = int(data["version"]) if "version" in data else 1
            if version > FORMAT_VERSION:
                raise HeatmapError(path, f"heatmap format {version} is newer than this ispviewer reads")
            heatmap = data["heatmap"].astype(np.float32)
            scale = float(data["scale"])
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise HeatmapError(path, f"corrupt heatmap file ({type(exc).__name__})") from None
    if heatmap.ndim != 2 or not 0 < scale <= 1:
        raise HeatmapError(path, "heatmap file has an invalid shape or scale")
    return heatmap, scale
