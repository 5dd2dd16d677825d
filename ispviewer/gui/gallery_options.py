"""What a gallery tile shows besides the phone and target patches, and the pixels of those extras
(Qt-free: plain numpy / OpenCV, safe in worker threads).

:class:`TileOptions` is an evented dataclass (psygnal): the network output of the patch as a third
panel, the tone-normalised difference as a fourth, the misalignment heatmap over the phone panel.
The gallery draws from it, the toolbar and the View menu write it, the settings remember it.

:func:`heatmap_patch_rgba` colours the heatmap under one patch exactly as the main view draws it
(:mod:`ispviewer.gui.heatmap_style`, each heatmap cell coloured, then interpolated smoothly over
the phone pixels); :func:`uniform_heatmap_rgba` stands in for a triplet without a heatmap file
(the patch's own misalignment, as the main view then shows it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np
from psygnal import SignalGroupDescriptor

from ispviewer.gui.heatmap_style import heatmap_rgba

PHONE_PANEL, TARGET_PANEL, OUTPUT_PANEL, DIFFERENCE_PANEL = "phone", "target", "output", "difference"
#: the tile options, their words in the toolbar and menu, and their settings keys
OPTION_TEXT = {"output": "Network output", "difference": "Difference", "heatmap": "Heatmap"}
OPTION_TIPS = {
    "output": "A third panel: the network's rendering of the patch from the phone raw (in the background)",
    "difference": "A fourth panel: |phone − target| after matching the phone's local tone to the target's "
                  "(an aligned patch is near-black, an edge that does not line up stands out)",
    "heatmap": "The misalignment heatmap over the phone patch (the main view's colours and opacity)",
}


@dataclass
class TileOptions:
    """Which extras the gallery's tiles show."""

    events: ClassVar[SignalGroupDescriptor] = SignalGroupDescriptor()

    output: bool = False
    difference: bool = False
    heatmap: bool = False

    def panels(self) -> tuple[str, ...]:
        """The tile's panels, left to right."""
        extra = (OUTPUT_PANEL,) * self.output + (DIFFERENCE_PANEL,) * self.difference
        return (PHONE_PANEL, TARGET_PANEL) + extra


def heatmap_patch_rgba(values: np.ndarray, scale: float, x: int, y: int, size: int, vmax: float,
                       floor_px: float, threshold_px: float) -> np.ndarray:
    """(size, size, 4) uint8: the heatmap ``values`` (``scale`` phone px per cell, NaN unknown)
    over the phone square at (x, y), coloured per cell and interpolated bilinearly."""
    rows, cols = values.shape
    # phone pixel centre p lies at heatmap coordinate (p + 0.5) / scale - 0.5 (cell centres at integers)
    gx = (np.arange(size, dtype=np.float32) + x + 0.5) / scale - 0.5
    gy = (np.arange(size, dtype=np.float32) + y + 0.5) / scale - 0.5
    c0, c1 = max(int(np.floor(gx[0])) - 1, 0), min(int(np.ceil(gx[-1])) + 2, cols)
    r0, r1 = max(int(np.floor(gy[0])) - 1, 0), min(int(np.ceil(gy[-1])) + 2, rows)
    if c1 <= c0 or r1 <= r0:
        return np.zeros((size, size, 4), np.uint8)
    cells = heatmap_rgba(values[r0:r1, c0:c1], vmax, floor_px, threshold_px)
    map_x = np.broadcast_to(gx[None, :] - c0, (size, size)).astype(np.float32)
    map_y = np.broadcast_to(gy[:, None] - r0, (size, size)).astype(np.float32)
    return np.ascontiguousarray(cv2.remap(cells, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))


def uniform_heatmap_rgba(value: float | None, size: int, vmax: float, floor_px: float,
                         threshold_px: float) -> np.ndarray:
    """(size, size, 4) uint8 of one misalignment value (None: not measurable, transparent)."""
    v = np.float32(np.nan if value is None else value)
    return heatmap_rgba(np.full((size, size), v, np.float32), vmax, floor_px, threshold_px)
