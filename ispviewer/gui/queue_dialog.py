"""Navigate ▸ Queue options… (Ctrl+5): the review queue's choices in one dialog.

The kind (also Ctrl+1–4), the near-threshold band, the audit sample's seed and whether it takes
the aligner's rejected patches too, whether patches a person already decided are shown, the
filters (phone model, triplet name pattern and, where the dataset records them, split and
illumination) and the team member's shard K of N; and how far N zooms in.  OK or Apply makes
the queue active through the review controller, which keeps it in the window state
(``state.review.spec``); a queue that cannot be built says why here and the one before stays.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ispviewer.dataset.review.filters import COLUMN_FILTERS, TripletSelection
from ispviewer.dataset.review.queues import DEFAULT_BAND_PX, QueueKind, QueueSpec
from ispviewer.gui.queue_choice import FilterChoices

ANY = "any"
KIND_TEXT = {QueueKind.WORST: "worst: largest misalignment first",
             QueueKind.NEAR_THRESHOLD: "near-threshold: closest to the threshold first",
             QueueKind.FLAGGED: "flagged: unmeasurable and flagged, reading order",
             QueueKind.AUDIT: "audit: a seeded sample of accepted patches"}
MAX_SHARDS = 999


class QueueDialog(QDialog):
    """Edits a :class:`QueueSpec`; ``apply_spec(spec)`` (the controller's) is called on OK / Apply
    and returns False with ``error()`` set when the queue cannot be built."""

    def __init__(self, spec: QueueSpec, choices: FilterChoices, apply_spec: Callable[[QueueSpec], bool],
                 patch_share: float, apply_share: Callable[[float], None], parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("queueDialog")
        self.setWindowTitle("Review queue")
        self.apply_spec = apply_spec
        self.apply_share = apply_share
        self.kind = QComboBox()
        for kind in QueueKind:
            self.kind.addItem(KIND_TEXT[kind], kind.value)
        self.band = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=10.0, singleStep=0.05, suffix=" px")
        self.band.setToolTip("near-threshold: |misalignment − threshold| ≤ band")
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1)
        self.seed.setToolTip("audit: the same seed gives the same sample, in every copy of the dataset")
        self.audit_rejected = QCheckBox("include auto-rejected patches")
        self.include_decided = QCheckBox("also patches a person already decided")
        self.phone = QComboBox()
        self.phone.addItems([ANY, *choices.phones])
        self.pattern = QLineEdit()
        self.pattern.setPlaceholderText("e.g. 2026-11-*  (shell pattern on the triplet name)")
        self.pattern.setClearButtonEnabled(True)
        self.columns: dict[str, QComboBox] = {}
        self.shard_k = QSpinBox(minimum=1, maximum=MAX_SHARDS)
        self.shard_n = QSpinBox(minimum=1, maximum=MAX_SHARDS)
        self.shard_n.setToolTip("N = 1: the whole dataset; else triplets are split into N shards by a hash of "
                                "their name (the same in every copy) and this queue takes shard K")
        self.share = QSpinBox(minimum=5, maximum=100, suffix=" % of the pane")
        self.share.setToolTip("N zooms in when the patch would show smaller than this; otherwise the zoom is kept")
        self.message = QLabel()
        self.message.setObjectName("queueDialogMessage")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #ff8a80")

        queue = QFormLayout()
        queue.addRow("Queue", self.kind)
        queue.addRow("Band", self.band)
        queue.addRow("Audit seed", self.seed)
        queue.addRow("", self.audit_rejected)
        queue.addRow("", self.include_decided)
        filters = QFormLayout()
        filters.addRow("Phone model", self.phone)
        filters.addRow("Triplet names", self.pattern)
        for f in COLUMN_FILTERS:
            values = choices.columns.get(f.name)
            if values is None:
                filters.addRow(f.name.capitalize(), QLabel("(not recorded in this dataset)"))
                continue
            box = self.columns[f.name] = QComboBox()
            box.addItems([ANY, *values])
            box.setToolTip(f.help)
            filters.addRow(f.name.capitalize(), box)
        shard = QHBoxLayout()
        shard.addWidget(self.shard_k)
        shard.addWidget(QLabel("of"))
        shard.addWidget(self.shard_n)
        shard.addStretch(1)
        filters.addRow("Shard", shard)
        loop = QFormLayout()
        loop.addRow("N zooms to at least", self.share)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Apply
                                   | QDialogButtonBox.StandardButton.Cancel
                                   | QDialogButtonBox.StandardButton.RestoreDefaults)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.Apply).clicked.connect(self.apply)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            lambda: self.set_spec(QueueSpec()))
        self.buttons = buttons
        column = QVBoxLayout(self)
        for title, form in (("Queue", queue), ("Filters", filters), ("Review loop", loop)):
            group = QGroupBox(title)
            group.setLayout(form)
            column.addWidget(group)
        column.addWidget(self.message)
        column.addWidget(buttons)
        self.kind.currentIndexChanged.connect(self._enable)
        self.shard_n.valueChanged.connect(lambda n: self.shard_k.setMaximum(n))
        self.set_spec(spec)
        self.share.setValue(round(100 * patch_share))

    # ----------------------------------------------------------------- values

    def set_spec(self, spec: QueueSpec) -> None:
        sel = spec.selection
        self.kind.setCurrentIndex(self.kind.findData(spec.kind.value))
        self.band.setValue(spec.band_px if spec.band_px is not None else DEFAULT_BAND_PX)
        self.seed.setValue(int(spec.seed))
        self.audit_rejected.setChecked(spec.audit_rejected)
        self.include_decided.setChecked(spec.include_decided)
        self._choose(self.phone, sel.phone)
        self.pattern.setText(sel.name_pattern or "")
        chosen = dict(sel.columns)
        for name, box in self.columns.items():
            self._choose(box, chosen.get(name))
        k, n = sel.shard or (1, 1)
        self.shard_n.setValue(n)
        self.shard_k.setValue(k)
        self._limit = spec.limit  # not offered here (the CLI's --limit); kept as it is
        self._enable()

    def spec(self) -> QueueSpec:
        """The queue the dialog describes now."""
        n = self.shard_n.value()
        selection = TripletSelection(
            phone=None if self.phone.currentText() == ANY else self.phone.currentText(),
            name_pattern=self.pattern.text().strip() or None,
            columns=tuple((name, box.currentText()) for name, box in self.columns.items()
                          if box.currentText() != ANY),
            shard=(min(self.shard_k.value(), n), n) if n > 1 else None)
        return QueueSpec(kind=QueueKind(self.kind.currentData()), band_px=round(self.band.value(), 6),
                         seed=self.seed.value(), audit_rejected=self.audit_rejected.isChecked(),
                         include_decided=self.include_decided.isChecked(), limit=self._limit,
                         selection=selection)

    @staticmethod
    def _choose(box: QComboBox, value: str | None) -> None:
        if value is None:
            box.setCurrentIndex(0)
            return
        i = next((j for j in range(box.count()) if box.itemText(j).casefold() == value.casefold()), -1)
        if i < 0:  # a remembered value this dataset does not list (yet): still offered
            box.addItem(value)
            i = box.count() - 1
        box.setCurrentIndex(i)

    def _enable(self) -> None:
        kind = QueueKind(self.kind.currentData())
        self.band.setEnabled(kind == QueueKind.NEAR_THRESHOLD)
        self.seed.setEnabled(kind == QueueKind.AUDIT)
        self.audit_rejected.setEnabled(kind == QueueKind.AUDIT)

    # ----------------------------------------------------------------- applying

    def apply(self) -> bool:
        self.apply_share(self.share.value() / 100.0)
        if self.apply_spec(self.spec()):
            self.message.setText("")
            return True
        return False

    def show_error(self, text: str) -> None:
        self.message.setText(text)

    def accept(self) -> None:
        if self.apply():
            super().accept()
