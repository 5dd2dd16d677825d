"""Where the Nikon and the phone see the same scene point: the true homography and parallax.

Contract (what the ground truth promises): the scene point seen at phone pixel ``p`` is seen in the
Nikon image at ``t_true(p) = H^-1(p + D(p))``, where ``H`` maps Nikon target pixels to phone pixels
and ``D`` is a displacement field in phone pixels: a smooth part (think parallax the homography
cannot model, made here) plus local motions (:mod:`.local_motion`).  ``D`` is defined by a grid
and :func:`sample_displacement`, which rendering and the ground-truth loader both use, so the
stored ground truth is exactly the one rendered.
"""

from __future__ import annotations

import cv2
import numpy as np

#: spacing (phone pixels) of the stored displacement grid
DISP_STEP = 8
#: the largest displacement magnitude (phone pixels)
DISP_MAX = 2.0
#: fixed-point iterations used to invert ``p + D(p) = q`` when rendering the target: at least
#: SOLVE_ITERATIONS everywhere (the smooth field, |grad D| < 0.06, is solved to 1e-4 px by then),
#: then more where the last step still moved a point by over SOLVE_TOLERANCE (local motions are
#: steeper, |grad D| <= 0.7), up to SOLVE_MAX_ITERATIONS
SOLVE_ITERATIONS = 4
SOLVE_TOLERANCE = 1e-4
SOLVE_MAX_ITERATIONS = 64

#: share of the frame where D is exactly zero; D > 1.2 px then covers about 22% of it
_STILL_SHARE = 0.5
_REMAP_MAX = 16384  # cv2.remap needs both sides of its maps below 32767
_BAND = 256  # target rows solved at a time


def apply_homography(h: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map points (x, y) by the 3x3 homography ``h`` (float64 arithmetic)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    return (h[0, 0] * x + h[0, 1] * y + h[0, 2]) / w, (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / w


# --------------------------------------------------------------------------- homography


def _centred_homography(phone_size, target_size, scale, angle, shift, tilt) -> np.ndarray:
    (w, h), (wt, ht) = phone_size, target_size
    to_centre = np.array([[1, 0, -(wt - 1) / 2], [0, 1, -(ht - 1) / 2], [0, 0, 1]], float)
    persp = np.array([[1, 0, 0], [0, 1, 0], [tilt[0] / (wt / 2), tilt[1] / (ht / 2), 1]], float)
    c, s = np.cos(angle), np.sin(angle)
    rot_scale = np.array([[scale * c, -scale * s, 0], [scale * s, scale * c, 0], [0, 0, 1]], float)
    to_phone = np.array([[1, 0, (w - 1) / 2 + shift[0]], [0, 1, (h - 1) / 2 + shift[1]], [0, 0, 1]], float)
    hom = to_phone @ rot_scale @ persp @ to_centre
    return hom / hom[2, 2]


def make_homography(rng: np.random.Generator, phone_size: tuple[int, int],
                    target_size: tuple[int, int]) -> np.ndarray:
    """A Nikon -> phone homography: a slightly wider view, a small rotation, a little perspective.

    The phone frame (plus a few pixels for the displacement field) always lies inside the Nikon image.
    """
    w, h = phone_size
    wt, ht = target_size
    corners = np.array([[-4, -4], [w + 3, -4], [w + 3, h + 3], [-4, h + 3]], float)
    for attempt in range(64):
        damp = 0.5 ** (attempt // 16)  # shrink the perturbations if the draws keep failing
        wider = 1.0 + rng.uniform(0.06, 0.10)
        angle = np.deg2rad(rng.uniform(0.4, 1.8) * rng.choice([-1.0, 1.0]) * damp)
        shift = rng.uniform(-0.005, 0.005, 2) * (w, h) * damp
        tilt = rng.uniform(-0.012, 0.012, 2) * damp
        hom = _centred_homography(phone_size, target_size, wider * w / wt, angle, shift, tilt)
        xt, yt = apply_homography(np.linalg.inv(hom), corners[:, 0], corners[:, 1])
        if xt.min() >= 2 and yt.min() >= 2 and xt.max() <= wt - 3 and yt.max() <= ht - 3:
            return hom
    return _centred_homography(phone_size, target_size, 1.08 * w / wt, 0.0, (0.0, 0.0), (0.0, 0.0))


# --------------------------------------------------------------------------- displacement field


def displacement_grid_shape(phone_size: tuple[int, int], step: int = DISP_STEP) -> tuple[int, int]:
    """(rows, cols) of a grid whose samples at (i*step, j*step) cover the phone frame."""
    w, h = phone_size
    return (h - 1) // step + 2, (w - 1) // step + 2


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], cells: tuple[int, int]) -> np.ndarray:
    """A smooth random field of ``shape`` with about ``cells`` (rows, cols) features, unit std."""
    coarse = rng.normal(size=cells).astype(np.float32)
    field = cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    field -= field.mean()
    return field / max(float(field.std()), 1e-6)


def make_displacement_grid(rng: np.random.Generator, phone_size: tuple[int, int],
                           step: int = DISP_STEP) -> np.ndarray:
    """The displacement field D (dx, dy) sampled every ``step`` phone pixels, float32 (rows, cols, 2).

    Magnitudes run from 0 (half of the frame) up to ``DISP_MAX`` px; the direction turns
    slowly, so a 128-px patch sees a nearly uniform shift.
    """
    shape = displacement_grid_shape(phone_size, step)
    w, h = phone_size
    cells = (4, 5) if w >= h else (5, 4)
    level = _smooth_field(rng, shape, cells)
    # rank-normalize, so that the share of the frame above any magnitude is the same every time
    rank = np.searchsorted(np.sort(level, axis=None), level).astype(np.float32) / level.size
    s = np.clip((rank - _STILL_SHARE) / (1.0 - _STILL_SHARE), 0.0, 1.0)
    magnitude = DISP_MAX * s * s * (3.0 - 2.0 * s)
    angle = rng.uniform(0.0, 2 * np.pi) + 1.2 * _smooth_field(rng, shape, (2, 3))
    grid = np.stack([magnitude * np.cos(angle), magnitude * np.sin(angle)], axis=-1)
    return np.ascontiguousarray(grid, dtype=np.float32)


def _cell_coefficients(grid: np.ndarray) -> list[np.ndarray]:
    """Per grid cell, D = a + b*fx + c*fy + d*fx*fy: planes a_x, a_y, b_x, b_y, c_x, c_y, d_x, d_y."""
    g00, g01, g10, g11 = grid[:-1, :-1], grid[:-1, 1:], grid[1:, :-1], grid[1:, 1:]
    coef = (g00, g01 - g00, g10 - g00, g11 - g01 - g10 + g00)
    return [np.ascontiguousarray(c[..., k], dtype=np.float32) for c in coef for k in (0, 1)]


def _as_maps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2-D float32 arrays cv2.remap accepts (both sides below 32767)."""
    if x.ndim == 2 and max(x.shape) < 32767:
        return x.astype(np.float32), y.astype(np.float32)
    n = x.size
    rows = max(1, -(-n // _REMAP_MAX))
    mx = np.zeros(rows * _REMAP_MAX, np.float32)
    my = np.zeros(rows * _REMAP_MAX, np.float32)
    mx[:n] = x.ravel()
    my[:n] = y.ravel()
    return mx.reshape(rows, _REMAP_MAX), my.reshape(rows, _REMAP_MAX)


def sample_displacement(grid: np.ndarray, step: int, x, y) -> tuple[np.ndarray, np.ndarray]:
    """D at phone-frame points (x, y): bilinear between grid samples, constant beyond the grid.

    The one definition of D, used both to render the target and to read the ground truth back.
    Exact bilinear interpolation in float32 (cv2.remap's own INTER_LINEAR rounds positions to
    1/32 of a cell, which would make D a staircase); returns float32 arrays shaped like ``x``.
    """
    return _sample(_cell_coefficients(grid), grid.shape[:2], step, x, y)


def _sample(planes: list[np.ndarray], grid_shape: tuple[int, int], step: int, x, y):
    x = np.asarray(x, dtype=np.float32)
    shape = x.shape
    gh, gw = grid_shape
    u, v = _as_maps(x, np.asarray(y, dtype=np.float32))
    inv = np.float32(1.0 / step)
    u = np.clip(u * inv, 0, gw - 1)
    v = np.clip(v * inv, 0, gh - 1)
    cu = np.minimum(np.floor(u), np.float32(gw - 2))  # cell indices (integer-valued floats)
    cv = np.minimum(np.floor(v), np.float32(gh - 2))
    u -= cu  # fractions within the cell, in [0, 1]
    v -= cv
    coef = [cv2.remap(p, cu, cv, cv2.INTER_NEAREST) for p in planes]
    out = []
    for k in (0, 1):
        a, b, c, d = coef[k], coef[2 + k], coef[4 + k], coef[6 + k]
        d *= v
        b += d
        b *= u
        c *= v
        a += b
        a += c
        out.append(a.ravel()[: x.size].reshape(shape) if a.shape != shape else a)
    return out[0], out[1]


def phone_positions_of_target(hom: np.ndarray, grid: np.ndarray, step: int,
                              target_size: tuple[int, int],
                              iterations: int = SOLVE_ITERATIONS) -> tuple[np.ndarray, np.ndarray]:
    """For every Nikon pixel t, the phone-frame point p it sees: p + D(p) = H(t), float32 (Ht, Wt).

    Solved by the fixed-point iteration p <- H(t) - D(p): ``iterations`` steps everywhere, then
    further steps only for the points that still move (until SOLVE_TOLERANCE).
    """
    wt, ht = target_size
    planes = _cell_coefficients(grid)
    px = np.empty((ht, wt), np.float32)
    py = np.empty((ht, wt), np.float32)
    tx = np.arange(wt, dtype=np.float64)[None, :]
    for y0 in range(0, ht, _BAND):  # row bands: small temporaries, cache-friendly
        ty = np.arange(y0, min(ht, y0 + _BAND), dtype=np.float64)[:, None]
        qx, qy = apply_homography(hom, tx, ty)
        qx, qy = qx.astype(np.float32), qy.astype(np.float32)
        bx, by = qx, qy
        for k in range(max(1, iterations)):
            dx, dy = _sample(planes, grid.shape[:2], step, bx, by)
            if k == max(1, iterations) - 1:
                moved = _unsettled(qx - dx - bx, qy - dy - by, qx, qy)
            bx, by = qx - dx, qy - dy
        bx, by = _finish(planes, grid.shape[:2], step, qx, qy, bx, by, moved, max(1, iterations))
        px[y0:y0 + len(ty)] = bx
        py[y0:y0 + len(ty)] = by
    return px, py


def _unsettled(step_x: np.ndarray, step_y: np.ndarray, qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
    """Where a fixed-point step moved a point by more than the tolerance (or float32 rounding)."""
    tol = np.maximum(np.float32(SOLVE_TOLERANCE), 4 * np.spacing(np.maximum(np.abs(qx), np.abs(qy))))
    return np.maximum(np.abs(step_x), np.abs(step_y)) > tol


def _finish(planes, grid_shape, step, qx, qy, bx, by, unsettled, done: int):
    """(bx, by) with the points whose last step was over the tolerance iterated further."""
    active = np.flatnonzero(unsettled)
    if active.size == 0:
        return bx, by
    shape = bx.shape
    bxf, byf, qxf, qyf = bx.reshape(-1), by.reshape(-1), qx.reshape(-1), qy.reshape(-1)
    ax, ay, aqx, aqy = bxf[active], byf[active], qxf[active], qyf[active]
    for _ in range(done, SOLVE_MAX_ITERATIONS):
        dx, dy = _sample(planes, grid_shape, step, ax, ay)
        nx, ny = aqx - dx, aqy - dy
        still = _unsettled(nx - ax, ny - ay, aqx, aqy)
        bxf[active], byf[active] = nx, ny
        if not still.any():
            break
        active, ax, ay, aqx, aqy = active[still], nx[still], ny[still], aqx[still], aqy[still]
    return bxf.reshape(shape), byf.reshape(shape)
