"""Patches: a grid over the phone frame and each patch's best NCC match in the aligned target."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from ispviewer.align.geometry import inside_convex


def patch_grid(phone_size: tuple[int, int], patch_size: int, footprint: np.ndarray | None = None,
               margin: float = 0.0) -> np.ndarray:
    """Top-left corners (N, 2) int of the non-overlapping patches, row-major.

    The grid is centred in the phone frame with even x and y (the Bayer phase is kept).  With a
    ``footprint`` (the target's outline in the phone frame) only patches whose square, grown by
    ``margin``, lies fully inside it are kept.
    """
    if patch_size < 2 or patch_size % 2:
        raise ValueError(f"patch size must be even and >= 2, got {patch_size}")
    w, h = phone_size
    nx, ny = w // patch_size, h // patch_size
    if nx == 0 or ny == 0:
        return np.zeros((0, 2), np.int64)
    x0 = ((w - nx * patch_size) // 2) & ~1
    y0 = ((h - ny * patch_size) // 2) & ~1
    ys, xs = np.mgrid[0:ny, 0:nx]
    pos = np.stack([x0 + xs.ravel() * patch_size, y0 + ys.ravel() * patch_size], axis=1).astype(np.int64)
    if footprint is None:
        return pos
    keep = np.ones(len(pos), bool)
    for cx, cy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        corners = pos + np.array([cx, cy]) * (patch_size - 1) + (np.array([cx, cy]) * 2 - 1) * margin
        keep &= inside_convex(footprint, corners, 0.0)
    return pos[keep]


def _subpixel(score: np.ndarray) -> tuple[float, float, float]:
    """(x, y, peak NCC) with a parabola fit per axis where the peak has neighbours."""
    _, best, _, (px, py) = cv2.minMaxLoc(score)
    h, w = score.shape
    ox = oy = 0.0
    if 0 < px < w - 1:
        a, b, c = score[py, px - 1], score[py, px], score[py, px + 1]
        den = a - 2 * b + c
        if den < 0:
            ox = float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))
    if 0 < py < h - 1:
        a, b, c = score[py - 1, px], score[py, px], score[py + 1, px]
        den = a - 2 * b + c
        if den < 0:
            oy = float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))
    return px + ox, py + oy, float(best)


def match_patches(phone: np.ndarray, aligned: np.ndarray, origin: tuple[int, int], positions: np.ndarray,
                  patch_size: int, radius: int, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
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
        sx, sy, best = _subpixel(score)
        offsets[k] = (sx - radius, sy - radius)
        ncc[k] = best if np.isfinite(best) else 0.0

    if threads > 1 and n > 16:
        with ThreadPoolExecutor(threads) as pool:  # matchTemplate releases the GIL
            list(pool.map(one, range(n)))
    else:
        for k in range(n):
            one(k)
    return offsets, ncc
