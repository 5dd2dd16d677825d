"""The aligner's patch-tile cache: written once per alignment from the images it already holds.

After measuring, the aligner has the phone image and the rendered aligned target in memory; it
cuts every patch's two squares from them and stores them as the alignment's patch-tile cache
(:mod:`ispviewer.dataset.patch_tiles`), named by the heatmap's version token
(:func:`ispviewer.dataset.alignment_files.patch_tiles_relpath`).  The gallery then reads a few
kilobytes per tile instead of decoding two phone-sized images per triplet.

It is a cache: failing to write it never fails the alignment (the gallery cuts tiles from the
images without it).  :func:`rebuild_tile_cache` writes it again for a stored alignment (``check
--repair`` on a damaged one) without aligning again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ispviewer.dataset.alignment_files import patch_tiles_relpath
from ispviewer.dataset.images import load_rgb
from ispviewer.dataset.patch_tiles import spec_of, write_patch_tiles


@dataclass(frozen=True)
class TileCacheWrite:
    """What writing one cache did: its path relative to the dataset (None: not written), size, time."""

    relpath: str | None
    bytes: int = 0
    seconds: float = 0.0
    error: str | None = None


def write_tile_cache(root: str | Path, heatmap: str | None, phone: np.ndarray, aligned_target: np.ndarray,
                     patches: Iterable, *, channels: str = "rgb") -> TileCacheWrite:
    """Write the patch-tile cache of the alignment whose heatmap is ``heatmap`` (relative to ``root``)
    from the phone image and aligned target (``channels``: their order, "rgb" or OpenCV's "bgr");
    never raises."""
    from ispviewer.dataset.manifest import safe_join

    rel = patch_tiles_relpath(heatmap)
    if rel is None:
        return TileCacheWrite(None, error="the heatmap's name implies no patch-tile cache")
    t0 = time.perf_counter()
    try:
        size = write_patch_tiles(safe_join(Path(root), rel), phone, aligned_target, (spec_of(p) for p in patches),
                                 channels=channels)
    except Exception as exc:  # noqa: BLE001 - only a cache: the gallery cuts tiles from the images without it
        return TileCacheWrite(None, error=f"{rel}: {exc}")
    return TileCacheWrite(rel, size, time.perf_counter() - t0)


def rebuild_tile_cache(manifest, t) -> TileCacheWrite:
    """Write the patch-tile cache of ``t``'s stored alignment again (its patches as stored, the
    aligned target file when usable, else the target warped by the stored homography); never raises
    for an image it cannot read (the result says why)."""
    from ispviewer.align.aligned_target import render_aligned_target
    from ispviewer.dataset.images import ImageReadError
    from ispviewer.dataset.manifest import ManifestError

    named = t.heatmap or getattr(t, "aligned_target", None)
    if t.homography is None or patch_tiles_relpath(named) is None:
        return TileCacheWrite(None, error="the triplet has no stored alignment")
    size = (t.raw.width, t.raw.height)
    try:
        phone = load_rgb(manifest.resolve(t.files.phone))
        aligned = None
        if getattr(t, "aligned_target", None):
            try:
                aligned = load_rgb(manifest.resolve(t.aligned_target))
            except (ImageReadError, ManifestError):
                aligned = None
        if aligned is None or (aligned.shape[1], aligned.shape[0]) != size:
            aligned = render_aligned_target(load_rgb(manifest.resolve(t.files.target)), np.array(t.homography), size)
    except (ImageReadError, ManifestError) as exc:
        return TileCacheWrite(None, error=str(exc))
    return write_tile_cache(manifest.root, named, phone, aligned, manifest.patches(t.id))
