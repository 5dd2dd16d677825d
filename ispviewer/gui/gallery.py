"""The patch gallery: pages of tiles from the active review queue, in its dataset-wide order.

Each tile is the phone patch and its matched target patch side by side at 1:1 (one image pixel
per device pixel), with misalignment, NCC and status below.  While the gallery has the keyboard
focus its keys act on it — arrows move the focus (Shift extends the selection), A / R / F decide
the focused tile or the selection, Space flickers the focused tile phone ↔ target, Enter opens the
triplet in the main view, PgDown / PgUp turn pages — and the window's shortcuts for the same keys
wait.  The view follows the window state's review queue (``state.review``) and the decisions the
session shows; tiles come from a :class:`~ispviewer.gui.gallery_tiles.TileSource`.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QKeyEvent, QPainter, QPen
from PySide6.QtWidgets import QLabel, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

from ispviewer.dataset.records import DecidedBy, PatchRecord, Status
from ispviewer.gui.gallery_panels import TilePanels
from ispviewer.gui.gallery_tiles import TileSource
from ispviewer.gui.state import WindowState

PAGE_SIZE = 48
PREFETCH_DELAY_MS = 40  # the next page's tiles are asked for after this page is painted
GAP = 8
LABEL_H = 34
STATUS_COLOURS = {Status.ACCEPTED: QColor("#3fa34d"), Status.REJECTED: QColor("#d64545"),
                  Status.FLAGGED: QColor("#e0a030")}
DECIDE_KEYS = {Qt.Key.Key_A: Status.ACCEPTED, Qt.Key.Key_R: Status.REJECTED, Qt.Key.Key_F: Status.FLAGGED}
MOVE_KEYS = (Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down)
OWN_KEYS = set(DECIDE_KEYS) | set(MOVE_KEYS) | {Qt.Key.Key_Space, Qt.Key.Key_Return, Qt.Key.Key_Enter,
                                                 Qt.Key.Key_PageDown, Qt.Key.Key_PageUp, Qt.Key.Key_Home,
                                                 Qt.Key.Key_End}


class TileGrid(QWidget):
    """The page's tiles, painted; owns the keyboard while focused."""

    def __init__(self, gallery: PatchGallery):
        super().__init__()
        self.gallery = gallery
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setObjectName("galleryGrid")

    # ----------------------------------------------------------------- geometry

    def panel_size(self) -> int:
        """Logical size of one panel (a patch at 1:1 device pixels)."""
        return int(self.gallery.patch_size() / max(self.devicePixelRatioF(), 1e-6))

    def tile_size(self) -> tuple[int, int]:
        """Logical size of one tile (its panels side by side, the label below)."""
        size, n = self.panel_size(), len(self.gallery.panels.names)
        return int(n * size + (n - 1) * (GAP // 2)), int(size + LABEL_H)

    def columns(self) -> int:
        w, _ = self.tile_size()
        width = self.gallery.scroll.viewport().width()
        return max(1, (width - GAP) // (w + GAP))

    def tile_rect(self, index: int) -> QRect:
        w, h = self.tile_size()
        row, col = divmod(index, self.columns())
        return QRect(GAP + col * (w + GAP), GAP + row * (h + GAP), w, h)

    def relayout(self) -> None:
        n = len(self.gallery.page_patches)
        w, h = self.tile_size()
        if not n:  # room for the words that say why there is nothing
            self.setFixedSize(max(self.gallery.scroll.viewport().width() - 2, 200), 3 * h)
            return
        rows = -(-n // self.columns())
        self.setFixedSize(self.columns() * (w + GAP) + GAP, rows * (h + GAP) + GAP)

    def index_at(self, x: float, y: float) -> int | None:
        for i in range(len(self.gallery.page_patches)):
            if self.tile_rect(i).contains(int(x), int(y)):
                return i
        return None

    # ----------------------------------------------------------------- painting

    def paintEvent(self, _event) -> None:  # noqa: N802
        g = self.gallery
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#202226"))
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        painter.setFont(font)
        if not g.page_patches:
            painter.setPen(QColor("#c8ccd2"))
            painter.drawText(self.rect().adjusted(GAP, GAP, -GAP, -GAP), Qt.TextFlag.TextWordWrap
                             | Qt.AlignmentFlag.AlignCenter, g.empty_text())
        size = self.panel_size()
        for i, patch in enumerate(g.page_patches):
            rect = self.tile_rect(i)
            if not rect.intersects(_event.rect()):
                continue
            g.panels.paint(painter, rect.x(), rect.y(), size, GAP // 2, patch, g.flickered and i == g.focus)
            colour = STATUS_COLOURS[patch.status]
            mis = f"{patch.misalignment_px:.2f} px" if patch.misalignment_px is not None else "not measurable"
            who = (patch.annotator or "a person") if patch.decided_by == DecidedBy.USER else "auto"
            painter.setPen(QColor("#e6e8eb"))
            painter.drawText(rect.x() + 2, rect.bottom() - LABEL_H + 14, f"{mis}   NCC {patch.ncc:.2f}")
            painter.setPen(colour)
            painter.drawText(rect.x() + 2, rect.bottom() - 4, f"{patch.status.value} ({who})  {patch.triplet}")
            painter.setPen(QPen(colour, 3 if patch.decided_by == DecidedBy.USER else 1))
            painter.drawRect(rect.adjusted(-2, -2, 1, 1))
            if i in g.selection:
                painter.fillRect(rect, QColor(80, 140, 255, 60))
            if i == g.focus:
                painter.setPen(QPen(QColor("#ffffff"), 2, Qt.PenStyle.DashLine))
                painter.drawRect(rect.adjusted(-5, -5, 4, 4))
        painter.end()

    # ----------------------------------------------------------------- input

    def event(self, event) -> bool:
        # the window's shortcuts (A, R, F, N, PgDown...) wait while the gallery has the focus
        if event.type() == QEvent.Type.ShortcutOverride and self._own(event):
            event.accept()
            return True
        return super().event(event)

    @staticmethod
    def _own(event: QKeyEvent) -> bool:
        mods = event.modifiers() & ~(Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.KeypadModifier)
        return event.key() in OWN_KEYS and mods == Qt.KeyboardModifier.NoModifier

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if not self._own(event):
            super().keyPressEvent(event)
            return
        g, key = self.gallery, event.key()
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        cols = self.columns()
        moves = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1, Qt.Key.Key_Up: -cols, Qt.Key.Key_Down: cols}
        if key in moves:
            g.move_focus(moves[key], extend=shift)
        elif key in DECIDE_KEYS and not shift:
            g.decide(DECIDE_KEYS[key])
        elif key == Qt.Key.Key_Space:
            g.flicker()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            g.open_focused()
        elif key == Qt.Key.Key_PageDown:
            g.turn_page(+1)
        elif key == Qt.Key.Key_PageUp:
            g.turn_page(-1)
        elif key == Qt.Key.Key_Home:
            g.set_focus(0)
        elif key == Qt.Key.Key_End:
            g.set_focus(len(g.page_patches) - 1)
        event.accept()

    def mousePressEvent(self, event) -> None:  # noqa: N802
        i = self.index_at(event.position().x(), event.position().y())
        self.setFocus()
        if i is None:
            return
        mods = event.modifiers()
        if mods & Qt.KeyboardModifier.ControlModifier:
            self.gallery.toggle_selected(i)
        elif mods & Qt.KeyboardModifier.ShiftModifier:
            self.gallery.select_range(self.gallery.focus, i)
        else:
            self.gallery.selection.clear()
        self.gallery.set_focus(i)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802
        i = self.index_at(event.position().x(), event.position().y())
        if i is not None:
            self.gallery.set_focus(i)
            self.gallery.open_focused()


class PatchGallery(QWidget):
    """Pages of the active queue (``state.review.queue``); decisions go through ``decide_patches``."""

    open_requested = Signal(object)  # PatchRecord: show its triplet in the main view, centred on it
    page_shown = Signal(int)  # page index, once its records are on screen (tiles may still arrive)

    def __init__(self, state: WindowState, tiles: TileSource,
                 decide_patches: Callable[[list[PatchRecord], Status], bool], parent: QWidget | None = None,
                 panels: TilePanels | None = None):
        super().__init__(parent)
        self.state = state
        self.tiles = tiles
        self.panels = panels if panels is not None else TilePanels(state, tiles, parent=self)
        self.decide_patches = decide_patches
        self.page = 0
        self.page_patches: list[PatchRecord] = []
        self.focus = 0
        self.selection: set[int] = set()
        self.flickered = False
        self._anchor: int | None = None
        self.header = QLabel()
        self.header.setObjectName("galleryHeader")
        self.header.setWordWrap(True)  # never widens the window's minimum
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.grid = TileGrid(self)
        self.scroll = QScrollArea()
        self.scroll.setWidget(self.grid)
        self.scroll.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.scroll.setFocusProxy(self.grid)
        self.setFocusProxy(self.grid)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.header)
        layout.addWidget(self.scroll, 1)
        tiles.ready.connect(self.grid.update)
        self.panels.ready.connect(self.grid.update)
        self.page_shown.connect(lambda _page: self.panels.request(self.page_patches))
        for name in ("output", "difference", "heatmap"):
            getattr(state.gallery.events, name).connect(self._on_options)
        state.review.events.queue.connect(self._on_queue)
        state.review.events.reviewed.connect(self._update_header)

    # ----------------------------------------------------------------- queue and pages

    @property
    def queue(self):
        return self.state.review.queue

    def page_count(self) -> int:
        q = self.queue
        return 0 if q is None or q.empty else -(-len(q) // PAGE_SIZE)

    def patch_size(self) -> int:
        return max((p.size for p in self.page_patches), default=128)

    def _on_queue(self, *_args) -> None:
        """Another queue: its first page (only decoded while the gallery is on screen)."""
        self.page, self.focus, self.page_patches = 0, 0, []
        self.selection.clear()
        if self.isVisible():
            self.show_page(0)
        else:
            self.grid.relayout()
            self._update_header()

    def show_page(self, page: int, focus: int = 0) -> None:
        q, dataset = self.queue, self.state.dataset
        if q is None or dataset is None or q.empty:
            self.page, self.page_patches = 0, []
            self.grid.relayout()
            self.grid.update()
            self._update_header()
            return
        self.page = min(max(page, 0), self.page_count() - 1)
        start = self.page * PAGE_SIZE
        self.page_patches = q.records(dataset.manifest, start, start + PAGE_SIZE)
        self.selection.clear()
        self.flickered = False
        self.tiles.request(self.page_patches)
        if self.page + 1 < self.page_count():  # the next page is prefetched, once this one is painted
            QTimer.singleShot(PREFETCH_DELAY_MS, lambda p=self.page: self._prefetch(p + 1))
        self.grid.relayout()
        self.set_focus(min(focus, len(self.page_patches) - 1))
        self._update_header()
        self.page_shown.emit(self.page)

    def _on_options(self, *_args) -> None:
        """A tile option changed: tiles of another width, their extras asked for."""
        self._update_header()
        self.grid.relayout()
        self.panels.refresh()
        self.set_focus(self.focus)

    def empty_text(self) -> str:
        """What the gallery says when it has no tile to show."""
        q = self.queue
        if q is None:
            return "No review queue: open a dataset"
        return (f"Nothing to review: the {self.state.review.spec.describe()} queue is empty (reviewed "
                f"{self.state.review.reviewed} of {q.total}). Queue… (Ctrl+5) chooses another queue or filters.")

    def _prefetch(self, page: int) -> None:
        q, dataset = self.queue, self.state.dataset
        if q is None or dataset is None or page != self.page + 1 or page >= self.page_count():
            return  # the gallery moved on meanwhile
        start = page * PAGE_SIZE
        self.tiles.request(q.records(dataset.manifest, start, start + PAGE_SIZE), current=False)

    def turn_page(self, step: int) -> None:
        if 0 <= self.page + step < self.page_count():
            self.show_page(self.page + step, focus=0)

    def _update_header(self, *_args) -> None:
        review = self.state.review
        if self.queue is None:
            self.header.setText("No review queue (open a dataset)")
        elif self.queue.empty:
            self.header.setText(f"The {review.spec.describe()} queue is empty — reviewed {review.reviewed} "
                                f"of {self.queue.total}")
        else:
            self.header.setText(f"{review.summary}   page {self.page + 1} of {self.page_count()}   "
                                f"tiles: {self.panels.caption()}   "
                                "arrows · A/R/F · Space flicker · Enter open · PgDown/PgUp · V back")

    # ----------------------------------------------------------------- focus and selection

    def set_focus(self, index: int) -> None:
        if not self.page_patches:
            return
        self.focus = min(max(index, 0), len(self.page_patches) - 1)
        self.flickered = False
        rect = self.grid.tile_rect(self.focus)
        self.scroll.ensureVisible(rect.center().x(), rect.center().y(), rect.width() // 2 + GAP,
                                  rect.height() // 2 + GAP)
        self.grid.update()

    def move_focus(self, step: int, extend: bool = False) -> None:
        if extend:
            if self._anchor is None or not self.selection:
                self._anchor = self.focus
            self.set_focus(self.focus + step)
            self.select_range(self._anchor, self.focus)
        else:
            self._anchor = None
            self.set_focus(self.focus + step)

    def toggle_selected(self, index: int) -> None:
        self.selection.symmetric_difference_update({index})
        self.grid.update()

    def select_range(self, a: int, b: int) -> None:
        lo, hi = sorted((a, b))
        self.selection = set(range(lo, hi + 1))
        self.grid.update()

    def focused_patch(self) -> PatchRecord | None:
        return self.page_patches[self.focus] if 0 <= self.focus < len(self.page_patches) else None

    # ----------------------------------------------------------------- actions

    def decide(self, status: Status) -> bool:
        """Decide the selection (or else the focused tile); a single tile moves the focus on."""
        chosen = sorted(self.selection) if self.selection else [self.focus]
        patches = [self.page_patches[i] for i in chosen if 0 <= i < len(self.page_patches)]
        if not patches or not self.decide_patches(patches, status):
            return False
        if not self.selection:
            self.set_focus(self.focus + 1)
        return True

    def show_decision(self, patch: PatchRecord) -> None:
        """A decision (or its undo) on ``patch`` is shown: repaint its tile if it is on this page."""
        for i, p in enumerate(self.page_patches):
            if p.id == patch.id:
                self.page_patches[i] = patch
                self.grid.update(self.grid.tile_rect(i).adjusted(-6, -6, 6, 6))

    def flicker(self) -> None:
        self.flickered = not self.flickered
        self.grid.update(self.grid.tile_rect(self.focus).adjusted(-6, -6, 6, 6))

    def open_focused(self) -> None:
        patch = self.focused_patch()
        if patch is not None:
            self.open_requested.emit(patch)

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if event.spontaneous() and self.page_patches:  # the window is back (the gallery asks itself otherwise)
            self.panels.request(self.page_patches)

    def hideEvent(self, event) -> None:  # noqa: N802
        super().hideEvent(event)
        self.panels.request([])  # off screen: the extras still being made for the page stop

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.grid.relayout()
