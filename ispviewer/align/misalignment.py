"""Per-patch misalignment from a dense flow field, the texture check, and the heatmap.

A patch's misalignment is the mean magnitude of the residual flow, i.e. the flow between the
phone patch and its matched target patch (flow minus the patch's NCC offset), in phone pixels.

Two things keep it honest:

* noise in a flow field inflates the mean of its magnitude (a zero-mean error still has a
  positive length), so the flow *vectors* are smoothed before taking magnitudes — the true
  displacement is smooth at that scale, the estimator's noise is not;
* where an image is flat (sky, crushed shadows, blown highlights) any estimator guesses, so the
  smoothing is a normalized convolution weighted by per-pixel trust, and the patch mean is
  trust-weighted too.  A patch with too little trusted area is not measurable;
* smoothing alone trades one bias for another: enough of it to quiet the estimator's noise also
  flattens motion that truly varies inside a patch (a moved or turned object).  So the smoothing
  is light, and what noise it leaves is removed by a shrinkage that knows the noise's power
  (:func:`patch_flow_stats` with ``denoise``): each patch's flow is split into its best affine
  fit (what a homography residual, lens distortion or a slight rotation leave: the estimator's
  noise hardly moves a fit to thousands of pixels) and the remainder, and the remainder is
  scaled by ``1 - noise / power`` (a Wiener gain), with the noise power taken from the quietest
  patches of the same triplet (and capped: see ``MAX_NOISE_POWER``).  Remainder well above the
  noise (local motion) is kept whole; remainder at the noise level goes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ispviewer.align.photometric import stack_radius


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
    def of(cls, positions: np.ndarray, patch_size: int, scale: float) -> Lattice:
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
        v = np.moveaxis(self.view(array), 2, 1)
        return v.reshape(self.rows, self.cols, self.n * self.n, *array.shape[2:])[self.ri, self.ci]

    def scatter(self, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Per-patch ``values`` (N, ...) laid out as a (rows, cols, ...) grid."""
        grid = np.full((self.rows, self.cols, *values.shape[1:]), fill, np.float32)
        grid[self.ri, self.ci] = values
        return grid


@dataclass(frozen=True)
class PatchFlowStats:
    mean: np.ndarray  # (N,) float32, px
    p95: np.ndarray  # (N,) float32, px
    magnitude: np.ndarray  # residual magnitude map at the flow scale, NaN outside the given patches
    noise_power: float = 0.0  # px^2, the flow noise the shrinkage removed (0: none)


#: the noise power of a triplet's flow is this percentile of its patches' non-affine power ...
NOISE_PERCENTILE = 25.0
#: ... times this (the quietest patches still hold some true non-affine motion: lens distortion)
NOISE_FACTOR = 1.5
#: fewer measured patches than this: no noise estimate, nothing is shrunk
MIN_NOISE_PATCHES = 8
#: the largest noise power (px^2) credited to a flow.  The quietest patches of the demo and hard
#: demo sets read 0.03-0.2 px^2; where they hold more, much of it is real motion (a scene that
#: deforms everywhere: synthetic ripples read 0.1-0.5), and shrinking it would hide misalignment.
#: Measured: the cap costs the hard sets ~0.003 px of mean error and keeps the ripple set as
#: accurate as without any shrinkage
MAX_NOISE_POWER = 0.05


def smooth_flow(flow: np.ndarray, sigma: float, weight: np.ndarray | None = None,
                min_support: float = 0.02) -> np.ndarray:
    """Smooth each flow component over ``sigma`` pixels.

    With ``weight`` (h, w) in [0, 1] this is a normalized convolution: each result is the
    weight-averaged flow nearby, so flat areas (where any estimator guesses) take the flow of their
    textured surroundings; where the nearby weight is below ``min_support`` the result is NaN.
    """
    k = 2 * stack_radius(max(sigma, 0.5)) + 1
    if weight is None:
        return cv2.stackBlur(flow, (k, k))
    w = weight.astype(np.float32)
    stack = cv2.stackBlur(np.dstack([flow[..., 0] * w, flow[..., 1] * w, w]), (k, k))
    den = stack[..., 2:3]
    out = stack[..., :2] / np.maximum(den, np.float32(1e-6))
    out[den[..., 0] < min_support] = np.nan
    return out


def _affine_fits(r: np.ndarray, w: np.ndarray, n: int) -> np.ndarray:
    """Per patch, the weighted least-squares affine field (N, n * n, 2) of the flow ``r``
    (N, n * n, 2, zeros where unknown) with weights ``w`` (N, n * n, zeros where unknown).

    Sums along rows and columns, not matrix products: a multi-threaded BLAS on these small
    products costs ten times more on a busy machine.
    """
    c = ((np.arange(n) - (n - 1) / 2) / n).astype(np.float32)  # block coordinate of column / row
    w3 = w.reshape(-1, n, n)  # (N, row = y, column = x)
    by_x, by_y = w3.sum(axis=1), w3.sum(axis=2)  # (N, n): weight per column, per row
    s0, sx, sy = by_x.sum(axis=1), by_x @ c, by_y @ c
    sxx, syy, sxy = by_x @ (c * c), by_y @ (c * c), (w3 @ c) @ c
    normal = np.stack([np.stack([s0, sx, sy], -1), np.stack([sx, sxx, sxy], -1), np.stack([sy, sxy, syy], -1)],
                      axis=1).astype(np.float64) + 1e-9 * np.eye(3)  # (N, 3, 3)
    rhs = np.empty((len(w3), 3, 2))
    for k in (0, 1):
        v = w3 * r[..., k].reshape(w3.shape)
        v_x, v_y = v.sum(axis=1), v.sum(axis=2)
        rhs[:, 0, k], rhs[:, 1, k], rhs[:, 2, k] = v_y.sum(axis=1), v_x @ c, v_y @ c
    coef = np.linalg.solve(normal, rhs).astype(np.float32)  # (N, 3, 2): offset, d/dx, d/dy
    fit = np.empty((len(w3), n, n, 2), np.float32)
    for k in (0, 1):
        fit[..., k] = (coef[:, 0, k, None, None] + coef[:, 1, k, None, None] * c[None, None, :]
                       + coef[:, 2, k, None, None] * c[None, :, None])
    return fit.reshape(r.shape)


def _denoise(r: np.ndarray, w: np.ndarray, n: int, measured: np.ndarray) -> tuple[np.ndarray, float]:
    """The residual flow blocks ``r`` (N, n * n, 2; NaN: unknown) with the noise of their non-affine
    part shrunk away (see the module's notes), and the noise power used; ``w`` (N, n * n) weights,
    ``measured`` (N,) bool says which patches may inform the noise estimate."""
    unknown = np.isnan(r[..., 0])
    if unknown.any():
        w = np.where(unknown, np.float32(0), w)
        r = np.where(unknown[..., None], np.float32(0), r)
    fit = _affine_fits(r, w, n)
    rest = r - fit
    total = w.sum(axis=1)
    power = (w * (rest[..., 0] ** 2 + rest[..., 1] ** 2)).sum(axis=1) / np.maximum(total, 1e-9)  # (N,) px^2
    usable = measured & (total > 0)
    if usable.sum() < MIN_NOISE_PATCHES:
        out = r
    else:
        noise = min(NOISE_FACTOR * float(np.percentile(power[usable], NOISE_PERCENTILE)), MAX_NOISE_POWER)
        gain = np.clip(1.0 - noise / np.maximum(power, 1e-12), 0.0, 1.0).astype(np.float32)
        rest *= gain[:, None, None]
        out = fit + rest
    if unknown.any():
        out[unknown] = np.nan
    return out, (0.0 if usable.sum() < MIN_NOISE_PATCHES else noise)


def patch_flow_stats(flow: np.ndarray, scale: float, positions: np.ndarray, patch_size: int,
                     offsets: np.ndarray, weight: np.ndarray | None = None, *,
                     denoise: np.ndarray | None = None) -> PatchFlowStats:
    """Residual-flow statistics of every patch.

    ``flow`` (h, w, 2) is sampled at ``scale`` x the phone frame but holds phone-frame pixels
    (NaN where unknown); ``offsets`` (N, 2) are the patches' NCC offsets (dx, dy); ``weight``
    (h, w) weights the mean, and the p95 is taken over pixels of weight >= 0.5 where a patch has
    enough of them.  ``denoise`` (N,) bool: shrink the flow's noise away (module notes), with the
    noise power estimated from the patches marked True (those the aligner can measure).
    """
    magnitude = np.full(flow.shape[:2], np.nan, np.float32)
    n_patches = len(positions)
    if n_patches == 0:
        empty = np.zeros(0, np.float32)
        return PatchFlowStats(empty, empty, magnitude)
    lat = Lattice.of(positions, patch_size, scale)
    n, pixels = lat.n, lat.n * lat.n
    r = lat.blocks(flow).astype(np.float32) - offsets.astype(np.float32)[:, None, :]  # (N, n*n, 2)
    wb = np.ones((n_patches, pixels), np.float32) if weight is None else lat.blocks(weight).astype(np.float32)
    noise = 0.0
    if denoise is not None:
        r, noise = _denoise(r, wb, n, np.asarray(denoise, bool))
    blocks = np.sqrt(r[..., 0] ** 2 + r[..., 1] ** 2)  # (N, n*n), NaN where unknown
    grid = np.full((lat.rows, lat.cols, n, n), np.nan, np.float32)
    grid[lat.ri, lat.ci] = blocks.reshape(n_patches, n, n)
    lat.view(magnitude)[...] = np.moveaxis(grid, 2, 1)
    known = ~np.isnan(blocks)
    w = np.where(known, wb, np.float32(0))
    values = np.where(known, blocks, np.float32(0))
    total = w.sum(axis=1, dtype=np.float64)
    plain = values.sum(axis=1, dtype=np.float64) / np.maximum(known.sum(axis=1), 1)
    mean = np.where(total > 1e-6, (values * w).sum(axis=1, dtype=np.float64) / np.maximum(total, 1e-6), plain)
    trusted = w >= 0.5
    enough = trusted.mean(axis=1) >= 0.1
    p95 = _percentile(blocks, np.where(enough[:, None], trusted, known), 95)
    return PatchFlowStats(mean.astype(np.float32), p95.astype(np.float32), magnitude, noise)


def _percentile(values: np.ndarray, mask: np.ndarray, q: float) -> np.ndarray:
    """Per row of ``values`` (N, M), the ``q``-th percentile of the entries where ``mask`` holds
    (nearest rank; 0 for a row with none)."""
    ranked = np.sort(np.where(mask, values, np.inf), axis=1)
    count = mask.sum(axis=1)
    idx = np.clip(np.rint(q / 100 * (count - 1)), 0, values.shape[1] - 1).astype(np.intp)
    out = ranked[np.arange(len(values)), idx]
    return np.where(count > 0, out, 0.0)


def patch_means(values: np.ndarray, scale: float, positions: np.ndarray, patch_size: int) -> np.ndarray:
    """Mean of a 2-D map over every patch (map sampled at ``scale`` of the phone frame)."""
    if len(positions) == 0:
        return np.zeros(0, np.float32)
    return Lattice.of(positions, patch_size, scale).blocks(values).mean(axis=1).astype(np.float32)


def patch_texture(tensor: tuple[np.ndarray, np.ndarray, np.ndarray], scale: float, positions: np.ndarray,
                  patch_size: int) -> np.ndarray:
    """Texture strength per patch: sqrt of the smaller eigenvalue of the patch's structure tensor.

    ``tensor`` = (gx^2, gy^2, gx*gy) maps at ``scale`` (grey levels per phone px, squared); near 0
    for flat patches and for patches with edges in one direction only (where motion along the
    edge cannot be measured).
    """
    if len(positions) == 0:
        return np.zeros(0, np.float32)
    jxx, jyy, jxy = (patch_means(a, scale, positions, patch_size).astype(np.float64) for a in tensor)
    lam = (jxx + jyy) / 2 - np.sqrt(((jxx - jyy) / 2) ** 2 + jxy ** 2)
    return np.sqrt(np.maximum(lam, 0)).astype(np.float32)


def downscale_heatmap(magnitude: np.ndarray, to_scale: float, phone_size: tuple[int, int]) -> np.ndarray:
    """Area-average a NaN-masked map to ``to_scale`` of the phone frame (float32).

    A heatmap pixel is NaN unless at least half of its area was measured.
    """
    w, h = phone_size
    size = (max(1, int(round(w * to_scale))), max(1, int(round(h * to_scale))))
    valid = np.isfinite(magnitude)
    values = np.where(valid, magnitude, 0).astype(np.float32)
    cover = valid.astype(np.float32)
    if size != (magnitude.shape[1], magnitude.shape[0]):
        values = cv2.resize(values, size, interpolation=cv2.INTER_AREA)
        cover = cv2.resize(cover, size, interpolation=cv2.INTER_AREA)
    with np.errstate(invalid="ignore", divide="ignore"):
        result = values / cover
    result[cover < 0.5] = np.nan
    return result.astype(np.float32)
