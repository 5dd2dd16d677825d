"""How misalignment is coloured over a photo (plain numpy: no Qt, safe in worker threads).

* Values below a *floor* (a setting, px) are fully transparent, so a well-aligned real photo is
  shown as it is, not tinted all over; from the floor up the colour fades in and is opaque from the
  threshold on.
* The colour scale runs blue → violet → magenta → pale pink.  It holds no yellow, red or green, the
  hues of the patch outlines (flagged, rejected, accepted), so a flagged patch is never confused
  with a strongly misaligned area: outlines are status, fills are misalignment.
"""

from __future__ import annotations

import numpy as np

#: (position on [0, 1] of the scale, RGB) stops of the heatmap's colour scale.
STOPS = (
    (0.00, (48, 104, 255)),
    (0.35, (120, 76, 255)),
    (0.50, (184, 56, 255)),
    (0.75, (255, 56, 224)),
    (1.00, (255, 214, 250)),
)
#: Misalignment (px) below which the heatmap is transparent, unless the user chose another floor.
DEFAULT_FLOOR_PX = 0.5
#: Opacity of the heatmap just above the floor (it reaches 1 at the threshold).
ALPHA_AT_FLOOR = 0.35
LUT_SIZE = 256


def colour_table(size: int = LUT_SIZE) -> np.ndarray:
    """(size, 3) uint8 RGB of the colour scale, interpolated linearly between :data:`STOPS`."""
    pos = np.array([p for p, _ in STOPS])
    rgb = np.array([c for _, c in STOPS], np.float64)
    x = np.linspace(0.0, 1.0, size)
    table = np.stack([np.interp(x, pos, rgb[:, c]) for c in range(3)], axis=1)
    return np.ascontiguousarray(np.round(table).astype(np.uint8))


def opacity(values: np.ndarray, floor_px: float, threshold_px: float) -> np.ndarray:
    """Opacity in [0, 1] of misalignment ``values`` (px): 0 below the floor (and for NaN), then a
    ramp from :data:`ALPHA_AT_FLOOR` to 1 at the threshold, 1 above."""
    values = np.asarray(values, dtype=np.float32)
    top = max(threshold_px, floor_px + 1e-6)
    ramp = ALPHA_AT_FLOOR + (1.0 - ALPHA_AT_FLOOR) * np.clip((values - floor_px) / (top - floor_px), 0.0, 1.0)
    return np.where(np.isfinite(values) & (values >= floor_px), ramp, 0.0).astype(np.float32)


def alpha_table(vmax: float, floor_px: float, threshold_px: float, size: int = LUT_SIZE) -> np.ndarray:
    """(size,) uint8 opacity per colour index i ↔ value i·vmax/(size−1) (see :func:`opacity`)."""
    return np.round(opacity(np.linspace(0.0, vmax, size), floor_px, threshold_px) * 255.0).astype(np.uint8)


def rgba_table(vmax: float, floor_px: float, threshold_px: float, size: int = LUT_SIZE) -> np.ndarray:
    """(size, 4) uint8: the colour scale with its opacity, index i ↔ value i·vmax/(size−1)."""
    table = np.empty((size, 4), np.uint8)
    table[:, :3] = colour_table(size)
    table[:, 3] = alpha_table(vmax, floor_px, threshold_px, size)
    return table


def heatmap_rgba(values: np.ndarray, vmax: float, floor_px: float = DEFAULT_FLOOR_PX,
                 threshold_px: float | None = None) -> np.ndarray:
    """Misalignment (px) → C-contiguous RGBA uint8; NaN and values below ``floor_px`` transparent.

    ``threshold_px`` (default ``vmax / 2``) is where the colour becomes opaque.
    """
    threshold_px = vmax / 2.0 if threshold_px is None else threshold_px
    table = colour_table()
    values = np.asarray(values, dtype=np.float32)
    index = np.where(np.isfinite(values), values, 0.0) * np.float32((LUT_SIZE - 1) / max(vmax, 1e-6))
    np.clip(index, 0, LUT_SIZE - 1, out=index)
    rgba = np.empty(values.shape + (4,), np.uint8)
    rgba[..., :3] = table[(index + 0.5).astype(np.uint8)]
    rgba[..., 3] = (opacity(values, floor_px, threshold_px) * 255.0 + 0.5).astype(np.uint8)
    return rgba


def hue_distance(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """Angle (degrees, 0–180) between the hues of two RGB colours."""
    import colorsys

    ha = colorsys.rgb_to_hsv(*(c / 255.0 for c in a))[0]
    hb = colorsys.rgb_to_hsv(*(c / 255.0 for c in b))[0]
    d = abs(ha - hb) * 360.0
    return min(d, 360.0 - d)
