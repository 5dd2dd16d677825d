"""Triplet browser dock: a sortable, filterable table of the dataset's triplets (by status, phone
model, tag and name), with each triplet's illumination, split and tags."""

from __future__ import annotations

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import qdebounced

from ispviewer.dataset.records import AlignState, TripletRecord
from ispviewer.gui.background import Generation, Offload
from ispviewer.gui.state import WindowState

#: the error column fits the default dock width; light, split and tags follow (scroll or widen the dock)
COLUMNS = ("name", "phone", "acc", "rej", "flag", "mean px", "error", "light", "split", "tags")
COLUMN_TIPS = ("triplet name", "phone make and model", "accepted patches", "rejected patches", "flagged patches",
               "mean misalignment of the measured patches (px)", "alignment or loading error",
               "illumination class of the phone capture (EV100)", "train / val / test (ispviewer split)",
               "tags (ispviewer tag)")
MEAN_COL, ERROR_COL = COLUMNS.index("mean px"), COLUMNS.index("error")
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
#: the roles the table answers (any other is None without looking at the record)
_ROLES = frozenset((Qt.ItemDataRole.DisplayRole, SORT_ROLE, Qt.ItemDataRole.ToolTipRole,
                    Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.DecorationRole,
                    Qt.ItemDataRole.TextAlignmentRole))
PHONE_COLUMN_WIDTH = 96
RESIZE_PRECISION_ROWS = 100  # rows a column's width is measured on

STATUS_FILTERS = {
    "all triplets": lambda r, err: True,
    "with rejected": lambda r, err: r.patch_counts.get("rejected", 0) > 0,
    "with flagged": lambda r, err: r.patch_counts.get("flagged", 0) > 0,
    "with accepted": lambda r, err: r.patch_counts.get("accepted", 0) > 0,
    "not aligned": lambda r, err: r.align_state == AlignState.PENDING,
    "with errors": lambda r, err: bool(err),
}


def missing_files(record: TripletRecord, resolve) -> str | None:
    """"missing: raw.dng, target.jpg" for the capture files of ``record`` not on disk (None: all there)."""
    gone = []
    for relative in (record.files.raw, record.files.phone, record.files.target):
        try:
            present = resolve(relative).is_file()
        except Exception:  # noqa: BLE001 - an unsafe path counts as missing here (loading says why)
            present = False
        if not present:
            gone.append(relative.rsplit("/", 1)[-1])
    return f"missing: {', '.join(gone)}" if gone else None


_MISSING_ICON = None


def missing_icon():
    global _MISSING_ICON
    if _MISSING_ICON is None:
        import qtawesome as qta

        _MISSING_ICON = qta.icon("mdi6.file-alert-outline", color="#ff6b61")
    return _MISSING_ICON


class TripletTableModel(QAbstractTableModel):
    """One row per triplet; load errors found by the viewer are shown next to alignment errors."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.records: list[TripletRecord] = []
        self.load_errors: dict[str, str] = {}
        self.missing: dict[str, str] = {}  # name -> "missing: phone.jpg, …" (files not on disk)
        self.tags: dict[str, tuple[str, ...]] = {}
        self._rows: dict[str, int] = {}  # name -> row

    def row_of(self, name: str | None) -> int | None:
        """The row of the triplet called ``name`` (None: not in the table)."""
        return self._rows.get(name) if name is not None else None

    def set_records(self, records: list[TripletRecord], missing: dict[str, str] | None = None,
                    tags: dict[str, tuple[str, ...]] | None = None) -> None:
        self.beginResetModel()
        self.records = list(records)
        self._rows = {r.name: row for row, r in enumerate(self.records)}
        self.missing = dict(missing or {})
        if tags is not None:
            self.tags = dict(tags)
        self.endResetModel()

    def set_missing(self, missing: dict[str, str]) -> None:
        """Name -> "missing: …" for the triplets whose files are gone; only changed rows repaint."""
        changed = {n for n in set(missing) | set(self.missing) if missing.get(n) != self.missing.get(n)}
        self.missing = dict(missing)
        for row, r in enumerate(self.records):
            if r.name in changed:
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def update_record(self, record: TripletRecord) -> None:
        """A triplet's fresh record (after a decision): only the cells whose value changed repaint.

        A change that leaves the name alone does not make the sorted view re-sort, and one that
        shows nothing new (a person confirming the aligner) costs nothing.
        """
        for row, old in enumerate(self.records):
            if old.id == record.id:
                self.records[row] = record
                changed = [c for c in range(len(COLUMNS)) if self._value(old, c) != self._value(record, c)]
                if changed:
                    self.dataChanged.emit(self.index(row, min(changed)), self.index(row, max(changed)))
                return

    def set_load_error(self, name: str, message: str | None) -> None:
        if self.load_errors.get(name) == (message or None):
            return  # unchanged: a dataChanged would make the sorted view re-read every row
        if message:
            self.load_errors[name] = message
        else:
            self.load_errors.pop(name, None)
        for row, r in enumerate(self.records):
            if r.name == name:
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def error_of(self, record: TripletRecord) -> str:
        parts = [record.align_error] if record.align_state == AlignState.FAILED and record.align_error else []
        if record.name in self.missing:
            parts.append(self.missing[record.name])
        if record.name in self.load_errors:
            parts.append(self.load_errors[record.name])
        return "; ".join(parts)

    def _value(self, r: TripletRecord, col: int):
        if col == 0:
            return r.name
        if col == 1:
            return r.phone_model or "?"
        if 2 <= col <= 4:
            return r.patch_counts.get(("accepted", "rejected", "flagged")[col - 2], 0)
        if col == MEAN_COL:
            return r.mean_misalignment
        if col == ERROR_COL:
            return self.error_of(r)
        if col == COLUMNS.index("light"):
            return (r.metadata.illumination if r.metadata else None) or ""
        if col == COLUMNS.index("split"):
            return r.split or ""
        return " ".join(self.tags.get(r.name, ()))

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.records)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return COLUMN_TIPS[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if role not in _ROLES or not index.isValid():  # a cell's paint asks for ~10 roles
            return None
        r = self.records[index.row()]
        col = index.column()
        value = self._value(r, col)  # only the column asked for: sorting asks for thousands of cells
        if role == Qt.ItemDataRole.DisplayRole:
            if col == MEAN_COL:
                return "—" if value is None else f"{value:.2f}"
            return str(value) if col not in (2, 3, 4) else value
        if role == SORT_ROLE:
            if col == MEAN_COL:
                return float("inf") if value is None else float(value)
            return value
        if role == Qt.ItemDataRole.ToolTipRole and col == COLUMNS.index("light") and r.metadata \
                and r.metadata.ev100 is not None:
            return f"EV100 {r.metadata.ev100:.1f}"
        if role == Qt.ItemDataRole.ToolTipRole and col == ERROR_COL and value:
            return value
        if r.name in self.missing and col == 0:
            if role == Qt.ItemDataRole.ForegroundRole:
                return QColor("#ff6b61")
            if role == Qt.ItemDataRole.ToolTipRole:
                return self.missing[r.name]
            if role == Qt.ItemDataRole.DecorationRole:
                return missing_icon()
        if role == Qt.ItemDataRole.ToolTipRole and col == 1:
            return value
        if role == Qt.ItemDataRole.ForegroundRole and col == ERROR_COL and value:
            return QColor("#ff6b61")
        if role == Qt.ItemDataRole.TextAlignmentRole and 2 <= col <= MEAN_COL:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class TripletFilter(QSortFilterProxyModel):
    """Filters by patch status / state, phone model, tag and a name substring."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.status = "all triplets"
        self.phone_model = ""
        self.tag = ""
        self.text = ""
        self.setSortRole(SORT_ROLE)

    def set_filters(self, status: str | None = None, phone_model: str | None = None,
                    text: str | None = None, tag: str | None = None) -> None:
        self.beginFilterChange()
        if status is not None:
            self.status = status
        if phone_model is not None:
            self.phone_model = phone_model
        if tag is not None:
            self.tag = tag
        if text is not None:
            self.text = text.strip().lower()
        self.endFilterChange()

    def filterAcceptsRow(self, row: int, parent) -> bool:  # noqa: N802
        model: TripletTableModel = self.sourceModel()
        r = model.records[row]
        if self.phone_model and r.phone_model != self.phone_model:
            return False
        if self.tag and self.tag not in model.tags.get(r.name, ()):
            return False
        if self.text and self.text not in r.name.lower():
            return False
        return STATUS_FILTERS[self.status](r, model.error_of(r))


class FilterBox(QLineEdit):
    """The name filter.  Enter emits ``submitted``, Esc ``left`` (and nothing else: the window's
    Esc shortcut, cancel rendering, does not fire while typing here)."""

    submitted = Signal()
    left = Signal()

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and event.key() == Qt.Key.Key_Escape:
            event.accept()  # Esc is ours here, not the window's shortcut
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:  # noqa: N802
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.submitted.emit()
            return
        if event.key() == Qt.Key.Key_Escape:
            self.left.emit()
            return
        super().keyPressEvent(event)


class TripletBrowser(QWidget):
    """The dock's content: filters above a table.  Emits ``activated(name)`` on a user choice."""

    activated = Signal(str)
    #: the person is done with the filter box (Enter or Esc): the keys go back to the views
    filter_done = Signal()
    ANY_MODEL = "any phone model"
    ANY_TAG = "any tag"

    def __init__(self, state: WindowState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        # the row follows the current triplet right after the window painted it, not before: a jump
        # to a far row scrolls and repaints the whole table (10-40 ms), which would delay the new
        # images on screen; a burst of triplet changes (PgDown held) selects the last one once
        self._follow_soon = qdebounced(self._follow_current, timeout=0, parent=self)
        state.events.triplet.connect(self._follow)
        self.model = TripletTableModel(self)
        self.proxy = TripletFilter(self)
        self.proxy.setSourceModel(self.model)
        self._file_checker = Offload("browser-files")  # are the capture files there? (stat calls)
        self._file_checks = Generation()
        self.checking_files = False  # a check runs whose marks are not shown yet

        self.status_box = QComboBox()
        self.status_box.addItems(list(STATUS_FILTERS))
        self.phone_box = QComboBox()
        self.phone_box.addItem(self.ANY_MODEL)
        self.tag_box = QComboBox()
        self.tag_box.addItem(self.ANY_TAG)
        self.tag_box.setToolTip("show only the triplets with this tag (ispviewer tag DATASET NAME --add TAG)")
        self.search = FilterBox()
        self.search.setObjectName("tripletFilter")
        self.search.setPlaceholderText("filter by name… (Ctrl+F; Enter opens the first)")
        self.search.setClearButtonEnabled(True)

        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        # columns are fitted to their contents when the rows change (see _fit_columns), not on every
        # cell change: a header in ResizeToContents mode re-measures its columns after each decision
        # (~150 ms with thousands of triplets); widths from the rows in view and a few more
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setResizeContentsPrecision(RESIZE_PRECISION_ROWS)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)  # long phone names are elided
        header.resizeSection(1, PHONE_COLUMN_WIDTH)
        header.setMinimumSectionSize(24)
        header.setSectionResizeMode(ERROR_COL, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(ERROR_COL, 72)  # a word; the whole message is its tooltip
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.model.modelReset.connect(self._fit_columns)

        filters = QHBoxLayout()
        filters.addWidget(self.status_box)
        filters.addWidget(self.phone_box)
        filters.addWidget(self.tag_box)
        filters.addWidget(self.search, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)

        self.status_box.currentTextChanged.connect(lambda s: self.proxy.set_filters(status=s))
        self.phone_box.currentTextChanged.connect(
            lambda s: self.proxy.set_filters(phone_model="" if s == self.ANY_MODEL else s))
        self.tag_box.currentTextChanged.connect(lambda s: self.proxy.set_filters(tag="" if s == self.ANY_TAG else s))
        self.search.textChanged.connect(lambda s: self.proxy.set_filters(text=s))
        self.search.submitted.connect(self._open_first)
        self.search.left.connect(self.filter_done)
        self.table.clicked.connect(self._on_clicked)
        self.table.activated.connect(self._on_clicked)

    # ----------------------------------------------------------------- data

    def _files_checked(self, future, generation: int) -> None:
        if not self._file_checks.is_current(generation):
            return  # another set of triplets came meanwhile; its own check follows
        self.checking_files = False
        if not future.cancelled() and future.exception() is None:
            self.model.set_missing(future.result())
            self._fit_columns()  # a missing-file mark widens the name column

    def _fit_columns(self) -> None:
        """Size every column but the phone and error ones (elided, tooltips) to its contents."""
        for col in range(len(COLUMNS)):
            if col not in (1, ERROR_COL):
                self.table.resizeColumnToContents(col)

    def shutdown(self) -> None:
        """No file check is applied any more (the window closes)."""
        self._follow_soon.cancel()
        self._file_checker.shutdown()

    def set_triplets(self, records: list[TripletRecord], resolve=None,
                     tags: dict[str, tuple[str, ...]] | None = None) -> None:
        """Show ``records``; with ``resolve`` (manifest path -> file) triplets whose files are gone
        are marked; ``tags`` (name -> tags) fills the tags column and the tag filter."""
        current = self.current_name()
        names_now = {r.name for r in records}
        known = {n: m for n, m in self.model.missing.items() if n in names_now}  # until checked again
        self.model.set_records(records, known, tags)
        generation = self._file_checks.next()
        if resolve is None:
            self.model.set_missing({})
            self.checking_files = False
        else:  # thousands of stat calls: a worker looks, the marks follow when it is done
            self.checking_files = True
            self._file_checker.submit(lambda: {r.name: m for r in records if (m := missing_files(r, resolve))},
                                      on_done=lambda f: self._files_checked(f, generation))
        names = sorted({t for ts in self.model.tags.values() for t in ts})
        chosen_tag = self.tag_box.currentText()
        self.tag_box.blockSignals(True)
        self.tag_box.clear()
        self.tag_box.addItems([self.ANY_TAG, *names])
        self.tag_box.setCurrentText(chosen_tag if chosen_tag in names else self.ANY_TAG)
        self.tag_box.blockSignals(False)
        self.proxy.set_filters(tag="" if self.tag_box.currentText() == self.ANY_TAG else self.tag_box.currentText())
        models = sorted({r.phone_model or "?" for r in records})
        chosen = self.phone_box.currentText()
        self.phone_box.blockSignals(True)
        self.phone_box.clear()
        self.phone_box.addItems([self.ANY_MODEL, *models])
        self.phone_box.setCurrentText(chosen if chosen in models else self.ANY_MODEL)
        self.phone_box.blockSignals(False)
        self.proxy.set_filters(phone_model="" if self.phone_box.currentText() == self.ANY_MODEL
                               else self.phone_box.currentText())
        if current:
            self.select(current)

    def update_triplet(self, record: TripletRecord) -> None:
        self.model.update_record(record)

    # ----------------------------------------------------------------- navigation

    def visible_names(self) -> list[str]:
        """Names in the table's current (sorted, filtered) order."""
        return [self.proxy.index(row, 0).data() for row in range(self.proxy.rowCount())]

    def current_name(self) -> str | None:
        index = self.table.currentIndex()
        return self.proxy.index(index.row(), 0).data() if index.isValid() else None

    def visible_row(self, name: str | None) -> int | None:
        """The row ``name`` is shown at (sorted, filtered), None when it is not shown — looked up,
        not searched: the walk to the next triplet asks on every move."""
        row = self.model.row_of(name)
        if row is None:
            return None
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        return index.row() if index.isValid() else None

    def select(self, name: str) -> bool:
        row = self.visible_row(name)
        if row is not None:
            self.table.setCurrentIndex(self.proxy.index(row, 0))
            self.table.scrollTo(self.proxy.index(row, 0))
            return True
        self.table.clearSelection()
        return False

    def neighbour(self, name: str | None, step: int) -> str | None:
        """The triplet ``step`` rows from ``name`` in the visible order (None past either end)."""
        count = self.proxy.rowCount()
        if not count:
            return None
        row = self.visible_row(name)
        if row is None:
            return self.proxy.index(0 if step > 0 else count - 1, 0).data()
        i = row + step
        return self.proxy.index(i, 0).data() if 0 <= i < count else None

    def _follow(self, record: TripletRecord | None) -> None:
        """The current triplet changed: its row is selected once the event loop has painted."""
        if record is not None:
            self._follow_soon()

    def _follow_current(self) -> None:
        record = self.state.triplet
        if record is not None:
            self.select(record.name)

    def focus_filter(self) -> None:
        """Put the keys into the filter box, its text selected (Ctrl+F)."""
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def _open_first(self) -> None:
        names = self.visible_names()
        if names:
            self.activated.emit(names[0])
        self.filter_done.emit()

    def _on_clicked(self, index: QModelIndex | QPersistentModelIndex) -> None:
        name = self.proxy.index(index.row(), 0).data()
        if name:
            self.activated.emit(name)
