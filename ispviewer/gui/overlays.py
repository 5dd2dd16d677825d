"""Overlays drawn over every pane: misalignment heatmap, patch grid, selected patch, colour bar.

The grid is one item that paints a prebuilt QPainterPath per (status, who decided) group, so
thousands of patches cost a handful of draw calls, not thousands of scene items.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen, QPixmap

from ispviewer.dataset.records import DecidedBy, PatchRecord, Status
from ispviewer.gui.heatmap_style import DEFAULT_FLOOR_PX, colour_table, rgba_table
from ispviewer.gui.sources import Heatmap

STATUS_COLOURS = {
    Status.ACCEPTED: QColor("#34c759"),
    Status.REJECTED: QColor("#ff453a"),
    Status.FLAGGED: QColor("#ffd60a"),
}
HEATMAP_Z, GRID_Z, SELECTION_Z = 10, 20, 30


def colormap() -> pg.ColorMap:
    """The heatmap's colour scale (:mod:`ispviewer.gui.heatmap_style`) as a pyqtgraph map."""
    table = colour_table()
    return pg.ColorMap(np.linspace(0.0, 1.0, len(table)), table)


def _pen(status: Status, decided_by: DecidedBy) -> QPen:
    """Thin for the aligner's decisions, three times thicker for a person's.

    (Dashed outlines were measured 3x slower to stroke than solid ones for thousands of patches.)
    """
    pen = QPen(STATUS_COLOURS[status])
    pen.setCosmetic(True)
    pen.setCapStyle(Qt.PenCapStyle.SquareCap)  # closes the corners where two outline runs meet
    pen.setWidthF(3.0 if decided_by == DecidedBy.USER else 1.0)
    return pen


def merged_runs(fixed: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Axis-aligned segments (fixed coordinate, start..end) merged into maximal runs.

    Neighbouring patches share edges and a row of patches shares one line: a regular grid of
    R x C patches becomes R + 1 + C + 1 lines instead of 4 R C edges.  Returns rows (fixed, a, b).
    """
    if fixed.size == 0:
        return np.zeros((0, 3))
    seg = np.unique(np.stack([fixed, start, end], axis=1), axis=0)  # sorted by fixed, then start
    new_run = np.ones(len(seg), bool)
    new_run[1:] = (seg[1:, 0] != seg[:-1, 0]) | (seg[1:, 1] > seg[:-1, 2])
    first = np.flatnonzero(new_run)
    return np.stack([seg[first, 0], seg[first, 1], np.maximum.reduceat(seg[:, 2], first)], axis=1)


def _outline_path(x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray) -> QPainterPath:
    """The outlines of rectangles (x0, y0)-(x1, y1), as merged horizontal and vertical runs."""
    path = QPainterPath()
    for y, a, b in merged_runs(np.concatenate([y0, y1]), np.concatenate([x0, x0]), np.concatenate([x1, x1])):
        path.moveTo(a, y)
        path.lineTo(b, y)
    for x, a, b in merged_runs(np.concatenate([x0, x1]), np.concatenate([y0, y0]), np.concatenate([y1, y1])):
        path.moveTo(x, a)
        path.lineTo(x, b)
    return path


def group_key(p: PatchRecord) -> tuple[Status, DecidedBy]:
    return p.status, p.decided_by


def group_path(patches: list[PatchRecord]) -> QPainterPath:
    """The merged outlines of some patches (one status/decider group)."""
    xy = np.array([(p.x - 0.5, p.y - 0.5, p.size) for p in patches], dtype=np.float64).reshape(-1, 3)
    return _outline_path(xy[:, 0], xy[:, 1], xy[:, 0] + xy[:, 2], xy[:, 1] + xy[:, 2])


@dataclass(frozen=True)
class GridPaths:
    """The patch grid ready to paint: (group, pen, path) in drawing order, and the bounds.

    QPainterPath and QPen are implicitly shared value types: one GridPaths serves every pane, and
    may be built in a worker thread.
    """

    groups: tuple[tuple[tuple[Status, DecidedBy], QPen, QPainterPath], ...] = ()
    bounds: QRectF = field(default_factory=QRectF)

    def path(self, key: tuple[Status, DecidedBy]) -> QPainterPath | None:
        return next((path for k, _, path in self.groups if k == key), None)


def grid_paths(patches: list[PatchRecord], reuse: GridPaths | None = None,
               changed: set | None = None) -> GridPaths:
    """Build the grid of ``patches``; with ``reuse``, only the groups in ``changed`` are rebuilt."""
    if not patches:
        return GridPaths()
    members: dict[tuple, list[PatchRecord]] = {}
    for p in patches:
        members.setdefault(group_key(p), []).append(p)
    # the aligner's first, so a person's thick outline is drawn over a neighbour's thin one
    order = sorted(members, key=lambda k: (k[1] == DecidedBy.USER, k[0].value))
    groups = []
    for key in order:
        path = reuse.path(key) if reuse is not None and key not in (changed or set()) else None
        groups.append((key, _pen(*key), path if path is not None else group_path(members[key])))
    left, top = min(p.x for p in patches) - 0.5, min(p.y for p in patches) - 0.5
    right = max(p.x + p.size for p in patches) - 0.5
    bottom = max(p.y + p.size for p in patches) - 0.5
    pad = max(p.size for p in patches) / 8.0
    return GridPaths(tuple(groups), QRectF(left - pad, top - pad, right - left + 2 * pad, bottom - top + 2 * pad))


class PatchGridItem(pg.GraphicsObject):
    """All patches of a triplet, outlined by status (colour) and decider (thin auto, thick user)."""

    def __init__(self):
        super().__init__()
        self.grid = GridPaths()
        self.setZValue(GRID_Z)

    def set_grid(self, grid: GridPaths) -> None:
        self.prepareGeometryChange()
        self.grid = grid
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802
        return self.grid.bounds

    def paint(self, painter: QPainter, *args) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for _key, pen, path in self.grid.groups:
            painter.setPen(pen)
            painter.drawPath(path)


class SelectionItem(pg.GraphicsObject):
    """The selected patch: a white outline with a dark edge, visible on any image."""

    def __init__(self):
        super().__init__()
        self._rect: QRectF | None = None
        self.setZValue(SELECTION_Z)
        self._outer = QPen(QColor(0, 0, 0, 200), 5.0)
        self._inner = QPen(QColor("#ffffff"), 2.5)
        for pen in (self._outer, self._inner):
            pen.setCosmetic(True)
            pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)

    def set_patch(self, patch: PatchRecord | None) -> None:
        self.prepareGeometryChange()
        self._rect = None if patch is None else QRectF(patch.x - 0.5, patch.y - 0.5, patch.size, patch.size)
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802
        if self._rect is None:
            return QRectF()
        pad = self._rect.width() / 4.0
        return self._rect.adjusted(-pad, -pad, pad, pad)

    def paint(self, painter: QPainter, *args) -> None:
        if self._rect is None:
            return
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for pen in (self._outer, self._inner):
            painter.setPen(pen)
            painter.drawRect(self._rect)


class HeatmapItem(pg.ImageItem):
    """The misalignment heatmap in phone-frame coordinates, interpolated smoothly between its cells
    (it is a coarse measurement: drawing each cell as a block would invent edges that are not there)."""

    def __init__(self):
        super().__init__()
        self.setZValue(HEATMAP_Z)
        self.setOpacity(0.5)

    def set_rgba(self, rgba: np.ndarray | None, heatmap: Heatmap | None) -> None:
        if rgba is None or heatmap is None:
            self.clear()
            return
        h, w = rgba.shape[:2]
        self.setImage(rgba, autoLevels=False, levels=None)
        self.setRect(QRectF(-0.5, -0.5, w * heatmap.scale, h * heatmap.scale))

    def paint(self, painter: QPainter, *args):
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        super().paint(painter, *args)


class PaneOverlays:
    """The overlay items of one pane."""

    def __init__(self, pane):
        self.heatmap = HeatmapItem()
        self.grid = PatchGridItem()
        self.selection = SelectionItem()
        for item in (self.heatmap, self.grid, self.selection):
            pane.add_item(item)


class ColorBar(pg.GraphicsLayoutWidget):
    """A vertical colour bar for the heatmap, labelled in px: transparent below the floor (as the
    heatmap is), with the threshold marked."""

    def __init__(self, vmax: float, parent=None):
        super().__init__(parent=parent)
        self.setBackground("#202124")
        self.vmax, self.floor_px, self.threshold_px = vmax, DEFAULT_FLOOR_PX, vmax / 2.0
        self.bar = pg.ColorBarItem(values=(0.0, vmax), colorMap=colormap(), label="misalignment (px)",
                                   interactive=False, width=14, colorMapMenu=False)
        self.addItem(self.bar)
        pen = pg.mkPen("#ffffff", width=2)
        self.threshold_line = pg.InfiniteLine(angle=0, pen=pen, movable=False)
        self.threshold_line.setZValue(10)
        self.bar.addItem(self.threshold_line)
        self.floor_line = pg.InfiniteLine(angle=0, pen=pg.mkPen("#9aa0a6", width=1, style=Qt.PenStyle.DashLine),
                                          movable=False)
        self.bar.addItem(self.floor_line)
        self.setFixedWidth(78)
        self._redraw()

    def set_range(self, vmax: float, threshold_px: float | None = None) -> None:
        self.vmax = vmax
        self.threshold_px = vmax / 2.0 if threshold_px is None else threshold_px
        self.bar.setLevels((0.0, vmax))
        self._redraw()

    def set_floor(self, floor_px: float) -> None:
        self.floor_px = floor_px
        self._redraw()

    def mark_position(self, value_px: float) -> float:
        """Where ``value_px`` sits on the bar, in its own coordinates (0 bottom, 256 top)."""
        return 256.0 * min(max(value_px / max(self.vmax, 1e-6), 0.0), 1.0)

    def _redraw(self) -> None:
        table = rgba_table(self.vmax, self.floor_px, self.threshold_px)
        column = np.ascontiguousarray(table[:, None, :])  # row 0 = 0 px, drawn at the bottom (y up)
        image = QImage(column.data, 1, len(table), 4, QImage.Format.Format_RGBA8888).copy()
        self.bar.bar.setPixmap(QPixmap.fromImage(image))
        self.threshold_line.setPos(self.mark_position(self.threshold_px))
        self.floor_line.setPos(self.mark_position(self.floor_px))
        self.threshold_line.setToolTip(f"threshold {self.threshold_px:.2f} px")
