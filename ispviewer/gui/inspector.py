"""Patch inspector: the selected patch's measurements, status and decision history.

It follows the window state's selection and the selected patch's changes (a decision shows at once).
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ispviewer.dataset.records import DecisionEvent, PatchRecord
from ispviewer.gui.state import WindowState


def _fmt(value: float | None, unit: str = "", digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}{unit}"


class PatchInspector(QWidget):
    """Shows one patch (or a hint when none is selected)."""

    FIELDS = ("triplet", "position", "size", "offset", "ncc", "misalignment", "p95", "status", "decided by",
              "annotator", "reason")

    def __init__(self, state: WindowState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.values: dict[str, QLabel] = {}
        form = QGridLayout()  # two columns of fields: the decision history keeps the height
        form.setHorizontalSpacing(8)
        form.setVerticalSpacing(2)
        half = (len(self.FIELDS) + 1) // 2
        for i, name in enumerate(self.FIELDS):
            label = QLabel("—")
            label.setObjectName(f"inspector_{name.replace(' ', '_')}")
            label.setWordWrap(True)
            self.values[name] = label
            row, col = i % half, 2 * (i // half)
            form.addWidget(QLabel(name.capitalize() + ":"), row, col)
            form.addWidget(label, row, col + 1)
        form.setColumnStretch(1, 1)
        form.setColumnStretch(3, 1)
        self.history = QTableWidget(0, 4)
        self.history.setHorizontalHeaderLabels(["when (UTC)", "who", "change", "reason"])
        self.history.verticalHeader().hide()
        self.history.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.history.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.history.horizontalHeader().setStretchLastSection(True)
        self.history.verticalHeader().setDefaultSectionSize(20)
        self.history.setMinimumHeight(self.history.horizontalHeader().sizeHint().height() + 6 * 20 + 4)
        self.hint = QLabel("Click a patch, or press N for the worst one.")
        self.hint.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.hint)
        layout.addLayout(form)
        layout.addWidget(QLabel("Decision history:"))
        layout.addWidget(self.history, 1)
        self.show_patch(None, [])
        state.events.selected.connect(self._follow)
        state.patches.reset.connect(self._follow)
        state.patches.changed.connect(self._on_patch_changed)

    def _on_patch_changed(self, patch: PatchRecord) -> None:
        if patch.id == self.state.selected:
            self._follow()

    def _follow(self) -> None:
        patch, dataset = self.state.selected_patch, self.state.dataset
        self.show_patch(patch, dataset.history(patch.id) if patch is not None and dataset is not None else [])

    def show_patch(self, patch: PatchRecord | None, history: list[DecisionEvent]) -> None:
        self.hint.setVisible(patch is None)
        v = self.values
        if patch is None:
            for label in v.values():
                label.setText("—")
            self.history.setRowCount(0)
            return
        v["triplet"].setText(patch.triplet)
        v["position"].setText(f"x {patch.x}, y {patch.y}")
        v["size"].setText(f"{patch.size} px")
        v["offset"].setText(f"dx {patch.dx:+.2f}, dy {patch.dy:+.2f} px")
        v["ncc"].setText(_fmt(patch.ncc))
        v["misalignment"].setText(_fmt(patch.misalignment_px, " px") if patch.measurable else "not measurable")
        v["p95"].setText(_fmt(patch.misalignment_p95, " px"))
        v["status"].setText(patch.status.value)
        v["decided by"].setText(patch.decided_by.value)
        v["annotator"].setText(patch.annotator or "—")
        v["reason"].setText(patch.reason or "—")
        self.history.setRowCount(len(history))
        for row, event in enumerate(history):
            change = f"{event.old_status.value if event.old_status else '∅'} → {event.new_status.value}"
            who = event.annotator or event.actor.value
            if event.queue:
                who += f" ({event.queue})"
            for col, text in enumerate((event.at.replace("T", " ")[:19], who, change, event.reason or "")):
                self.history.setItem(row, col, QTableWidgetItem(text))
