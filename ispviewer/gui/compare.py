"""Comparing the sources at one view: an A/B flicker (one pane alternating) and difference images.

A/B flicker: the row shows one pane, which alternates every ``FLICKER_MS`` between the two sources
of the chosen pair (phone ISP ↔ aligned target by default) at the same centre and zoom, with every
overlay hidden meanwhile.  Two images swapping in place are the quickest way to see that edges do
not line up: they jump.

Difference view: the phone pane shows |phone ISP − target| and the output pane |output − target|
after matching each source's local tone to the target's (so colour and tone differences vanish and
edges that do not line up stand out; :mod:`ispviewer.align.difference`), as the mean over RGB on a
black-red-yellow-white scale up to ``DIFF_VMAX``, computed for the visible
region at the resolution it is drawn with, so its cost is bounded by the screen, not the image. While it is
on, the misalignment heatmap stays off in those two panes (it remains in the target pane).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, QTimer, Signal
from superqt.utils import qdebounced

from ispviewer.align.difference import plain_difference, tone_matched_difference
from ispviewer.gui.image_pane import LevelImageItem
from ispviewer.gui.output_canvas import Rect, grow, pixel_rect
from ispviewer.gui.sources import OUTPUT, PHONE, TARGET
from ispviewer.gui.state import WindowState

SOURCES = (PHONE, TARGET, OUTPUT)
#: Mean absolute difference (fraction of full scale) at the top of the colour scale.
DIFF_VMAX = 0.25
DIFF_COLORMAP = "CET-L3"
DIFF_Z = 5  # above the images, below the grid (and the heatmap, hidden in these panes meanwhile)
SETTLE_MS = 40
#: how long each source of the A/B flicker stays on screen
FLICKER_MS = 500
#: the pairs the flicker can alternate, as offered in the View menu
FLICKER_PAIRS = ((PHONE, TARGET), (OUTPUT, TARGET), (PHONE, OUTPUT))
MARGIN = 32

_LUT: np.ndarray | None = None


def diff_lut() -> np.ndarray:
    """(256, 3) uint8 colour table of the difference scale (built once, on the GUI thread)."""
    global _LUT
    if _LUT is None:
        table = pg.colormap.get(DIFF_COLORMAP).getLookupTable(0.0, 1.0, 256, alpha=False)
        _LUT = np.ascontiguousarray(table.astype(np.uint8))
    return _LUT


def difference_rgba(a: np.ndarray, b: np.ndarray, vmax: float = DIFF_VMAX, tone_matched: bool = True) -> np.ndarray:
    """|a − b| of two RGB(A) uint8 images of one size, colour-mapped; transparent where either
    image has alpha 0.  ``tone_matched``: ``a`` is first given ``b``'s local mean and contrast per
    channel (:func:`ispviewer.align.difference.match_local_tone`), so only structure that does not
    line up stays bright."""
    alpha = np.full(a.shape[:2], 255, np.uint8)
    for img in (a, b):
        if img.shape[2] == 4:
            alpha = np.minimum(alpha, img[..., 3])
    d = tone_matched_difference(a, b, alpha) if tone_matched else plain_difference(a, b)
    index = np.clip(d * (255.0 / vmax) + 0.5, 0, 255).astype(np.uint8)
    out = np.empty(a.shape[:2] + (4,), np.uint8)
    out[..., :3] = diff_lut()[index]
    out[..., 3] = np.where(alpha > 0, 255, 0)
    return out


def resize_to(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` resized to ``size`` (w, h): area-averaged when shrinking, nearest when enlarging."""
    if (image.shape[1], image.shape[0]) == tuple(size):
        return image
    shrink = image.shape[1] > size[0]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_NEAREST)


def pyramid_crop(pyramid, rect: Rect, size: tuple[int, int], zoom: float) -> np.ndarray:
    """The part of ``pyramid`` over phone-frame ``rect``, from the level drawn at ``zoom``, as ``size``."""
    level = pyramid.levels[pyramid.level_for_zoom(zoom)]
    sx, sy = level.shape[1] / pyramid.width, level.shape[0] / pyramid.height
    x, y, w, h = rect
    x0, y0 = int(math.floor(x * sx)), int(math.floor(y * sy))
    x1 = min(level.shape[1], max(x0 + 1, int(math.ceil((x + w) * sx))))
    y1 = min(level.shape[0], max(y0 + 1, int(math.ceil((y + h) * sy))))
    return resize_to(np.ascontiguousarray(level[y0:y1, x0:x1]), size)


class CompareController(QObject):
    """Flicker between the sources and the difference view, on the viewer's panes."""

    changed = Signal()

    def __init__(self, state: WindowState, viewer, output, parent: QObject | None = None):
        super().__init__(parent)
        self.state = state
        self.viewer = viewer
        self.output = output
        self._phone_title = viewer.panes[PHONE].title.text()
        self.items: dict[str, LevelImageItem] = {}  # made when the difference view is first shown
        self.refresh_when_rested = qdebounced(self.refresh_difference, timeout=SETTLE_MS, parent=self)
        state.view.changed.connect(self._schedule)
        state.compare.events.single.connect(self._show_single)
        state.compare.events.difference.connect(self._show_difference)
        state.compare.events.flickering.connect(self._on_flickering)
        state.compare.events.flicker_pair.connect(self._on_pair)
        self._flicker_timer = QTimer(self, interval=FLICKER_MS)
        self._flicker_timer.timeout.connect(self._flip)
        output.updated.connect(self._schedule)

    @property
    def single(self) -> str | None:
        """The source shown alone (flicker), None: side by side."""
        return self.state.compare.single

    @property
    def difference(self) -> bool:
        return self.state.compare.difference

    # ----------------------------------------------------------------- flicker

    def toggle_flicker(self) -> None:
        """Start the A/B flicker of the chosen pair (phone ISP ↔ target unless chosen otherwise),
        or stop it and show the panes side by side again."""
        self.state.compare.flickering = not self.state.compare.flickering

    def set_pair(self, pair: tuple[str, str]) -> None:
        self.state.compare.flicker_pair = tuple(pair)

    def _on_flickering(self, on: bool) -> None:
        self.state.overlays.suspended = on  # the images alone: no heatmap, grid or selection on top
        if on:
            self.show_single(self.state.compare.flicker_pair[0])
            self._flicker_timer.start()
        else:
            self._flicker_timer.stop()
            self.show_single(None)

    def _on_pair(self, pair: tuple[str, str]) -> None:
        if self.state.compare.flickering:
            self.show_single(pair[0])

    def _flip(self) -> None:
        """The other source of the pair, at the same centre and zoom."""
        a, b = self.state.compare.flicker_pair
        self.show_single(b if self.single == a else a)

    def show_single(self, key: str | None) -> None:
        """Show only ``key``'s pane (None: all three side by side); centre and zoom are kept."""
        self.state.compare.single = key

    def _show_single(self, key: str | None) -> None:
        for k, pane in self.viewer.panes.items():
            pane.setVisible(key is None or k == key)
        self.viewer.row.relayout()
        for pane in self.viewer.panes.values():
            if not pane.isHidden():
                pane.apply_view()
        self._schedule()
        self.changed.emit()

    def side_by_side(self) -> None:
        if self.state.compare.flickering:
            self.state.compare.flickering = False
        self.show_single(None)

    # ----------------------------------------------------------------- difference

    def set_difference(self, on: bool) -> None:
        self.state.compare.difference = bool(on)

    def _show_difference(self, on: bool) -> None:
        if on and not self.items:
            for key in (PHONE, OUTPUT):
                item = self.items[key] = LevelImageItem()
                item.setZValue(DIFF_Z)
                item.hide()
                self.viewer.panes[key].add_item(item)
        self._retitle()
        # the heatmap's warm colours would mix with the difference scale's; the H toggle is kept as it is
        self.state.overlays.heatmap_hidden_in = frozenset(self.items if on else ())
        if not on:
            for item in self.items.values():
                item.hide()
        else:
            self.refresh_difference()
        self.changed.emit()

    def _retitle(self) -> None:
        pct = f"0–{DIFF_VMAX:.0%}"
        phone, output = self.viewer.panes[PHONE].title, self.viewer.panes[OUTPUT].title
        self.output.title_locked = self.difference
        if self.difference:
            phone.setText(f"|phone ISP − target|, tone-matched  ({pct})")
            output.setText(f"|network output − target|, tone-matched  ({pct})")
        else:
            phone.setText(self._phone_title)
            output.setText(self.output.title)

    def _schedule(self) -> None:
        if self.difference:
            self.refresh_when_rested()

    def refresh_difference(self) -> None:
        """Recompute both difference images for the visible region (+ a margin)."""
        if not self.difference:
            return
        target = self.viewer.panes[TARGET].pyramid
        size = self.viewer.image_size()
        view = self.visible_rect()
        for key, item in self.items.items():
            image = None
            if target is not None and size is not None and view is not None:
                rect = grow(view, MARGIN, size)
                zoom = self.viewer.view_state.zoom
                out = (max(1, round(rect[2] * min(1.0, zoom))), max(1, round(rect[3] * min(1.0, zoom))))
                a = self._source(key, rect, out, zoom)
                if a is not None:
                    image = difference_rgba(a, pyramid_crop(target, rect, out, zoom))
            if image is None:
                item.hide()
                continue
            item.smooth = self.viewer.view_state.zoom < 1.0
            item.setImage(image, autoLevels=False, levels=None)
            item.setRect(QRectF(rect[0] - 0.5, rect[1] - 0.5, rect[2], rect[3]))
            item.show()

    def _source(self, key: str, rect: Rect, out: tuple[int, int], zoom: float) -> np.ndarray | None:
        if key == OUTPUT:
            return self.output.crop(rect, out)
        pyramid = self.viewer.panes[key].pyramid
        return None if pyramid is None else pyramid_crop(pyramid, rect, out, zoom)

    def visible_rect(self) -> Rect | None:
        """Pixels of the phone frame shown in the widest visible pane."""
        size = self.viewer.image_size()
        panes = [p for p in self.viewer.panes.values() if not p.isHidden()]
        if size is None or not panes:
            return None
        w, h = max((p.viewport_size() for p in panes), key=lambda s: s[0] * s[1])
        return pixel_rect(*self.viewer.view_state.rect(w, h), size) if w > 0 and h > 0 else None
