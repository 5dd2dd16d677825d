"""Patches: a grid over the phone frame and each patch's best NCC match in the aligned target."""

from __future__ import annotations

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


def match_patches(phone: np.ndarray, aligned: np.ndarray, origin: tuple[int, int], positions: np.ndarray,
                  patch_size: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Best NCC offset of every phone patch in the aligned target, within +-``radius`` px.

    ``aligned`` is the aligned target rendered over phone-frame pixels starting at ``origin``
    (x, y) — typically (-m, -m) with m > radius, so that border patches can be searched.  Returns
    offsets (N, 2) float32 (dx, dy) — the match is the square at (x + dx, y + dy) — and the peak
    NCC (N,) float32.
    """
    ox, oy = origin
    n = len(positions)
    offsets = np.zeros((n, 2), np.float32)
    ncc = np.zeros(n, np.float32)

    def one(k: int) -> None:
        x, y = int(positions[k, 0]), int(positions[k, 1])
        tpl = phone[y:y + patch_size, x:x + patch_size]
        wy, wx = y - radius - oy, x - radius - ox
        win = aligned[wy:wy + patch_size + 2 * radius, wx:wx + patch_size + 2 * radius]
        if win.shape[:2] != (patch_size + 2 * radius,) * 2:
            raise ValueError(f"search window of patch ({x}, {y}) leaves the rendered aligned target")
        score = cv2.matchTemplate(win, tpl, cv2.TM_CCOEFF_NORMED)
        sx, sy, best = subpixel_peak(score)
        offsets[k] = (sx - radius, sy - radius)
        ncc[k] = best if np.isfinite(best) else 0.0

    for k in range(n):
        one(k)
    return offsets, ncc
