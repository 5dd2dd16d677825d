"""The views of the scene: the phone's (area-averaged pixels) and the Nikon's (warped, clean).

The scene canvas is in phone-frame coordinates, supersampled ``scale`` times: canvas pixel
``i`` covers phone x in ``[ox - 0.5 + i / scale, ox - 0.5 + (i + 1) / scale]``, where ``ox`` (an
integer, at most 0) is the canvas origin in phone pixels.  Phone pixel ``p`` is then exactly the
block of ``scale x scale`` canvas pixels starting at ``(p - ox) * scale``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ispviewer.dataset.demo.geometry import apply_homography, phone_positions_of_target


@dataclass(frozen=True)
class CanvasFrame:
    """Where the canvas lies in the phone frame."""

    origin: tuple[int, int]  # (ox, oy): phone pixel coordinates of canvas pixel (0, 0)'s block
    size: tuple[int, int]  # (width, height) in phone pixels
    scale: int  # canvas pixels per phone pixel

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the canvas array."""
        return self.size[1] * self.scale, self.size[0] * self.scale


def canvas_frame_for(hom: np.ndarray, phone_size: tuple[int, int], target_size: tuple[int, int],
                     scale: int, pad: int = 6) -> CanvasFrame:
    """The smallest canvas covering the phone frame and everything the Nikon sees (plus ``pad``)."""
    w, h = phone_size
    wt, ht = target_size
    xs = np.array([0.0, wt - 1, wt - 1, 0.0])
    ys = np.array([0.0, 0.0, ht - 1, ht - 1])
    px, py = apply_homography(hom, xs, ys)
    x0 = int(min(0, np.floor(px.min()) - pad))
    y0 = int(min(0, np.floor(py.min()) - pad))
    x1 = int(max(w, np.ceil(px.max()) + pad + 1))
    y1 = int(max(h, np.ceil(py.max()) + pad + 1))
    return CanvasFrame(origin=(x0, y0), size=(x1 - x0, y1 - y0), scale=scale)


def phone_view(canvas: np.ndarray, frame: CanvasFrame, phone_size: tuple[int, int]) -> np.ndarray:
    """The scene as the phone's pixels see it: each pixel the mean of its canvas block."""
    w, h = phone_size
    s = frame.scale
    cx, cy = -frame.origin[0] * s, -frame.origin[1] * s
    crop = canvas[cy:cy + h * s, cx:cx + w * s]
    return cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)


def target_view(canvas: np.ndarray, frame: CanvasFrame, hom: np.ndarray, grid: np.ndarray,
                step: int, target_size: tuple[int, int]) -> np.ndarray:
    """The scene as the Nikon sees it: pixel t shows the scene at p, where p + D(p) = H(t)."""
    px, py = phone_positions_of_target(hom, grid, step, target_size)
    s = np.float32(frame.scale)
    # canvas index of phone position x: (x - ox + 0.5) * scale - 0.5
    px -= np.float32(frame.origin[0] - 0.5)
    px *= s
    px -= np.float32(0.5)
    py -= np.float32(frame.origin[1] - 0.5)
    py *= s
    py -= np.float32(0.5)
    return cv2.remap(canvas, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _gentle_tone_lut() -> np.ndarray:
    x = np.arange(256, dtype=np.float64) / 255.0
    y = x + 0.25 * (x * x * (3.0 - 2.0 * x) - x)
    return np.clip(np.rint(y * 255.0), 0, 255).astype(np.uint8)


_GENTLE_TONE = _gentle_tone_lut()


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Float RGB in [0, 1] -> uint8."""
    out = rgb * np.float32(255.0)
    out += np.float32(0.5)
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)


def target_jpeg_rgb(target: np.ndarray) -> np.ndarray:
    """The Nikon's clean look: the scene with a mild contrast curve that keeps both ends, uint8."""
    return cv2.LUT(to_uint8(target), _GENTLE_TONE)
