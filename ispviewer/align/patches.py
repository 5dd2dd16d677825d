"""Patches: a grid over the phone frame and each patch's best NCC match in the aligned target."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ispviewer.align.geometry import inside_convex


def patch_grid(phone_size: tuple[int, int], patch_size: int, footprint: np.ndarray | None = None,
               margin: float = 0.0, align: int = 2) -> np.ndarray:
    """Top-left corners (N, 2) int of the non-overlapping patches, row-major.

    The grid is about centred in the phone frame, its origin a multiple of ``align`` (even keeps
    the Bayer phase; a multiple of 4 also puts patches on whole pixels of a quarter-scale map).
    With a ``footprint`` (the target's outline in the phone frame) only patches whose square,
    grown by ``margin``, lies fully inside it are kept.
    """
    if patch_size < 2 or patch_size % 2:
        raise ValueError(f"patch size must be even and >= 2, got {patch_size}")
    if align < 1 or align % 2:
        raise ValueError(f"align must be even, got {align}")
    w, h = phone_size
    nx, ny = w // patch_size, h // patch_size
    if nx == 0 or ny == 0:
        return np.zeros((0, 2), np.int64)
    x0 = (w - nx * patch_size) // 2 // align * align
    y0 = (h - ny * patch_size) // 2 // align * align
    ys, xs = np.mgrid[0:ny, 0:nx]
    pos = np.stack([x0 + xs.ravel() * patch_size, y0 + ys.ravel() * patch_size], axis=1).astype(np.int64)
    if footprint is None:
        return pos
    keep = np.ones(len(pos), bool)
    for cx, cy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        corners = pos + np.array([cx, cy]) * (patch_size - 1) + (np.array([cx, cy]) * 2 - 1) * margin
        keep &= inside_convex(footprint, corners, 0.0)
    return pos[keep]


def subpixel_peak(score: np.ndarray, interior_only: bool = False) -> tuple[float, float, float] | None:
    """(x, y, value) of the maximum of a score map, refined by a parabola per axis.

    An axis whose peak lies on the map's border is not refined; with ``interior_only`` such a
    peak (the best match may lie beyond the search range) gives None instead.
    """
    _, best, _, (px, py) = cv2.minMaxLoc(score)
    h, w = score.shape
    inside_x, inside_y = 0 < px < w - 1, 0 < py < h - 1
    if interior_only and not (inside_x and inside_y):
        return None
    ox = _vertex(score[py, px - 1], score[py, px], score[py, px + 1]) if inside_x else 0.0
    oy = _vertex(score[py - 1, px], score[py, px], score[py + 1, px]) if inside_y else 0.0
    return px + ox, py + oy, float(best)


def _vertex(a: float, b: float, c: float) -> float:
    """Offset of the vertex of the parabola through (-1, a), (0, b), (1, c), within +-0.5."""
    den = a - 2 * b + c
    return 0.0 if den >= 0 else float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))


@dataclass(frozen=True)
class PatchMatches:
    """Every patch's best NCC match: offsets (N, 2) float32 (dx, dy), peak NCC (N,) float32,
    ``at_edge`` (N,) bool — the best score lay on the border of the final search range, so the
    true match may lie beyond it — and ``widened`` (N,) bool — found by the wide search."""

    offsets: np.ndarray
    ncc: np.ndarray
    at_edge: np.ndarray
    widened: np.ndarray


def _window(aligned: np.ndarray, origin: tuple[int, int], x: int, y: int, size: int, radius: int) -> np.ndarray:
    wy, wx = y - radius - origin[1], x - radius - origin[0]
    win = aligned[wy:wy + size + 2 * radius, wx:wx + size + 2 * radius]
    if wy < 0 or wx < 0 or win.shape[:2] != (size + 2 * radius,) * 2:
        raise ValueError(f"search window of patch ({x}, {y}) leaves the rendered aligned target")
    return win


def _peak(score: np.ndarray) -> tuple[float, float, float, bool]:
    """(x, y, value, on the border) of a score map's sub-pixel maximum."""
    sx, sy, best = subpixel_peak(score)
    h, w = score.shape
    edge = not (0 < round(sx) < w - 1 and 0 < round(sy) < h - 1)
    return sx, sy, best if np.isfinite(best) else 0.0, edge


def search_patches(phone: np.ndarray, aligned: np.ndarray, origin: tuple[int, int], positions: np.ndarray,
                   patch_size: int, radius: int, wide_radius: int = 0, coarse: int = 4) -> PatchMatches:
    """Best NCC offset of every phone patch in the aligned target.

    Every patch is searched within +-``radius`` px at full resolution (the common case: the
    homography predicts the match to a few px).  A patch whose best score lies on the border of
    that range — a near object displaced by parallax, a moved thing — is searched again coarse to
    fine: within +-``wide_radius`` px on both images area-downscaled ``coarse`` times, then at full
    resolution within +-``coarse`` px around the coarse estimate; the wide result replaces the first
    when its NCC is higher.  ``aligned`` is the aligned target rendered over phone-frame pixels
    starting at ``origin`` (x, y), at least ``max(radius, wide_radius + coarse)`` px beyond every
    searched patch.
    """
    if wide_radius > radius and patch_size // coarse < 8:
        wide_radius = 0  # too few coarse pixels to match
    n = len(positions)
    offsets = np.zeros((n, 2), np.float32)
    ncc = np.zeros(n, np.float32)
    at_edge = np.zeros(n, bool)
    widened = np.zeros(n, bool)
    for k in range(n):
        x, y = int(positions[k, 0]), int(positions[k, 1])
        tpl = phone[y:y + patch_size, x:x + patch_size]
        sx, sy, best, edge = _peak(cv2.matchTemplate(_window(aligned, origin, x, y, patch_size, radius), tpl,
                                                     cv2.TM_CCOEFF_NORMED))
        offsets[k], ncc[k], at_edge[k] = (sx - radius, sy - radius), best, edge
    todo = np.flatnonzero(at_edge) if wide_radius > radius else []
    if len(todo):
        small_phone, small_aligned = (cv2.resize(img, (img.shape[1] // coarse, img.shape[0] // coarse),
                                                 interpolation=cv2.INTER_AREA) for img in (phone, aligned))
        c_size, c_radius = patch_size // coarse, -(-wide_radius // coarse)
        for k in todo:
            x, y = int(positions[k, 0]), int(positions[k, 1])
            # coarse px c covers phone px c * coarse ... (c + 1) * coarse - 1, in either image
            cx, cy = x // coarse, y // coarse
            ox, oy = origin[0] - origin[0] // coarse * coarse, origin[1] - origin[1] // coarse * coarse
            tpl = small_phone[cy:cy + c_size, cx:cx + c_size]
            win = _window(small_aligned, (origin[0] // coarse, origin[1] // coarse), cx, cy, c_size, c_radius)
            gx, gy, _, _ = _peak(cv2.matchTemplate(win, tpl, cv2.TM_CCOEFF_NORMED))
            # the coarse offset in phone px (the two coarse grids' blocks start ox, oy phone px apart)
            gx = (gx - c_radius) * coarse + ox
            gy = (gy - c_radius) * coarse + oy
            ix, iy = int(round(gx)), int(round(gy))
            win = _window(aligned, origin, x + ix, y + iy, patch_size, coarse)
            sx, sy, best, edge = _peak(cv2.matchTemplate(win, phone[y:y + patch_size, x:x + patch_size],
                                                         cv2.TM_CCOEFF_NORMED))
            dx, dy = sx - coarse + ix, sy - coarse + iy
            if best > ncc[k]:
                offsets[k], ncc[k], widened[k] = (dx, dy), best, True
                at_edge[k] = edge or max(abs(dx), abs(dy)) > wide_radius
    return PatchMatches(offsets, ncc, at_edge, widened)


def match_patches(phone: np.ndarray, aligned: np.ndarray, origin: tuple[int, int], positions: np.ndarray,
                  patch_size: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Best NCC offset of every phone patch in the aligned target, within +-``radius`` px.

    ``aligned`` is the aligned target rendered over phone-frame pixels starting at ``origin``
    (x, y) — typically (-m, -m) with m > radius, so that border patches can be searched.  Returns
    offsets (N, 2) float32 (dx, dy) — the match is the square at (x + dx, y + dy) — and the peak
    NCC (N,) float32.  (:func:`search_patches` also widens the search where needed.)
    """
    found = search_patches(phone, aligned, origin, positions, patch_size, radius)
    return found.offsets, found.ncc
