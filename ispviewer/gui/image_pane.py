"""One image pane (a pyqtgraph ViewBox + ImageItem) driven by the shared :class:`ViewState`.

The pane never moves itself: drags and wheel turns are turned into changes of the view state, and
every pane (this one included) maps the new state onto its own viewport.  Pixel centres sit at
integer phone-frame coordinates, so the image item covers (-0.5, -0.5) .. (W - 0.5, H - 0.5).
"""

from __future__ import annotations

from collections.abc import Callable

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from ispviewer.gui.pyramid import Pyramid
from ispviewer.gui.state import ViewState

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

#: Zoom factor of one wheel notch (120 units).
WHEEL_STEP = 1.25


class PaneViewBox(pg.ViewBox):
    """A ViewBox whose gestures edit the shared view state instead of its own range."""

    def __init__(self, pane: ImagePane):
        super().__init__(invertY=True, lockAspect=False, enableMenu=False, defaultPadding=0.0)
        self._pane = pane

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 (Qt naming)
        if ev.button() not in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton):
            ev.ignore()
            return
        ev.accept()
        before = self.mapToView(ev.lastPos())
        after = self.mapToView(ev.pos())
        self._pane.view_state.pan_by(before.x() - after.x(), before.y() - after.y())

    def wheelEvent(self, ev, axis=None):  # noqa: N802
        ev.accept()
        anchor = self.mapToView(ev.pos())
        self._pane.view_state.zoom_about(WHEEL_STEP ** (ev.delta() / 120.0), anchor.x(), anchor.y())

    def mouseClickEvent(self, ev):  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            p = self.mapToView(ev.pos())
            self._pane.clicked.emit(p.x(), p.y())
        else:
            ev.ignore()


class LevelImageItem(pg.ImageItem):
    """An ImageItem that paints nearest-neighbour when magnifying and bilinear otherwise."""

    smooth = False

    def paint(self, painter: QPainter, *args):
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.smooth)
        super().paint(painter, *args)


class ElidedLabel(QLabel):
    """A one-line label that shortens its text with "…" when narrow instead of clipping both ends
    (``text()`` stays the whole text)."""

    def minimumSizeHint(self):  # noqa: N802
        hint = super().minimumSizeHint()
        hint.setWidth(min(hint.width(), 40))
        return hint

    def shown_text(self) -> str:
        """The text as drawn at the label's current width."""
        width = max(0, self.contentsRect().width())
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, width)

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        self.style().drawItemText(painter, self.contentsRect(), int(self.alignment()), self.palette(),
                                  self.isEnabled(), self.shown_text(), self.foregroundRole())


class ImagePane(QWidget):
    """A titled pane showing one source of the current triplet, or a message in its place."""

    hovered = Signal(float, float)  # phone-frame coordinates under the mouse
    clicked = Signal(float, float)

    def __init__(self, title: str, view_state: ViewState, parent: QWidget | None = None):
        super().__init__(parent)
        self.view_state = view_state
        self.pyramid: Pyramid | None = None
        self.level: int | None = None
        self._value_reader: Callable[[int, int], str | None] | None = None

        self.title = ElidedLabel(title)
        self.title.setObjectName("paneTitle")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.graphics = pg.GraphicsView(background="#202124")
        self.graphics.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # a click takes the keys from any box
        self.view_box = PaneViewBox(self)
        self.graphics.setCentralItem(self.view_box)
        self.image_item = LevelImageItem()
        self.image_item.setZValue(0)
        self.view_box.addItem(self.image_item)

        self.message = QLabel()
        self.message.setObjectName("paneMessage")
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.message.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.message.hide()

        self.notice = QLabel()  # a one-line caveat along the pane's bottom edge (the image stays visible)
        self.notice.setObjectName("paneNotice")
        self.notice.setWordWrap(True)
        self.notice.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.notice.setStyleSheet("background: rgba(32, 33, 36, 210); color: #fdd663; padding: 3px;")
        self.notice.hide()

        stack = QGridLayout()
        stack.setContentsMargins(0, 0, 0, 0)
        stack.addWidget(self.graphics, 0, 0)
        stack.addWidget(self.message, 0, 0, Qt.AlignmentFlag.AlignCenter)
        stack.addWidget(self.notice, 0, 0, Qt.AlignmentFlag.AlignBottom)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addLayout(stack, 1)

        self.view_box.sigResized.connect(self.apply_view)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        view_state.changed.connect(self.apply_view)

    # ----------------------------------------------------------------- content

    def set_pyramid(self, pyramid: Pyramid | None) -> None:
        """Show a new image (or none); the view state is left as it is."""
        self.pyramid = pyramid
        self.level = None
        if pyramid is None:
            self.image_item.clear()
        self._update_level()

    def show_message(self, text: str | None, error: bool = False) -> None:
        """Show a message over the pane (an error in place of the image, or a placeholder)."""
        if not text:
            self.message.hide()
            return
        self.message.setText(text)
        self.message.setProperty("error", error)
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)
        self.message.setMaximumWidth(max(120, self.width() - 24))
        self.message.show()

    def show_notice(self, text: str | None) -> None:
        """A caveat about what the pane shows, along its bottom edge (None: none)."""
        self.notice.setText(text or "")
        self.notice.setToolTip(text or "")
        self.notice.setVisible(bool(text))

    def pixel_at(self, x: int, y: int) -> tuple[int, ...] | None:
        return self.pyramid.pixel(x, y) if self.pyramid is not None else None

    def set_value_reader(self, reader: Callable[[int, int], str | None] | None) -> None:
        """What the readout says at phone pixel (x, y) (None: the shown image's RGB); a pane showing
        data of its own (the network output's float RGB) installs one."""
        self._value_reader = reader

    def value_text(self, x: int, y: int) -> str | None:
        """The readout at phone pixel (x, y), or None where the pane shows nothing there."""
        if self._value_reader is not None:
            return self._value_reader(x, y)
        rgb = self.pixel_at(x, y)
        return None if rgb is None else " ".join(f"{v:3d}" for v in rgb[:3])

    def add_item(self, item) -> None:
        """Add an overlay item drawn in phone-frame coordinates."""
        self.view_box.addItem(item)

    # ----------------------------------------------------------------- view

    def viewport_size(self) -> tuple[float, float]:
        """Size of the image area in device pixels (HiDPI included)."""
        dpr = self.graphics.devicePixelRatioF()
        rect = self.view_box.rect()
        return rect.width() * dpr, rect.height() * dpr

    def visible_rect(self) -> tuple[float, float, float, float]:
        """(x, y, w, h) of the phone frame this pane shows right now."""
        (x0, x1), (y0, y1) = self.view_box.viewRange()
        return x0, y0, x1 - x0, y1 - y0

    def apply_view(self) -> None:
        w, h = self.viewport_size()
        if w <= 0 or h <= 0:
            return
        x0, y0, rw, rh = self.view_state.rect(w, h)
        self.view_box.setRange(xRange=(x0, x0 + rw), yRange=(y0, y0 + rh), padding=0.0)
        self._update_level()

    def _update_level(self) -> None:
        pyramid = self.pyramid
        if pyramid is None:
            return
        zoom = self.view_state.zoom
        level = pyramid.level_for_zoom(zoom)
        self.image_item.smooth = zoom < 1.0
        if level != self.level:
            self.level = level
            self.image_item.setImage(pyramid.levels[level], autoLevels=False, levels=None)
            self.image_item.setRect(QRectF(-0.5, -0.5, pyramid.width, pyramid.height))
        else:
            self.image_item.update()

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self.view_box.sceneBoundingRect().contains(scene_pos):
            p = self.view_box.mapSceneToView(scene_pos)
            self.hovered.emit(p.x(), p.y())

    def resizeEvent(self, event):  # noqa: N802
        super().resizeEvent(event)
        if self.message.isVisible():
            self.message.setMaximumWidth(max(120, self.width() - 24))


class PaneRow(QWidget):
    """Lays panes side by side with exactly equal sizes, so they show the same phone-frame rectangle."""

    SPACING = 4

    def __init__(self, panes: list[ImagePane], parent: QWidget | None = None):
        super().__init__(parent)
        self.panes = panes
        for pane in panes:
            pane.setParent(self)
        self.setMinimumSize(320, 200)

    def _visible(self) -> list[ImagePane]:
        return [p for p in self.panes if not p.isHidden()]

    def resizeEvent(self, event):  # noqa: N802
        super().resizeEvent(event)
        self.relayout()

    def relayout(self) -> None:
        panes = self._visible()
        if not panes:
            return
        n = len(panes)
        width = max(1, (self.width() - self.SPACING * (n - 1)) // n)
        for i, pane in enumerate(panes):
            pane.setGeometry(i * (width + self.SPACING), 0, width, self.height())

    def set_pane_visible(self, pane: ImagePane, visible: bool) -> None:
        pane.setVisible(visible)
        self.relayout()
