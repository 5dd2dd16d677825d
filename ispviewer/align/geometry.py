"""Small pieces of projective geometry shared by the aligner's modules.

Conventions: points are (x, y) with x the column; pixel centres sit at integer coordinates; the
homography ``H`` maps Nikon target pixels to phone-frame pixels (``x_phone ~ H @ x_target``).
"""

from __future__ import annotations

import cv2
import numpy as np


def apply_homography(H: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Map (N, 2) points through H; returns float64 (N, 2) (inf where a point maps to infinity)."""
    pts = np.asarray(pts, np.float64).reshape(-1, 2)
    hom = pts @ H[:, :2].T + H[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        return hom[:, :2] / hom[:, 2:3]


def resize_matrix(src_size: tuple[int, int], dst_size: tuple[int, int]) -> np.ndarray:
    """3x3 map from source pixels to the pixels of ``cv2.resize(src, dst_size)`` (sizes are (w, h)).

    cv2.resize (INTER_AREA and INTER_LINEAR alike) puts the centre of destination pixel ``u`` at
    source position ``(u + 0.5) * s - 0.5`` with ``s = src / dst``.
    """
    sx = src_size[0] / dst_size[0]
    sy = src_size[1] / dst_size[1]
    return np.array([[1 / sx, 0, 0.5 / sx - 0.5], [0, 1 / sy, 0.5 / sy - 0.5], [0, 0, 1]], np.float64)


def translation(tx: float, ty: float) -> np.ndarray:
    return np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]], np.float64)


def jacobian(H: np.ndarray, pt: tuple[float, float]) -> np.ndarray:
    """2x2 Jacobian of the map x -> H x at ``pt``."""
    x, y = pt
    u, v, w = H @ np.array([x, y, 1.0])
    j = np.empty((2, 2))
    for col in range(2):
        j[0, col] = (H[0, col] * w - u * H[2, col]) / (w * w)
        j[1, col] = (H[1, col] * w - v * H[2, col]) / (w * w)
    return j


def local_scale(H: np.ndarray, pt: tuple[float, float]) -> float:
    """Linear scale of H at ``pt`` (sqrt of the Jacobian's |determinant|)."""
    return float(np.sqrt(abs(np.linalg.det(jacobian(H, pt)))))


def target_footprint(H: np.ndarray, target_size: tuple[int, int]) -> np.ndarray | None:
    """The target's outline in the phone frame, (4, 2) float64, or None if it does not map to a
    proper convex quadrilateral (a corner at or behind infinity, or a fold)."""
    w, h = target_size
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float64)
    den = corners @ H[2, :2] + H[2, 2]
    if np.any(den <= 0):
        return None
    quad = apply_homography(H, corners)
    if not np.all(np.isfinite(quad)):
        return None
    edges = np.roll(quad, -1, axis=0) - quad
    cross = edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1] - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
    if not (np.all(cross > 0) or np.all(cross < 0)):
        return None
    return quad


def quad_overlap_fraction(quad: np.ndarray, frame_size: tuple[int, int]) -> float:
    """Fraction of the frame's area that the convex ``quad`` covers."""
    w, h = frame_size
    frame = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    q = quad.astype(np.float32)
    if cv2.contourArea(q, oriented=True) < 0:
        q = q[::-1].copy()
    area, _ = cv2.intersectConvexConvex(q, frame)
    return float(max(area, 0.0) / ((w - 1) * (h - 1)))


def inside_convex(quad: np.ndarray, pts: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Boolean per point: inside the convex ``quad`` by at least ``margin`` pixels."""
    q = quad if cv2.contourArea(quad.astype(np.float32), oriented=True) > 0 else quad[::-1]
    pts = np.asarray(pts, np.float64).reshape(-1, 2)
    ok = np.ones(len(pts), bool)
    for a, b in zip(q, np.roll(q, -1, axis=0)):
        e = b - a
        n = np.hypot(*e)
        # signed distance to the edge line, positive inside for a counter-clockwise (y-down) quad
        d = (e[0] * (pts[:, 1] - a[1]) - e[1] * (pts[:, 0] - a[0])) / n
        ok &= d >= margin
    return ok
