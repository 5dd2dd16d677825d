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

from ispviewer.align.flow import stack_radius


@dataclass(frozen=True)
class PatchFlowStats:
    mean: np.ndarray  # (N,) float32, px
    p95: np.ndarray  # (N,) float32, px
    magnitude: np.ndarray  # residual magnitude map at the flow scale, NaN outside the given patches


def smooth_flow(flow: np.ndarray, sigma: float, weight: np.ndarray | None = None) -> np.ndarray:
    """Smooth each flow component (sigma in flow pixels; 0 = unchanged).

    With ``weight`` (h, w) in [0, 1] this is a normalized convolution: the result is the
    weight-averaged flow nearby, so the flow of textureless areas (where any estimator is guessing)
    is replaced by that of their textured surroundings.
    """
    if sigma <= 0 and weight is None:
        return flow
    k = 2 * stack_radius(max(sigma, 0.5)) + 1
    if weight is None:
        return cv2.stackBlur(flow, (k, k))
    w = weight.astype(np.float32)
    num = cv2.stackBlur(flow * w[..., None], (k, k))
    den = cv2.stackBlur(w, (k, k))
    fallback = cv2.stackBlur(flow, (k, k))
    ok = den > 1e-3
    out = np.where(ok[..., None], num / np.maximum(den, 1e-3)[..., None], fallback)
    return out.astype(np.float32)


def confidence(contrast_phone: np.ndarray, contrast_target: np.ndarray, low: float, high: float) -> np.ndarray:
    """Per-pixel trust in the flow, 0..1: both images need local contrast above ``low`` grey levels."""
    c = np.minimum(contrast_phone, contrast_target)
    t = np.clip((c - low) / (high - low), 0, 1)
    return t * t * (3 - 2 * t)


@dataclass(frozen=True)
class Lattice:
    """Where patches lie in a map sampled at ``scale`` of the phone frame: blocks of n x n."""

    n: int
    x0: int
    y0: int
    rows: int
    cols: int
    ri: np.ndarray  # (N,) block row of each patch
    ci: np.ndarray  # (N,) block column of each patch

    @classmethod
    def of(cls, positions: np.ndarray, patch_size: int, scale: float) -> "Lattice":
        n = max(1, int(round(patch_size * scale)))
        gx = np.rint(np.asarray(positions)[:, 0] * scale).astype(np.intp)
        gy = np.rint(np.asarray(positions)[:, 1] * scale).astype(np.intp)
        x0, y0 = int(gx.min()), int(gy.min())
        if np.any((gx - x0) % n) or np.any((gy - y0) % n):
            raise ValueError("patches must lie on one lattice of their own size")
        ci, ri = (gx - x0) // n, (gy - y0) // n
        return cls(n, x0, y0, int(ri.max()) + 1, int(ci.max()) + 1, ri, ci)

    def view(self, array: np.ndarray) -> np.ndarray:
        """(rows, n, cols, n, ...) view of the lattice's bounding box in ``array``."""
        n = self.n
        box = array[self.y0:self.y0 + self.rows * n, self.x0:self.x0 + self.cols * n]
        return box.reshape(self.rows, n, self.cols, n, *array.shape[2:])

    def blocks(self, array: np.ndarray) -> np.ndarray:
        """(N, n * n, ...) pixels of every patch's block."""
        v = self.view(array)
        v = np.moveaxis(v, 2, 1).reshape(self.rows, self.cols, self.n * self.n, *array.shape[2:])
        return v[self.ri, self.ci]

    def used(self) -> np.ndarray:
        u = np.zeros((self.rows, self.cols), bool)
        u[self.ri, self.ci] = True
        return u


def patch_flow_stats(flow: np.ndarray, scale: float, positions: np.ndarray, patch_size: int,
                     offsets: np.ndarray) -> PatchFlowStats:
    """Residual-flow statistics of every patch.

    ``flow`` (h, w, 2) is sampled at ``scale`` x the phone frame but holds phone-frame pixels;
    ``offsets`` (N, 2) are the patches' NCC offsets (dx, dy).  Patches must tile one lattice.
    """
    magnitude = np.full(flow.shape[:2], np.nan, np.float32)
    if len(positions) == 0:
        empty = np.zeros(0, np.float32)
        return PatchFlowStats(empty, empty, magnitude)
    lat = Lattice.of(positions, patch_size, scale)
    block_offset = np.zeros((lat.rows, lat.cols, 2), np.float32)
    block_offset[lat.ri, lat.ci] = offsets
    r = lat.view(flow) - block_offset[:, None, :, None, :]
    m = np.sqrt(r[..., 0] ** 2 + r[..., 1] ** 2)  # (rows, n, cols, n)
    m[~lat.used()[:, None, :, None].repeat(lat.n, 1).repeat(lat.n, 3)] = np.nan
    lat.view(magnitude)[...] = m
    blocks = lat.blocks(magnitude)  # (N, n*n)
    mean = blocks.mean(axis=1, dtype=np.float64).astype(np.float32)
    k = int(round(0.95 * (blocks.shape[1] - 1)))
    p95 = np.partition(blocks, k, axis=1)[:, k].astype(np.float32)
    return PatchFlowStats(mean, p95, magnitude)


def patch_means(values: np.ndarray, scale: float, positions: np.ndarray, patch_size: int) -> np.ndarray:
    """Mean of a 2-D map over every patch (map sampled at ``scale`` of the phone frame)."""
    if len(positions) == 0:
        return np.zeros(0, np.float32)
    return Lattice.of(positions, patch_size, scale).blocks(values).mean(axis=1).astype(np.float32)


def patch_texture(gray: np.ndarray, scale: float, positions: np.ndarray, patch_size: int,
                  blur_sigma: float = 1.5) -> np.ndarray:
    """Texture strength per patch: sqrt of the smaller eigenvalue of the patch's structure tensor.

    In grey levels per phone pixel; near 0 for flat patches and for patches with edges in one
    direction only (where motion along the edge cannot be measured).  ``gray`` is at ``scale``.
    """
    if len(positions) == 0:
        return np.zeros(0, np.float32)
    g = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), blur_sigma)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3, scale=scale / 8)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3, scale=scale / 8)
    jxx, jyy, jxy = (patch_means(a, scale, positions, patch_size) for a in (gx * gx, gy * gy, gx * gy))
    lam = (jxx + jyy) / 2 - np.sqrt(((jxx - jyy) / 2) ** 2 + jxy ** 2)
    return np.sqrt(np.maximum(lam, 0)).astype(np.float32)


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
