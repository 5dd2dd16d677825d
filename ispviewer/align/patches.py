"""Patches: a grid over the phone frame and each patch's best NCC match in the aligned target."""

from __future__ import annotations

import math
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
    den = a - 2 * b + c  # in the score map's own precision (float32)
    return 0.0 if den >= 0 else float(min(max(0.5 * (a - c) / den, -0.5), 0.5))  # not np.clip: 10x its cost here


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


def ncc_map(window: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Normalized cross-correlation (OpenCV's TM_CCOEFF_NORMED) of ``template`` at every position in
    ``window``.  Both are converted to float32 first: OpenCV correlates in float32 either way, and
    converting a window here costs less than its 8-bit path does (0.27 vs 0.47 ms for a 128 px patch
    searched +-8 px); the scores agree to ~1e-4."""
    return cv2.matchTemplate(window.astype(np.float32), template.astype(np.float32), cv2.TM_CCOEFF_NORMED)


def _peak(score: np.ndarray) -> tuple[float, float, float, bool]:
    """(x, y, value, on the border) of a score map's sub-pixel maximum."""
    sx, sy, best = subpixel_peak(score)
    h, w = score.shape
    edge = not (0 < round(sx) < w - 1 and 0 < round(sy) < h - 1)
    return sx, sy, best if math.isfinite(best) else 0.0, edge


def _shrink(image: np.ndarray, f: int) -> np.ndarray:
    return cv2.resize(image, (image.shape[1] // f, image.shape[0] // f), interpolation=cv2.INTER_AREA)


class _Levels:
    """The phone image and the aligned target, area-downscaled by powers of two on demand."""

    def __init__(self, phone: np.ndarray, aligned: np.ndarray, origin: tuple[int, int]):
        self.origin = origin
        self.images = {1: (phone, aligned)}

    def at(self, f: int) -> tuple[np.ndarray, np.ndarray]:
        if f not in self.images:
            half = self.at(f // 2)
            self.images[f] = (_shrink(half[0], 2), _shrink(half[1], 2))
        return self.images[f]

    def full(self, x: int, y: int, size: int, dx: int, dy: int, radius: int):
        """Full-resolution search of the patch at (x, y) within +-radius of the offset (dx, dy):
        (offset x, offset y, NCC, peak on the border)."""
        phone, aligned = self.images[1]
        win = _window(aligned, self.origin, x + dx, y + dy, size, radius)
        sx, sy, best, edge = _peak(ncc_map(win, phone[y:y + size, x:x + size]))
        return sx - radius + dx, sy - radius + dy, best, edge

    def coarse(self, x: int, y: int, size: int, radius: int, f: int) -> tuple[int, int, bool]:
        """Search within +-radius px on the images downscaled ``f`` times: (offset x, y rounded to
        whole phone px, peak on the border)."""
        phone, aligned = self.at(f)
        # coarse px c covers phone px c * f ... (c + 1) * f - 1 in either image; the two grids'
        # blocks start (ox, oy) phone px apart
        ox, oy = (o - o // f * f for o in self.origin)
        cx, cy, c_size, c_radius = x // f, y // f, size // f, -(-radius // f)
        win = _window(aligned, (self.origin[0] // f, self.origin[1] // f), cx, cy, c_size, c_radius)
        gx, gy, _, edge = _peak(ncc_map(win, phone[cy:cy + c_size, cx:cx + c_size]))
        return int(round((gx - c_radius) * f + ox)), int(round((gy - c_radius) * f + oy)), edge


def search_patches(phone: np.ndarray, aligned: np.ndarray, origin: tuple[int, int], positions: np.ndarray,
                   patch_size: int, radius: int, wide_radius: int = 0) -> PatchMatches:
    """Best NCC offset of every phone patch in the aligned target.

    Every patch is searched within +-``radius`` px at full resolution (the common case: the
    homography predicts the match to a few px).  A patch whose best score lies on the border
    of that range — a near object displaced by parallax, a moved thing — is searched again within
    +-``wide_radius`` px on the images downscaled 4x, then at full resolution within +-4 px; the
    wide result replaces the first when its NCC is higher.  ``aligned`` is the aligned target
    rendered over phone-frame pixels starting at ``origin`` (x, y), a multiple of 4, at least
    ``max(radius, wide_radius + 4)`` + 4 px beyond every searched patch.
    """
    levels = _Levels(phone, aligned, origin)
    if wide_radius > radius and patch_size // 4 < 8:
        wide_radius = 0  # too few coarse pixels to match
    n = len(positions)
    offsets = np.zeros((n, 2), np.float32)
    ncc = np.zeros(n, np.float32)
    at_edge = np.zeros(n, bool)
    widened = np.zeros(n, bool)
    for k in range(n):  # one full-resolution search (OpenCV's FFT correlation: cheaper than two levels)
        x, y = int(positions[k, 0]), int(positions[k, 1])
        dx, dy, best, edge = levels.full(x, y, patch_size, 0, 0, radius)
        offsets[k], ncc[k], at_edge[k] = (dx, dy), best, edge
    for k in (np.flatnonzero(at_edge) if wide_radius > radius else []):
        x, y = int(positions[k, 0]), int(positions[k, 1])
        ix, iy, coarse_edge = levels.coarse(x, y, patch_size, wide_radius, 4)
        dx, dy, best, edge = levels.full(x, y, patch_size, ix, iy, 4)
        if best > ncc[k]:
            offsets[k], ncc[k], widened[k] = (dx, dy), best, True
            at_edge[k] = coarse_edge or edge or max(abs(dx), abs(dy)) > wide_radius
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
