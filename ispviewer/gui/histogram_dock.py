"""Figure-4 dock: the dataset's misalignment histogram with a draggable rejection threshold.

Dragging the line previews how many auto-decided patches the new threshold would reject; Apply
re-decides the auto decisions through the manifest (user decisions are never touched).  "Overlay"
draws one outlined histogram per group of triplets (illumination, phone, tag or split: the
poster's Figure 4b) over the dataset's, on the same bins and the same count axis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ispviewer.dataset.rules import DEFAULT_THRESHOLD_PX

BINS = 60
OVERLAYS = ("no overlay", "illumination", "phone", "tag", "split")
#: group colours (Okabe-Ito, readable on the dark plot)
GROUP_COLOURS = ("#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7", "#ffffff")


@dataclass(frozen=True)
class HistogramSummary:
    """What the dock shows of the misalignment table (no Qt: computed off the GUI thread)."""

    rows: list  # the table (the overlay groups it by triplet)
    measured: np.ndarray  # every measured patch's misalignment (the histogram)
    auto: np.ndarray  # measured, auto-decided patches (what a threshold changes)
    auto_rejected: int  # of those, rejected now
    user: int  # patches a person decided


def summarise(rows) -> HistogramSummary:
    """``rows``: the manifest's misalignment table (misalignment_px, measurable, status, decided_by)."""
    measured, auto, auto_rejected, user = [], [], 0, 0
    for r in rows:
        m = r["misalignment_px"]
        if r["decided_by"] == "user":
            user += 1
        if m is None or not r["measurable"]:
            continue
        measured.append(m)
        if r["decided_by"] == "auto":
            auto.append(m)
            auto_rejected += r["status"] == "rejected"
    return HistogramSummary(list(rows), np.asarray(measured, np.float64), np.asarray(auto, np.float64),
                            auto_rejected, user)


class ThresholdHistogram(QWidget):
    """Histogram + threshold line + preview text + Apply."""

    apply_requested = Signal(float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.threshold_px = DEFAULT_THRESHOLD_PX  # what the manifest uses now
        self._measured = np.zeros(0, np.float32)  # every measured patch (the histogram)
        self._auto = np.zeros(0, np.float32)  # measured, auto-decided patches (what a threshold changes)
        self._auto_rejected_now = 0
        self._user = 0
        self._xmax = 3 * DEFAULT_THRESHOLD_PX
        self._rows: list = []
        #: grouping -> {triplet name: its groups}; set by the window from the session (None: no overlay)
        self.group_source: Callable[[str], dict[str, tuple[str, ...]]] | None = None
        self.group_curves: dict[str, pg.PlotDataItem] = {}
        self._axis_chosen = False

        self.plot = pg.PlotWidget(background="#202124")
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setLabel("bottom", "misalignment", units="px")
        self.plot.setLabel("left", "patches")
        self.curve = pg.PlotDataItem(stepMode="center", fillLevel=0, brush=(90, 150, 230, 160),
                                     pen=pg.mkPen("#8ab4f8"))
        self.plot.addItem(self.curve)
        self.region = pg.LinearRegionItem(movable=False, brush=(255, 69, 58, 50), pen=pg.mkPen(None))
        self.region.setZValue(-10)
        self.plot.addItem(self.region)
        self.line = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen("#ff453a", width=2),
                                    hoverPen=pg.mkPen("#ffd60a", width=3),
                                    label="{value:.2f} px", labelOpts={"position": 0.9, "color": "#ff453a"})
        self.plot.addItem(self.line)
        self.legend = self.plot.addLegend(offset=(-10, 10), labelTextColor="#e8eaed")
        self.overlay_box = QComboBox()
        self.overlay_box.addItems(list(OVERLAYS))
        self.overlay_box.setToolTip("One histogram per group of triplets over the dataset's (Figure 4b)")

        self.spin = QDoubleSpinBox()
        self.spin.setDecimals(2)
        self.spin.setSingleStep(0.05)
        self.spin.setRange(0.0, 1000.0)
        self.spin.setSuffix(" px")
        self.preview_label = QLabel()
        self.preview_label.setObjectName("thresholdPreview")
        self.preview_label.setWordWrap(True)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("Re-decide the auto decisions with this threshold (undoable)")
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Back to the threshold the dataset uses now")

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Reject above"))
        controls.addWidget(self.spin)
        controls.addWidget(self.overlay_box)
        controls.addStretch(1)
        controls.addWidget(self.reset_button)
        controls.addWidget(self.apply_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.plot, 1)
        layout.addLayout(controls)
        layout.addWidget(self.preview_label)
        self.audit_label = QLabel()  # the audit estimate, once audit patches are reviewed
        self.audit_label.setObjectName("auditEstimate")
        self.audit_label.setWordWrap(True)
        layout.addWidget(self.audit_label)

        self.line.sigPositionChanged.connect(self._on_line_moved)
        self.spin.valueChanged.connect(self._on_spin)
        self.apply_button.clicked.connect(lambda: self.apply_requested.emit(self.candidate))
        self.reset_button.clicked.connect(lambda: self.set_candidate(self.threshold_px))
        self.overlay_box.currentTextChanged.connect(lambda _: self._draw_groups())
        self._update_preview()

    # ----------------------------------------------------------------- data

    def set_audit(self, lines: list[str]) -> None:
        """The audit estimates to show under the histogram (none: hidden)."""
        self.audit_label.setText("\n".join(lines))
        self.audit_label.setVisible(bool(lines))

    def reset_axis(self) -> None:
        """The next :meth:`set_data` chooses the x-axis afresh (another dataset)."""
        self._axis_chosen = False

    def set_data(self, rows, threshold_px: float) -> None:
        """``rows``: the manifest's misalignment table (misalignment_px, measurable, status, decided_by)."""
        self.show_summary(summarise(rows), threshold_px)

    def show_summary(self, summary: HistogramSummary, threshold_px: float) -> None:
        """Show ``summary`` (see :func:`summarise`, which a worker thread may compute).

        The x-axis is kept across refreshes of one dataset (it only grows when a value or the
        threshold needs more room), so applying a threshold does not make the bars jump."""
        self._rows = summary.rows
        self._measured = summary.measured
        self._auto = summary.auto
        self._auto_rejected_now = summary.auto_rejected
        self._user = summary.user
        self.threshold_px = float(threshold_px)
        top = float(np.percentile(self._measured, 99.5)) if self._measured.size else 0.0
        wanted = max(3.0 * self.threshold_px, top, 0.5)
        self._xmax = max(self._xmax, wanted) if self._axis_chosen else wanted
        self._axis_chosen = True
        edges = np.linspace(0.0, self._xmax, BINS + 1)
        counts, _ = np.histogram(np.minimum(self._measured, self._xmax), bins=edges)
        self.curve.setData(edges, counts)
        self.line.setBounds((0.0, self._xmax))
        self.plot.setXRange(0.0, self._xmax, padding=0.02)
        self.plot.setYRange(0.0, max(1, int(counts.max()) if counts.size else 1) * 1.1, padding=0)
        self._draw_groups()
        self.set_candidate(self.threshold_px)
        self._update_preview()  # the counts changed even where the line did not move

    @property
    def candidate(self) -> float:
        """The threshold the line shows (not yet applied)."""
        return round(float(self.line.value()), 4)

    def set_candidate(self, threshold_px: float) -> None:
        self.line.setValue(float(threshold_px))

    @property
    def user_decisions(self) -> int:
        """Patches a person decided (a threshold leaves them as they are)."""
        return self._user

    @property
    def auto_decided(self) -> int:
        """Measured patches the aligner decided (what a threshold re-decides)."""
        return int(self._auto.size)

    def preview(self, threshold_px: float) -> dict[str, int]:
        """What applying ``threshold_px`` would do to the auto decisions."""
        rejected = int(np.count_nonzero(self._auto > threshold_px))
        return {"rejected": rejected, "accepted": int(self._auto.size - rejected),
                "change": rejected - self._auto_rejected_now}

    def set_readonly(self, readonly: bool) -> None:
        self.apply_button.setEnabled(not readonly)
        self.apply_button.setToolTip("read-only dataset" if readonly else self.apply_button.toolTip())

    @property
    def overlay(self) -> str | None:
        """The grouping drawn over the histogram, None for none."""
        text = self.overlay_box.currentText()
        return None if text == OVERLAYS[0] else text

    def group_counts(self) -> dict[str, np.ndarray]:
        """Per-group counts on the dock's bins (what the overlay draws)."""
        by = self.overlay
        if by is None or self.group_source is None:
            return {}
        keys = self.group_source(by)
        values: dict[str, list[float]] = {}
        for r in self._rows:
            m = r["misalignment_px"]
            if m is None or not r["measurable"]:
                continue
            for g in keys.get(r["triplet"], ("(unknown)",)):
                values.setdefault(g, []).append(m)
        edges = np.linspace(0.0, self._xmax, BINS + 1)
        return {g: np.histogram(np.minimum(np.asarray(v), self._xmax), bins=edges)[0]
                for g, v in sorted(values.items(), key=lambda kv: (kv[0].startswith("("), kv[0]))}

    # ----------------------------------------------------------------- internals

    def _draw_groups(self) -> None:
        for curve in self.group_curves.values():
            self.plot.removeItem(curve)
            self.legend.removeItem(curve)
        self.group_curves = {}
        edges = np.linspace(0.0, self._xmax, BINS + 1)
        for k, (group, counts) in enumerate(self.group_counts().items()):
            curve = pg.PlotDataItem(edges, counts, stepMode="center", name=f"{group} ({int(counts.sum())})",
                                    pen=pg.mkPen(GROUP_COLOURS[k % len(GROUP_COLOURS)], width=2))
            self.plot.addItem(curve)
            self.group_curves[group] = curve

    def _on_line_moved(self) -> None:
        t = self.candidate
        if abs(self.spin.value() - t) > 1e-6:
            self.spin.blockSignals(True)
            self.spin.setValue(t)
            self.spin.blockSignals(False)
        self._update_preview()

    def _on_spin(self, value: float) -> None:
        if value > self._xmax:  # a typed threshold beyond the histogram widens the axis
            self._xmax = value * 1.1
            self.line.setBounds((0.0, self._xmax))
            self.plot.setXRange(0.0, self._xmax, padding=0.02)
        if abs(self.line.value() - value) > 1e-6:
            self.line.setValue(value)

    def _update_preview(self) -> None:
        t = self.candidate
        self.region.setRegion((t, max(t, self._xmax)))
        p = self.preview(t)
        change = f"{p['change']:+d}" if p["change"] else "no change"
        self.preview_label.setText(
            f"At {t:.2f} px: <b>{p['rejected']}</b> of {self._auto.size} auto-decided patches rejected "
            f"(now {self._auto_rejected_now}; {change}). {self._user} user decision(s) stay as they are."
            + ("" if abs(t - self.threshold_px) < 1e-9 else f" Dataset threshold: {self.threshold_px:.2f} px."))
        self.preview_label.setTextFormat(Qt.TextFormat.RichText)
