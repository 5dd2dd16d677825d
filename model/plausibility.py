"""Is the network's render of a real raw a plausible photograph?  Compare it with LibRaw's.

LibRaw (``rawpy.postprocess`` with the camera's white balance, AHD demosaic, sRGB output) is an
independent, conventional render of the same file on the same pixel grid.  The network and
LibRaw legitimately differ in tone curve, saturation and exposure, so the comparison uses
measures that ignore those and catch what a broken input path produces:

* ``structure``: Pearson correlation of the two luminance images after a Laplacian-of-Gaussian
  band-pass (σ = ``sigma`` px): edges and texture in the same places with the same polarity.
  A wrong CFA phase or origin smears or shifts detail; a dead network gives ~0.
* ``tone_rank``: Spearman rank correlation of the two luminances on a coarse grid: the same
  areas are bright and dark (a monotonic tone curve difference does not lower it).
* ``colour_deg``: median, over 8×8-pixel blocks brighter than 5 %, of the angle in degrees
  between the two renders' RGB directions (hue and saturation, not brightness).  A colour cast
  (red and blue exchanged by a wrong CFA order, a wrong black level tinting the shadows, a
  missing white balance) turns every block: two sensible renders stay within a few degrees.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Plausibility:
    structure: float
    tone_rank: float
    colour_deg: float
    region: tuple[int, int, int, int]

    def line(self) -> str:
        return (f"luminance structure r = {self.structure:.3f}, tone rank rho = {self.tone_rank:.3f}, "
                f"colour angle {self.colour_deg:.2f} deg vs LibRaw (region {self.region})")


def libraw_render(path: str | os.PathLike) -> np.ndarray:
    """LibRaw's sRGB render (camera white balance, 8-bit) as float32 in [0, 1], raw pixel grid."""
    import rawpy

    with rawpy.imread(str(path)) as raw:
        rgb = raw.postprocess(use_camera_wb=True, output_bps=8, user_flip=0)
    return rgb.astype(np.float32) / 255.0


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., :3] @ np.array([0.2126, 0.7152, 0.0722], np.float32)).astype(np.float32)


def _band_pass(lum: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    blurred = cv2.GaussianBlur(lum, (0, 0), sigma)
    return cv2.Laplacian(blurred, cv2.CV_32F, ksize=3)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a.ravel().astype(np.float64) - a.mean()
    b = b.ravel().astype(np.float64) - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else 0.0


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x.ravel(), kind="stable")
    ranks = np.empty(order.size, np.float64)
    ranks[order] = np.arange(order.size)
    return ranks


def _colour_angle(ours: np.ndarray, reference: np.ndarray, block: int = 8) -> float:
    import cv2

    def blocks(rgb):
        h, w = rgb.shape[0] // block, rgb.shape[1] // block
        small = cv2.resize(rgb[:h * block, :w * block], (w, h), interpolation=cv2.INTER_AREA)
        return small.reshape(-1, 3).astype(np.float64)

    a, b = blocks(ours), blocks(reference)
    bright = (a.sum(axis=1) > 0.15) & (b.sum(axis=1) > 0.15)
    if not bright.any():
        return 0.0
    a, b = a[bright], b[bright]
    cos = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(np.median(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))))


def compare_renders(ours: np.ndarray, reference: np.ndarray, sigma: float = 2.0) -> tuple[float, float, float]:
    """(structure, tone_rank, colour_deg) of two float RGB renders of the same pixel grid."""
    import cv2

    if ours.shape != reference.shape:
        raise ValueError(f"renders differ in size: {ours.shape} vs {reference.shape}")
    la, lb = _luminance(ours), _luminance(reference)
    structure = _pearson(_band_pass(la, sigma), _band_pass(lb, sigma))
    step = max(1, min(la.shape) // 64)
    small_a = cv2.resize(la, (la.shape[1] // step, la.shape[0] // step), interpolation=cv2.INTER_AREA)
    small_b = cv2.resize(lb, (lb.shape[1] // step, lb.shape[0] // step), interpolation=cv2.INTER_AREA)
    tone_rank = _pearson(_ranks(small_a), _ranks(small_b))
    cast = _colour_angle(ours, reference)
    return structure, tone_rank, cast


def plausibility(model, path: str | os.PathLike, region: tuple[int, int, int, int] | None = None,
                 threads: int | None = None) -> Plausibility:
    """Render ``region`` (phone-frame x, y, w, h; default the whole frame) of the raw at ``path``
    with ``model`` and compare it with LibRaw's render of the same pixels."""
    from ispviewer.dataset.images import load_packed_raw, raw_frames

    from .inference import render_region

    packed = load_packed_raw(path, raw_frames(path)[-1])  # the whole visible area, as LibRaw renders it
    reference = libraw_render(path)
    h = min(reference.shape[0], packed.info.height)
    w = min(reference.shape[1], packed.info.width)
    if region is None:
        region = (0, 0, w, h)
    x, y, rw, rh = region
    ours = render_region(model, packed, region, threads=threads)
    ref = reference[y:y + rh, x:x + rw]
    structure, tone_rank, cast = compare_renders(ours, ref)
    return Plausibility(structure, tone_rank, cast, (x, y, rw, rh))
