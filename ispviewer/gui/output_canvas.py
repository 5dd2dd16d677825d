"""The network output of one triplet with one set of weights, filled in region by region (Qt-free).

The exact output lives in a phone-frame-sized canvas: float32 RGB (for the pixel readout and for
saving) and display-ready RGBA uint8 (alpha 0 where nothing is rendered yet).  Both arrays come
from ``np.zeros``, i.e. calloc'd pages, so a canvas of a 12 MP frame costs memory only where
regions were rendered.  Bookkeeping is a grid of ``CELL``-px cells: a cell is marked rendered once
the pixels of a stored region fill it.  A worker thread stores, the GUI thread reads; a lock
guards the cell grid, and readers only trust marked cells.

A *preview* (the network applied to an area-reduced packed raw) stands in where the exact output
is missing, when zoomed out.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import cv2
import numpy as np

#: Bookkeeping cell side (phone px).
CELL = 16
#: A preview renders the whole frame reduced until it has at most this many output pixels.
PREVIEW_MAX_PIXELS = 800_000

Rect = tuple[int, int, int, int]  # (x, y, w, h) in phone-frame pixels


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8, rounded (C-contiguous)."""
    tmp = np.clip(rgb, 0.0, 1.0) * np.float32(255.0) + np.float32(0.5)
    return np.ascontiguousarray(tmp.astype(np.uint8))


def pixel_rect(x: float, y: float, w: float, h: float, frame: tuple[int, int]) -> Rect | None:
    """The pixels whose centres a view rectangle (pixel edges at ±0.5) touches, clipped to the frame."""
    x0 = max(0, math.floor(x + 0.5))
    y0 = max(0, math.floor(y + 0.5))
    x1 = min(frame[0], math.ceil(x + w + 0.5))
    y1 = min(frame[1], math.ceil(y + h + 0.5))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1 - x0, y1 - y0


def grow(rect: Rect, margin: int, frame: tuple[int, int]) -> Rect:
    x, y, w, h = rect
    x0, y0 = max(0, x - margin), max(0, y - margin)
    x1, y1 = min(frame[0], x + w + margin), min(frame[1], y + h + margin)
    return x0, y0, x1 - x0, y1 - y0


def contains(outer: Rect | None, inner: Rect) -> bool:
    if outer is None:
        return False
    return (outer[0] <= inner[0] and outer[1] <= inner[1] and inner[0] + inner[2] <= outer[0] + outer[2]
            and inner[1] + inner[3] <= outer[1] + outer[3])


def preview_factor(frame: tuple[int, int], max_pixels: int = PREVIEW_MAX_PIXELS) -> int:
    """The smallest power-of-two reduction whose output has at most ``max_pixels`` pixels."""
    f = 1
    while (frame[0] / f) * (frame[1] / f) > max_pixels:
        f *= 2
    return f


def downscale_packed(packed: np.ndarray, factor: int) -> np.ndarray:
    """Area-average the packed (h, w, 4) planes by ``factor`` (each plane separately)."""
    if factor <= 1:
        return np.ascontiguousarray(packed, np.float32)
    h, w = packed.shape[:2]
    size = (max(1, -(-w // factor)), max(1, -(-h // factor)))
    return np.ascontiguousarray(cv2.resize(np.asarray(packed, np.float32), size, interpolation=cv2.INTER_AREA))


@dataclass(frozen=True)
class Preview:
    """The whole frame rendered from a packed raw reduced ``factor`` times (float RGB, reduced size)."""

    factor: int
    rgb: np.ndarray  # float32 (h', w', 3)
    frame: tuple[int, int]

    def value_at(self, x: int, y: int) -> tuple[float, float, float] | None:
        if not (0 <= x < self.frame[0] and 0 <= y < self.frame[1]):
            return None
        h, w = self.rgb.shape[:2]
        i = min(h - 1, int((y + 0.5) * h / self.frame[1]))
        j = min(w - 1, int((x + 0.5) * w / self.frame[0]))
        return tuple(float(v) for v in self.rgb[i, j])


class OutputCanvas:
    """Exact output of one (triplet, weights) pair, region by region; thread-safe store/read."""

    def __init__(self, frame: tuple[int, int]):
        self.frame = (int(frame[0]), int(frame[1]))
        w, h = self.frame
        self.data = np.zeros((h, w, 3), np.float32)
        self.rgba = np.zeros((h, w, 4), np.uint8)
        self.cells = np.zeros((-(-h // CELL), -(-w // CELL)), bool)
        self.preview: Preview | None = None
        self.preview_pyramid = None  # the preview as a gui.pyramid.Pyramid standing for the frame
        self.full_pyramid = None  # set once the whole frame was rendered (a gui.pyramid.Pyramid)
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- geometry

    def _cells_touching(self, rect: Rect) -> tuple[int, int, int, int]:
        x, y, w, h = rect
        return y // CELL, -(-(y + h) // CELL), x // CELL, -(-(x + w) // CELL)

    def _cell_rect(self, r0: int, r1: int, c0: int, c1: int) -> Rect:
        x0, y0 = c0 * CELL, r0 * CELL
        x1, y1 = min(self.frame[0], c1 * CELL), min(self.frame[1], r1 * CELL)
        return x0, y0, x1 - x0, y1 - y0

    def covered(self, rect: Rect) -> bool:
        r0, r1, c0, c1 = self._cells_touching(rect)
        with self._lock:
            return bool(self.cells[r0:r1, c0:c1].all())

    @property
    def complete(self) -> bool:
        with self._lock:
            return bool(self.cells.all())

    def coverage(self) -> float:
        with self._lock:
            return float(self.cells.mean())

    def missing_rects(self, rect: Rect, context_px: int = 0) -> list[Rect]:
        """Cell-aligned rectangles that together cover the missing cells of ``rect``.

        Runs of missing cells in a row become rectangles, stacked while the next row has the same
        run; two rectangles are merged whenever rendering their bounding box (with ``context_px``
        of context on every side) costs no more than rendering both.
        """
        r0, r1, c0, c1 = self._cells_touching(rect)
        with self._lock:
            missing = ~self.cells[r0:r1, c0:c1]
        open_: dict[tuple[int, int], list[int]] = {}  # run -> [row0, row1, col0, col1] (cells)
        boxes: list[list[int]] = []
        for i, row in enumerate(missing):
            padded = np.concatenate(([False], row, [False])).astype(np.int8)
            edges = np.flatnonzero(np.diff(padded))
            for a, b in zip(edges[0::2], edges[1::2]):
                box = open_.get((a, b))
                if box is not None and box[1] == i:
                    box[1] = i + 1
                else:
                    box = [i, i + 1, int(a), int(b)]
                    open_[(a, b)] = box
                    boxes.append(box)

        def cost(b) -> int:
            return ((b[1] - b[0]) * CELL + 2 * context_px) * ((b[3] - b[2]) * CELL + 2 * context_px)

        merged = True
        while merged and len(boxes) > 1:
            merged = False
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    a, b = boxes[i], boxes[j]
                    box = [min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])]
                    if cost(box) <= cost(a) + cost(b):
                        boxes[i] = box
                        del boxes[j]
                        merged = True
                        break
                if merged:
                    break
        boxes.sort()
        return [self._cell_rect(r0 + b[0], r0 + b[1], c0 + b[2], c0 + b[3]) for b in boxes]

    # ----------------------------------------------------------------- writing (any thread)

    def store(self, region: Rect, rgb: np.ndarray) -> None:
        """Keep the rendered ``rgb`` (float, (h, w, 3)) of ``region``; mark the cells it fills."""
        x, y, w, h = region
        self.data[y:y + h, x:x + w] = rgb
        self.rgba[y:y + h, x:x + w, :3] = to_uint8(rgb)
        self.rgba[y:y + h, x:x + w, 3] = 255
        fw, fh = self.frame
        c0, r0 = -(-x // CELL), -(-y // CELL)
        c1 = self.cells.shape[1] if x + w >= fw else (x + w) // CELL
        r1 = self.cells.shape[0] if y + h >= fh else (y + h) // CELL
        with self._lock:
            if r1 > r0 and c1 > c0:
                self.cells[r0:r1, c0:c1] = True

    # ----------------------------------------------------------------- reading (GUI thread)

    def composite(self, rect: Rect) -> np.ndarray:
        """RGBA uint8 of ``rect``: the exact output where rendered, transparent elsewhere."""
        x, y, w, h = rect
        r0, r1, c0, c1 = self._cells_touching(rect)
        with self._lock:
            cells = self.cells[r0:r1, c0:c1].copy()
        out = np.ascontiguousarray(self.rgba[y:y + h, x:x + w])
        if not cells.all():  # hide pixels of cells not marked yet (a store may be half done)
            mask = np.repeat(np.repeat(cells, CELL, 0), CELL, 1)
            oy, ox = y - r0 * CELL, x - c0 * CELL
            out[..., 3] *= mask[oy:oy + h, ox:ox + w]
        return out

    def value_at(self, x: int, y: int) -> tuple[float, float, float] | None:
        """The exact output at phone pixel (x, y), or None where it is not rendered."""
        if not (0 <= x < self.frame[0] and 0 <= y < self.frame[1]):
            return None
        with self._lock:
            if not self.cells[y // CELL, x // CELL]:
                return None
        return tuple(float(v) for v in self.data[y, x])

    def whole_uint8(self) -> np.ndarray:
        """The whole frame as uint8 RGB (meaningful once :attr:`complete`)."""
        return np.ascontiguousarray(self.rgba[..., :3])
