"""Area-averaged image pyramids for zoomed-out display (Qt-free).

Drawing a 12 MP photo at 1/8 size nearest-neighbour aliases (false moiré that is not in the photo)
and pyqtgraph's ``autoDownsample`` is slow.  Instead each source is reduced once, in the loader
thread, by successive 2x ``cv2.INTER_AREA`` steps; the pane shows the level whose pixels are at
least one device pixel at the current zoom, so the painter only ever magnifies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: Stop halving once the longer side of a level is at most this many pixels.
MIN_LEVEL_SIDE = 256


@dataclass(frozen=True)
class Pyramid:
    """Level k is level 0 reduced by about 2**k (C-contiguous uint8 RGB).

    ``frame_size`` is the (width, height) in phone-frame pixels that level 0 covers; it is larger
    than level 0 itself for a quick preview decoded at reduced size.
    """

    levels: tuple[np.ndarray, ...]
    frame_size: tuple[int, int] | None = None

    @property
    def width(self) -> int:
        return int(self.frame_size[0]) if self.frame_size else int(self.levels[0].shape[1])

    @property
    def height(self) -> int:
        return int(self.frame_size[1]) if self.frame_size else int(self.levels[0].shape[0])

    @property
    def base_scale(self) -> float:
        """Phone-frame pixels per level-0 pixel (1.0 for a full-resolution image)."""
        return self.width / self.levels[0].shape[1]

    @property
    def is_preview(self) -> bool:
        return self.base_scale > 1.0 + 1e-9

    @property
    def nbytes(self) -> int:
        return sum(level.nbytes for level in self.levels)

    def level_for_zoom(self, zoom: float) -> int:
        """The coarsest level whose pixels still cover at least one device pixel at ``zoom``.

        ``zoom`` is device pixels per phone-frame pixel.  At or above 1 (per level-0 pixel) the
        finest level is used.
        """
        zoom = zoom * self.base_scale
        if zoom >= 1.0 or len(self.levels) == 1:
            return 0
        level = math.ceil(math.log2(1.0 / zoom) - 1e-9)
        return max(0, min(level, len(self.levels) - 1))

    def pixel(self, x: int, y: int) -> tuple[int, ...] | None:
        """Value at phone-frame pixel (x, y) (from level 0), or None outside the image."""
        if not (0 <= x < self.width and 0 <= y < self.height):
            return None
        s = self.base_scale
        level0 = self.levels[0]
        j = min(int((x + 0.5) / s), level0.shape[1] - 1)
        i = min(int((y + 0.5) / s), level0.shape[0] - 1)
        return tuple(int(v) for v in level0[i, j])


def build_pyramid(image: np.ndarray, min_side: int = MIN_LEVEL_SIDE,
                  frame_size: tuple[int, int] | None = None) -> Pyramid:
    """Build the pyramid of a uint8 (H, W, C) image; level 0 is the image itself (made contiguous).

    ``frame_size``: the phone-frame size the image stands for, when it is a reduced preview.
    """
    if image.ndim != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (H, W, C) image, got {image.dtype} {image.shape}")
    levels = [np.ascontiguousarray(image)]
    while max(levels[-1].shape[:2]) > min_side:
        prev = levels[-1]
        h, w = prev.shape[:2]
        size = (max(1, (w + 1) // 2), max(1, (h + 1) // 2))
        levels.append(np.ascontiguousarray(cv2.resize(prev, size, interpolation=cv2.INTER_AREA)))
    return Pyramid(tuple(levels), frame_size)
