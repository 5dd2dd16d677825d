"""The aligned target: the Nikon image resampled into the phone frame without aliasing.

The Nikon has about twice the phone's pixels, so warping it directly with bilinear interpolation
would alias (false moire, crawling noise).  We first area-average it down to about the phone's
scale (``cv2.INTER_AREA``, a proper box prefilter), then warp that with the composed homography.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ispviewer.align.geometry import apply_homography, local_scale, resize_matrix, translation

#: prefilter only when the target is denser than the phone frame by more than this factor
PREFILTER_MIN_FACTOR = 1.05


@dataclass(frozen=True)
class PrefilteredTarget:
    """The target (or a crop of it) area-averaged down to about the phone scale."""

    image: np.ndarray  # uint8 (h, w) or (h, w, c)
    from_target: np.ndarray  # 3x3 affine: full-target pixel -> pixel of ``image``


def target_scale(H: np.ndarray, phone_size: tuple[int, int]) -> float:
    """Target pixels per phone pixel at the phone frame's centre."""
    return 1.0 / max(local_scale(H, _frame_centre_in_target(H, phone_size)), 1e-12)


def _frame_centre_in_target(H: np.ndarray, phone_size: tuple[int, int]) -> tuple[float, float]:
    w, h = phone_size
    c = apply_homography(np.linalg.inv(H), [[(w - 1) / 2, (h - 1) / 2]])[0]
    return float(c[0]), float(c[1])


def prefilter_target(target: np.ndarray, factor: float,
                     crop: tuple[int, int, int, int] | None = None) -> PrefilteredTarget:
    """Area-average ``target`` (or its ``crop`` = (x, y, w, h) in target pixels) by ``factor``."""
    x0, y0 = 0, 0
    if crop is not None:
        x0, y0, cw, ch = crop
        target = target[y0:y0 + ch, x0:x0 + cw]
    h, w = target.shape[:2]
    to_crop = translation(-x0, -y0)
    if factor <= PREFILTER_MIN_FACTOR:
        return PrefilteredTarget(np.ascontiguousarray(target), to_crop)
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    small = cv2.resize(target, size, interpolation=cv2.INTER_AREA)
    return PrefilteredTarget(small, resize_matrix((w, h), size) @ to_crop)


def warp_prefiltered(pre: PrefilteredTarget, H: np.ndarray, region: tuple[int, int, int, int], *,
                     interpolation: int = cv2.INTER_LINEAR, border_mode: int = cv2.BORDER_CONSTANT,
                     border_value: float = 0) -> np.ndarray:
    """Render the phone-frame rectangle ``region`` = (x, y, w, h) of the aligned target.

    Output pixel (i, j) shows phone-frame position (x + j, y + i); the region may extend beyond the
    phone frame.  Outside the target: ``border_value`` (or replicated edge pixels).
    """
    x, y, w, h = region
    M = translation(-x, -y) @ H @ _inverse_affine(pre.from_target)  # prefiltered px -> output px
    channels = 1 if pre.image.ndim == 2 else pre.image.shape[2]
    return cv2.warpPerspective(pre.image, M, (int(w), int(h)), flags=interpolation,
                               borderMode=border_mode, borderValue=(border_value,) * max(channels, 4))


def _inverse_affine(A: np.ndarray) -> np.ndarray:
    """Inverse of a 3x3 scale + translation matrix (what ``from_target`` always is)."""
    sx, sy = A[0, 0], A[1, 1]
    return np.array([[1 / sx, 0, -A[0, 2] / sx], [0, 1 / sy, -A[1, 2] / sy], [0, 0, 1.0]])


def _target_crop_for(H: np.ndarray, region: tuple[int, int, int, int], target_size: tuple[int, int],
                     factor: float) -> tuple[int, int, int, int] | None:
    """Target-pixel box (x, y, w, h) that the phone-frame ``region`` needs, or None if empty."""
    x, y, w, h = region
    # sample the region's border densely: a homography maps straight lines to straight lines, but
    # the bounding box of the corners is enough only when no corner maps near infinity.
    xs = np.linspace(x, x + w - 1, 5)
    ys = np.linspace(y, y + h - 1, 5)
    border = np.array([(u, v) for u in xs for v in ys])
    pts = apply_homography(np.linalg.inv(H), border)
    if not np.all(np.isfinite(pts)):
        return None
    pad = 2 * max(factor, 1.0) + 3
    tw, th = target_size
    x0 = int(max(np.floor(pts[:, 0].min() - pad), 0))
    y0 = int(max(np.floor(pts[:, 1].min() - pad), 0))
    x1 = int(min(np.ceil(pts[:, 0].max() + pad) + 1, tw))
    y1 = int(min(np.ceil(pts[:, 1].max() + pad) + 1, th))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1 - x0, y1 - y0


def warp_target_to_phone(target_rgb: np.ndarray, H: np.ndarray, phone_size: tuple[int, int],
                         region: tuple[int, int, int, int] | None = None, *,
                         interpolation: int = cv2.INTER_LINEAR, border_value: float = 0) -> np.ndarray:
    """The aligned target: ``target_rgb`` resampled into the phone frame through ``H``.

    ``phone_size`` is (width, height); ``region`` = (x, y, w, h) renders only that rectangle of the
    phone frame (only the target pixels it needs are touched, so small crops are cheap); x and y may
    be fractional, e.g. a patch's matched square at (x + dx, y + dy).  The target is area-averaged
    to the phone's scale first when it is denser, so nothing aliases.
    """
    H = np.asarray(H, np.float64)
    if region is None:
        region = (0, 0, int(phone_size[0]), int(phone_size[1]))
    factor = target_scale(H, phone_size)
    th, tw = target_rgb.shape[:2]
    crop = _target_crop_for(H, region, (tw, th), factor)
    if crop is None:
        shape = (region[3], region[2]) + target_rgb.shape[2:]
        return np.full(shape, border_value, dtype=target_rgb.dtype)
    pre = prefilter_target(target_rgb, factor, crop)
    return warp_prefiltered(pre, H, region, interpolation=interpolation, border_value=border_value)
