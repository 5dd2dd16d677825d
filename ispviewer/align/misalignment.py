"""Per-patch misalignment from a dense flow field, the texture check, and the heatmap.

A patch's misalignment is the mean magnitude of the residual flow, i.e. the flow between the
phone patch and its matched target patch (flow minus the patch's NCC offset), in phone pixels.
Noise in a flow field inflates the mean of its magnitude (a zero-mean error still has a positive
length), so the flow *vectors* are smoothed over a small window before taking magnitudes: the
true displacement is smooth at that scale, the estimator's noise is not.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class PatchFlowStats:
    mean: np.ndarray  # (N,) float32, px
    p95: np.ndarray  # (N,) float32, px
    magnitude: np.ndarray  # residual magnitude map at the flow scale, NaN outside the given patches


def _block(x: int, y: int, size: int, scale: float) -> tuple[slice, slice]:
    x0, y0 = int(round(x * scale)), int(round(y * scale))
    n = max(1, int(round(size * scale)))
    return slice(y0, y0 + n), slice(x0, x0 + n)


def smooth_flow(flow: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-smooth each flow component (sigma in flow pixels; 0 = unchanged)."""
    if sigma <= 0:
        return flow
    return cv2.GaussianBlur(flow, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)


def patch_flow_stats(flow: np.ndarray, scale: float, positions: np.ndarray, patch_size: int,
                     offsets: np.ndarray) -> PatchFlowStats:
    """Residual-flow statistics of every patch.

    ``flow`` (h, w, 2) is sampled at ``scale`` x the phone frame but holds phone-frame pixels;
    ``offsets`` (N, 2) are the patches' NCC offsets (dx, dy).
    """
    n = len(positions)
    mean = np.zeros(n, np.float32)
    p95 = np.zeros(n, np.float32)
    magnitude = np.full(flow.shape[:2], np.nan, np.float32)
    for k in range(n):
        sl = _block(int(positions[k, 0]), int(positions[k, 1]), patch_size, scale)
        r = flow[sl] - offsets[k].astype(np.float32)
        m = np.sqrt(r[..., 0] ** 2 + r[..., 1] ** 2)
        magnitude[sl] = m
        mean[k] = m.mean()
        p95[k] = np.percentile(m, 95)
    return PatchFlowStats(mean, p95, magnitude)


def patch_texture(gray: np.ndarray, scale: float, positions: np.ndarray, patch_size: int,
                  blur_sigma: float = 1.5) -> np.ndarray:
    """Texture strength per patch: sqrt of the smaller eigenvalue of the patch's structure tensor.

    In grey levels per phone pixel; near 0 for flat patches and for patches with edges in one
    direction only (where motion along the edge cannot be measured).  ``gray`` is at ``scale``.
    """
    g = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), blur_sigma)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3, scale=scale / 8)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3, scale=scale / 8)
    sums = [cv2.integral(a, sdepth=cv2.CV_64F) for a in (gx * gx, gy * gy, gx * gy)]
    out = np.zeros(len(positions), np.float32)
    for k in range(len(positions)):
        sy, sx = _block(int(positions[k, 0]), int(positions[k, 1]), patch_size, scale)
        area = (sy.stop - sy.start) * (sx.stop - sx.start)
        jxx, jyy, jxy = (s[sy.stop, sx.stop] - s[sy.start, sx.stop] - s[sy.stop, sx.start] + s[sy.start, sx.start]
                         for s in sums)
        jxx, jyy, jxy = jxx / area, jyy / area, jxy / area
        lam = (jxx + jyy) / 2 - np.sqrt(((jxx - jyy) / 2) ** 2 + jxy ** 2)
        out[k] = np.sqrt(max(lam, 0.0))
    return out


def downscale_heatmap(magnitude: np.ndarray, from_scale: float, to_scale: float,
                      phone_size: tuple[int, int]) -> np.ndarray:
    """Area-average a NaN-masked map from ``from_scale`` to ``to_scale`` of the phone frame.

    A heatmap pixel is NaN unless at least half of its area was measured.
    """
    w, h = phone_size
    size = (max(1, int(round(w * to_scale))), max(1, int(round(h * to_scale))))
    valid = np.isfinite(magnitude)
    values = np.where(valid, magnitude, 0).astype(np.float32)
    if size == (magnitude.shape[1], magnitude.shape[0]):
        out = values
        cover = valid.astype(np.float32)
    else:
        out = cv2.resize(values, size, interpolation=cv2.INTER_AREA)
        cover = cv2.resize(valid.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    with np.errstate(invalid="ignore", divide="ignore"):
        result = out / cover
    result[cover < 0.5] = np.nan
    return result.astype(np.float32)
