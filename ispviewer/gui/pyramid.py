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
    """Level k is the level-0 image reduced by about 2**k (C-contiguous uint8 RGB)."""

    levels: tuple[np.ndarray, ...]

    @property
    def width(self) -> int:
        return int(self.levels[0].shape[1])

    @property
    def height(self) -> int:
        return int(self.levels[0].shape[0])

    @property
    def nbytes(self) -> int:
        return sum(level.nbytes for level in self.levels)

    def level_for_zoom(self, zoom: float) -> int:
        """The coarsest level whose pixels still cover at least one device pixel at ``zoom``.

        ``zoom`` is device pixels per level-0 pixel.  At or above 1 the full image is used.
        """
        if zoom >= 1.0 or len(self.levels) == 1:
            return 0
        level = math.ceil(math.log2(1.0 / zoom) - 1e-9)
        return max(0, min(level, len(self.levels) - 1))

    def pixel(self, x: int, y: int) -> tuple[int, ...] | None:
        """Level-0 value at integer pixel (x, y), or None outside the image."""
        if 0 <= x < self.width and 0 <= y < self.height:
            return tuple(int(v) for v in self.levels[0][y, x])
        return None


def build_pyramid(image: np.ndarray, min_side: int = MIN_LEVEL_SIDE) -> Pyramid:
    """Build the pyramid of a uint8 (H, W, C) image; level 0 is the image itself (made contiguous)."""
    if image.ndim != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (H, W, C) image, got {image.dtype} {image.shape}")
    levels = [np.ascontiguousarray(image)]
    while max(levels[-1].shape[:2]) > min_side:
        prev = levels[-1]
        h, w = prev.shape[:2]
        size = (max(1, (w + 1) // 2), max(1, (h + 1) // 2))
        levels.append(np.ascontiguousarray(cv2.resize(prev, size, interpolation=cv2.INTER_AREA)))
    return Pyramid(tuple(levels))
