"""Driving pyqtgraph panes the way a user does: real mouse and wheel events on the viewport."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QKeySequence, QMouseEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication


def press_keys(widget, keys: str) -> None:
    """Press a shortcut as a user does (QTest.keySequence fires QAction shortcuts offscreen)."""
    QTest.keySequence(widget, QKeySequence(keys))
    QApplication.processEvents()


def to_viewport(pane, x: float, y: float) -> QPoint:
    """Viewport position (logical px) of phone-frame point (x, y) in ``pane``."""
    scene = pane.view_box.mapViewToScene(QPointF(x, y))
    return pane.graphics.mapFromScene(scene)


def _mouse(widget, kind, pos: QPointF, button, buttons) -> None:
    event = QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def drag(pane, start: QPoint, end: QPoint, steps: int = 6) -> None:
    """Left-drag inside a pane's viewport from ``start`` to ``end`` (viewport px)."""
    vp = pane.graphics.viewport()
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    a, b = QPointF(start), QPointF(end)
    _mouse(vp, QEvent.Type.MouseButtonPress, a, left, left)
    for i in range(1, steps + 1):
        p = a + (b - a) * (i / steps)
        _mouse(vp, QEvent.Type.MouseMove, p, none, left)
    _mouse(vp, QEvent.Type.MouseButtonRelease, b, left, none)
    QApplication.processEvents()


def wheel(pane, pos: QPoint, notches: float) -> None:
    vp = pane.graphics.viewport()
    p = QPointF(pos)
    event = QWheelEvent(p, vp.mapToGlobal(p), QPoint(0, 0), QPoint(0, int(120 * notches)),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                        False)
    QApplication.sendEvent(vp, event)
    QApplication.processEvents()


def click(pane, pos: QPoint) -> None:
    QTest.mouseClick(pane.graphics.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)
    QApplication.processEvents()


def grab_rgb(widget) -> np.ndarray:
    """The widget as rendered, at device resolution, as an (H, W, 3) uint8 array."""
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    h, w = image.height(), image.width()
    buf = np.frombuffer(image.constBits(), np.uint8, count=image.bytesPerLine() * h)
    return buf.reshape(h, image.bytesPerLine())[:, : w * 3].reshape(h, w, 3).copy()


def device_index_of_pixel(pane, i: int, j: int) -> tuple[int, int]:
    """(column, row) of the device pixel showing phone pixel (i, j) at 100%, nearest sampling.

    Device pixel k shows view coordinate x0 + k + 0.5, which lies in phone pixel floor(x0 + k + 1).
    """
    x0, y0, _, _ = pane.visible_rect()
    return int(np.ceil(i - 1 - x0)), int(np.ceil(j - 1 - y0))
