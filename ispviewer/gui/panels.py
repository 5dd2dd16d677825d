"""Small dock contents, dialogs and status-bar widgets: overlay controls, keyboard help, read-only
banner, progress of background work."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ispviewer.dataset.records import Status
from ispviewer.gui.actions import shortcut_table
from ispviewer.gui.overlays import STATUS_COLOURS
from ispviewer.gui.state import OverlayState


def bind_check(widget, model, name: str) -> None:
    """Keep a checkable action or button and the bool field ``name`` of an evented model in step:
    a click writes the model; the model's event sets the widget (signals blocked: no echo)."""
    widget.setChecked(bool(getattr(model, name)))
    widget.toggled.connect(lambda on: setattr(model, name, bool(on)))

    def show(value: bool) -> None:
        with QSignalBlocker(widget):
            widget.setChecked(bool(value))
    getattr(model.events, name).connect(show)


class ZoomReadout(QLabel):
    """The shared view's zoom as a percentage (100% = one image pixel per screen pixel)."""

    def __init__(self, view, parent: QWidget | None = None):
        super().__init__(parent)
        self.view = view
        self.setObjectName("zoomReadout")
        self.setToolTip("zoom: 100% is one image pixel per screen pixel (1), fit (0)")
        view.changed.connect(self._show)
        self._show()

    def _show(self) -> None:
        pct = self.view.zoom * 100.0
        self.setText(f"zoom {pct:.0f}%" if pct >= 10 else f"zoom {pct:.1f}%")


class OverlayControls(QWidget):
    """Heatmap and grid toggles, heatmap opacity and transparency floor, and the legend (on the
    overlay state)."""

    def __init__(self, overlays: OverlayState, parent: QWidget | None = None):
        super().__init__(parent)
        self.overlays = overlays
        self.heatmap_box = QCheckBox("Misalignment heatmap (H)")
        self.grid_box = QCheckBox("Patch grid (G)")
        bind_check(self.heatmap_box, overlays, "heatmap_visible")
        bind_check(self.grid_box, overlays, "grid_visible")
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setObjectName("heatmapOpacity")
        self.opacity.setRange(0, 100)
        self._show_opacity(overlays.heatmap_opacity)
        self.opacity.valueChanged.connect(self._on_slider)
        overlays.events.heatmap_opacity.connect(self._show_opacity)
        self.floor = QDoubleSpinBox()
        self.floor.setObjectName("heatmapFloor")
        self.floor.setRange(0.0, 10.0)
        self.floor.setDecimals(2)
        self.floor.setSingleStep(0.1)
        self.floor.setSuffix(" px")
        self.floor.setToolTip("Misalignment below this is not coloured, so a well-aligned photo shows as it is")
        self._show_floor(overlays.heatmap_floor)
        self.floor.valueChanged.connect(self._on_floor)
        overlays.events.heatmap_floor.connect(self._show_floor)
        form = QFormLayout()
        form.addRow(self.heatmap_box)
        form.addRow("Opacity:", self.opacity)
        form.addRow("Transparent below:", self.floor)
        form.addRow(self.grid_box)
        legend = QLabel(self._legend_html())
        legend.setTextFormat(Qt.TextFormat.RichText)
        legend.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(form)
        layout.addWidget(legend)
        layout.addStretch(1)

    def _on_floor(self, value: float) -> None:
        self.overlays.heatmap_floor = max(0.0, float(value))

    def _show_floor(self, floor_px: float) -> None:
        if abs(self.floor.value() - floor_px) < 1e-9:
            return  # the box shows it already (and may be mid-typing: leave its text alone)
        with QSignalBlocker(self.floor):
            self.floor.setValue(floor_px)

    def _on_slider(self, value: int) -> None:
        self.overlays.heatmap_opacity = min(1.0, max(0.0, value / 100.0))

    def _show_opacity(self, opacity: float) -> None:
        with QSignalBlocker(self.opacity):
            self.opacity.setValue(round(opacity * 100))

    @staticmethod
    def _legend_html() -> str:
        swatches = " ".join(f"<span style='color:{STATUS_COLOURS[s].name()}'>■</span> {s.value}"
                            for s in Status)
        return (f"outlines: {swatches}<br>thin: decided by the aligner (auto), "
                "thick: by a person<br>white box: selected patch<br>"
                "fill: misalignment, blue → magenta → pale pink (opaque from the threshold, "
                "the white mark on the colour bar)")


class ShortcutDialog(QDialog):
    """Every keyboard shortcut of the window."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = shortcut_table()
        table = QTableWidget(len(rows), 2)
        table.setHorizontalHeaderLabels(["keys", "action"])
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for r, (keys, text) in enumerate(rows):
            table.setItem(r, 0, QTableWidgetItem(keys))
            table.setItem(r, 1, QTableWidgetItem(text))
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        layout.addWidget(buttons)
        self.resize(520, 620)


class Banner(QWidget):
    """A coloured notice above the panes (read-only dataset, locked manifest)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.label = QLabel()
        self.label.setObjectName("banner")
        self.label.setWordWrap(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        self.hide()

    def show_text(self, text: str | None) -> None:
        self.label.setText(text or "")
        self.setVisible(bool(text))


class FullRenderStatus(QWidget):
    """Status-bar progress of a whole-image render, with a cancel button (hidden when idle)."""

    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setObjectName("fullRenderProgress")
        self.bar.setMaximumWidth(160)
        self.bar.setMaximumHeight(16)
        self.cancel = QToolButton()
        self.cancel.setObjectName("fullRenderCancel")
        self.cancel.setText("Cancel")
        self.cancel.setToolTip("Stop rendering the whole image (Esc)")
        self.cancel.clicked.connect(self.cancel_requested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel)
        self.hide()

    def start(self, text: str, busy: bool = False) -> None:
        """Show ``text`` with a bar (``busy``: no known length) and the cancel button."""
        self.label.setText(text)
        self.bar.setRange(0, 0 if busy else 1)
        self.bar.setValue(0)
        self.cancel.setVisible(not busy)
        self.show()

    def progress(self, done: int, total: int) -> None:
        self.bar.setRange(0, max(1, total))
        self.bar.setValue(done)

    def finish(self) -> None:
        self.hide()
