"""The one shared view of the phone frame that every image pane shows.

The state is a centre (phone-frame px) and a zoom (device pixels per phone-frame pixel).  Panes
never talk to each other: a gesture in any pane changes this object, and each pane maps the state
to its own viewport.  Panes of equal size (see ``PaneRow``) therefore show exactly the same
phone-frame rectangle, and panes of any size share centre and scale, pixel for pixel.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

MIN_ZOOM = 1.0 / 256.0
MAX_ZOOM = 128.0


class ViewState(QObject):
    """Centre and zoom of the phone-frame view; emits ``changed`` after every change."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._cx = 0.0
        self._cy = 0.0
        self._zoom = 1.0

    # ----------------------------------------------------------------- reading

    @property
    def centre(self) -> tuple[float, float]:
        return self._cx, self._cy

    @property
    def zoom(self) -> float:
        """Device pixels per phone-frame pixel (1.0 is true 100%)."""
        return self._zoom

    def rect(self, viewport_w: float, viewport_h: float) -> tuple[float, float, float, float]:
        """(x, y, w, h) of the phone frame visible in a viewport of the given device-pixel size."""
        w = viewport_w / self._zoom
        h = viewport_h / self._zoom
        return self._cx - w / 2.0, self._cy - h / 2.0, w, h

    # ----------------------------------------------------------------- changing

    def set_view(self, cx: float, cy: float, zoom: float | None = None) -> None:
        zoom = self._zoom if zoom is None else min(MAX_ZOOM, max(MIN_ZOOM, float(zoom)))
        if (cx, cy, zoom) == (self._cx, self._cy, self._zoom):
            return
        self._cx, self._cy, self._zoom = float(cx), float(cy), zoom
        self.changed.emit()

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the view by (dx, dy) phone-frame pixels."""
        self.set_view(self._cx + dx, self._cy + dy)

    def zoom_about(self, factor: float, ax: float, ay: float) -> None:
        """Zoom by ``factor`` keeping the phone-frame point (ax, ay) where it is on screen."""
        new = min(MAX_ZOOM, max(MIN_ZOOM, self._zoom * factor))
        keep = self._zoom / new
        self.set_view(ax + (self._cx - ax) * keep, ay + (self._cy - ay) * keep, new)

    def zoom_by(self, factor: float) -> None:
        self.zoom_about(factor, self._cx, self._cy)

    def show_rect(self, x: float, y: float, w: float, h: float, viewport_w: float, viewport_h: float,
                  max_zoom: float = MAX_ZOOM) -> None:
        """Centre the rectangle and zoom so that it just fits the viewport (device px)."""
        if w <= 0 or h <= 0 or viewport_w <= 0 or viewport_h <= 0:
            return
        zoom = min(viewport_w / w, viewport_h / h, max_zoom)
        self.set_view(x + w / 2.0, y + h / 2.0, zoom)

    def fit(self, image_w: int, image_h: int, viewport_w: float, viewport_h: float) -> None:
        """Show the whole image (pixel edges at -0.5 and size - 0.5)."""
        self.show_rect(-0.5, -0.5, image_w, image_h, viewport_w, viewport_h)

    def centre_on(self, x: float, y: float) -> None:
        self.set_view(x, y)
