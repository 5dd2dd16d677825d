"""The panels of a gallery tile, left to right, and how each is drawn.

Always the phone patch and its matched target patch; with the window state's tile options
(``state.gallery``) also the network output and the tone-normalised difference, and the
misalignment heatmap over the phone patch (with the main view's heatmap opacity; not while the
tile flickers, when the images alone are compared).  Every panel is drawn at 1:1, one image pixel
per device pixel; one that is not made yet shows what it waits for.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QRect, Qt, Signal
from PySide6.QtGui import QColor, QPainter

from ispviewer.dataset.records import PatchRecord
from ispviewer.gui.gallery_extras import TileExtras
from ispviewer.gui.gallery_options import DIFFERENCE_PANEL, OUTPUT_PANEL, PHONE_PANEL, TARGET_PANEL
from ispviewer.gui.gallery_output import OutputTiles
from ispviewer.gui.state import WindowState

PLACEHOLDER = QColor("#2c2f34")
PLACEHOLDER_TEXT = QColor("#9aa0a6")


class TilePanels(QObject):
    """What each tile panel shows; ``ready`` when an extra of the page on screen arrived."""

    ready = Signal()

    def __init__(self, state: WindowState, tiles, weights: Callable[[], object] = lambda: None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.state = state
        self.tiles = tiles
        self.extras = TileExtras(state, tiles, self)
        self.outputs = OutputTiles(weights, self)
        self.extras.ready.connect(self.ready)
        self.outputs.ready.connect(self.ready)
        self._page: list[PatchRecord] = []
        overlays = state.overlays.events  # the heatmap follows the main view's colours
        overlays.heatmap_vmax.connect(self._restyle)
        overlays.heatmap_floor.connect(self._restyle)
        overlays.heatmap_opacity.connect(self._restyle)

    def _restyle(self, *_args) -> None:
        if self.state.gallery.heatmap and self._page:
            self.refresh()

    @property
    def names(self) -> tuple[str, ...]:
        return self.state.gallery.panels()

    def caption(self) -> str:
        """The panels left to right, in words, e.g. "phone + heatmap | target | network output"."""
        words = {PHONE_PANEL: "phone + heatmap" if self.state.gallery.heatmap else "phone", TARGET_PANEL: "target",
                 OUTPUT_PANEL: "network output", DIFFERENCE_PANEL: "difference"}
        return " | ".join(words[n] for n in self.names)

    def attach(self, session) -> None:
        self.extras.attach(session)
        self.outputs.attach(session)

    def detach(self) -> None:
        self.extras.detach()
        self.outputs.detach()
        self._page = []

    def request(self, patches: list[PatchRecord]) -> None:
        """``patches`` are the page on screen: make what the options ask for."""
        self._page = list(patches)
        self.extras.request(self._page)
        self.outputs.request(self._page if self.state.gallery.output else [])  # off: renders in flight stop

    def refresh(self) -> None:
        """Options, colours or weights changed: the page's extras anew (cached ones are kept)."""
        self.request(self._page)
        self.ready.emit()

    def settled(self, patches: list[PatchRecord]) -> bool:
        """Every panel the options ask for is made for ``patches`` (for screenshots and tests)."""
        o = self.state.gallery
        return ((not o.difference or all(self.extras.difference(p.id) is not None for p in patches))
                and (not o.heatmap or all(self.extras.heatmap(p.id) is not None for p in patches))
                and (not o.output or self.outputs.settled(patches)))

    # ----------------------------------------------------------------- painting

    def paint(self, painter: QPainter, x: int, y: int, size: int, gap: int, patch: PatchRecord,
              flickered: bool) -> None:
        """Draw the tile's panels from (x, y): ``size`` logical px each, ``gap`` between them."""
        tile = self.tiles.tile(patch.id)
        dpr = painter.device().devicePixelRatioF()
        for k, name in enumerate(self.names):
            left = x + k * (size + gap)
            image, text = self._content(name, patch, tile, flickered)
            if image is None:
                rect = QRect(left, y, size, size)
                painter.fillRect(rect, PLACEHOLDER)
                if text:
                    painter.setPen(PLACEHOLDER_TEXT)
                    painter.drawText(rect.adjusted(4, 4, -4, -4), Qt.TextFlag.TextWordWrap
                                     | Qt.AlignmentFlag.AlignCenter, text)
                continue
            image.setDevicePixelRatio(dpr)  # one image pixel per device pixel
            painter.drawImage(left, y, image)
            if name == PHONE_PANEL and self.state.gallery.heatmap and not flickered:
                heat = self.extras.heatmap(patch.id)
                if heat is not None:
                    heat.setDevicePixelRatio(dpr)
                    painter.save()
                    painter.setOpacity(self.state.overlays.heatmap_opacity)
                    painter.drawImage(left, y, heat)
                    painter.restore()

    def _content(self, name: str, patch: PatchRecord, tile, flickered: bool):
        """(image, None) or (None, the words of its placeholder)."""
        if name in (PHONE_PANEL, TARGET_PANEL):
            if tile is None:
                return None, ""
            return (tile.target if flickered or name == TARGET_PANEL else tile.phone), None
        if name == OUTPUT_PANEL:
            image = self.outputs.output(patch)
            return (image, None) if image is not None else (None, self.outputs.placeholder(patch))
        if name == DIFFERENCE_PANEL:
            image = self.extras.difference(patch.id)
            return (image, None) if image is not None else (None, "difference…")
        return None, name

    def shutdown(self) -> None:
        self.extras.shutdown()
        self.outputs.shutdown()
