"""The main window: assembles the viewer, the docks, actions and menus, and routes their signals.

The window holds no image, triage or SQL logic of its own: the viewer draws, the session reads
and writes the manifest, the triage object decides, the loader loads.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (
    QDockWidget, QFileDialog, QInputDialog, QLabel, QMainWindow, QMessageBox, QVBoxLayout, QWidget,
)

from ispviewer.dataset.manifest import ManifestError
from ispviewer.dataset.records import PatchRecord, Status, TripletRecord
from ispviewer.gui import settings as keys
from ispviewer.gui.actions import build_actions, decorate_undo
from ispviewer.gui.decisions import ThresholdCommand
from ispviewer.gui.histogram_dock import ThresholdHistogram
from ispviewer.gui.inference_tools import InferenceTools
from ispviewer.gui.inspector import PatchInspector
from ispviewer.gui.loader import LoadedTriplet, TripletLoader
from ispviewer.gui.panels import Banner, OverlayControls, ShortcutDialog
from ispviewer.gui.session import DatasetSession
from ispviewer.gui.sources import make_request
from ispviewer.gui.triage import Triage
from ispviewer.gui.triplet_browser import TripletBrowser
from ispviewer.gui.viewer import ZOOM_STEP, TripletViewer
from ispviewer.gui.write_status import WriteStatus

DECISION_ACTIONS = ("accept", "reject", "flag", "accept_reason", "reject_reason", "flag_reason")
PREFETCH_DELAY_MS = 150
CLOSE_WAIT_S = 3.0  # closing with queued decisions waits this long before asking  # after a triplet is on screen, so prefetching never slows its first paint


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.session: DatasetSession | None = None
        self.triage: Triage | None = None
        self.current: TripletRecord | None = None
        self.loading = False  # a triplet was asked for and is not on screen (at full resolution) yet
        self._keep_view = True
        self._shown_name: str | None = None  # the triplet whose patches are on screen
        self.undo_stack = QUndoStack(self)
        self.loader = TripletLoader(cache_size=3, parent=self)
        self.loader.loaded.connect(self._on_loaded)
        self.loader.patches_refreshed.connect(self._on_patches_refreshed)

        self.viewer = TripletViewer()
        self.banner = Banner()
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(4, 4, 4, 4)
        column.addWidget(self.banner)
        column.addWidget(self.viewer, 1)
        self.setCentralWidget(central)

        self.actions_ = build_actions(self)
        self.undo_action = self.undo_stack.createUndoAction(self, "Undo")
        self.redo_action = self.undo_stack.createRedoAction(self, "Redo")
        decorate_undo(self.undo_action, self.redo_action)
        self.addActions([self.undo_action, self.redo_action])

        self.browser = TripletBrowser()
        self.inspector = PatchInspector()
        self.histogram = ThresholdHistogram()
        self.overlay_controls = OverlayControls(self.actions_["heatmap"], self.actions_["grid"])
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        self.docks = {
            "triplets": self._dock("Triplets", self.browser, Qt.DockWidgetArea.LeftDockWidgetArea),
            "histogram": self._dock("Misalignment histogram (Figure 4)", self.histogram, bottom),
            "inspector": self._dock("Patch inspector", self.inspector, bottom),
            "overlays": self._dock("Overlays", self.overlay_controls, bottom),
        }
        # the panes get the full width: the docks sit left and below, side by side
        self.splitDockWidget(self.docks["histogram"], self.docks["inspector"], Qt.Orientation.Horizontal)
        self.splitDockWidget(self.docks["inspector"], self.docks["overlays"], Qt.Orientation.Horizontal)
        self.readout = QLabel()
        self.readout.setObjectName("pixelReadout")
        self.statusBar().addPermanentWidget(self.readout, 1)
        self.write_status = WriteStatus(self.banner, self.statusBar(), self)
        self.tools = InferenceTools(self)  # network output, flicker/difference, re-alignment
        self._prefetch_timer = QTimer(self, singleShot=True, interval=PREFETCH_DELAY_MS)
        self._prefetch_timer.timeout.connect(self._prefetch_neighbours)
        self._histogram_timer = QTimer(self, singleShot=True, interval=120)
        self._histogram_timer.timeout.connect(self._refresh_histogram)
        self.write_status.all_saved.connect(self._histogram_timer.start)

        self._build_menus()
        self._connect()
        self._restore_settings()
        self._set_dataset_enabled(False)
        self.setWindowTitle("ispviewer")
        self.tools.start()

    # ----------------------------------------------------------------- construction

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.split()[0].lower()}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_menus(self) -> None:
        a = self.actions_
        groups = {
            "&File": ["open", "load_weights", "save_output", None, "quit"],
            "&Edit": [self.undo_action, self.redo_action, None, "accept", "reject", "flag", None,
                      "accept_reason", "reject_reason", "flag_reason"],
            "&Navigate": ["next_triplet", "prev_triplet", None, "next_patch", "prev_patch"],
            "&View": ["zoom_fit", "zoom_100", "zoom_in", "zoom_out", "zoom_patch", None, "heatmap", "grid", None,
                      "flicker", "side_by_side", "difference"],
            "&Tools": ["render_full", "cancel_render", None, "realign"],
        }
        for title, items in groups.items():
            menu = self.menuBar().addMenu(title)
            for item in items:
                if item is None:
                    menu.addSeparator()
                else:
                    menu.addAction(a[item] if isinstance(item, str) else item)
            if title == "&View":
                menu.addSeparator()
                for dock in self.docks.values():
                    menu.addAction(dock.toggleViewAction())
        self.menuBar().addMenu("&Help").addAction(a["help"])
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("toolbar_main")
        for item in ("open", None, "prev_triplet", "next_triplet", None, "zoom_fit", "zoom_100", "zoom_in",
                     "zoom_out", "zoom_patch", None, "heatmap", "grid", None, "flicker", "difference", "render_full",
                     None, "prev_patch", "next_patch",
                     "accept", "reject", "flag"):
            toolbar.addSeparator() if item is None else toolbar.addAction(a[item])
        toolbar.insertAction(a["accept"], self.undo_action)
        toolbar.insertAction(a["accept"], self.redo_action)

    def _connect(self) -> None:
        a, v = self.actions_, self.viewer
        a["open"].triggered.connect(self._ask_dataset)
        a["quit"].triggered.connect(self.close)
        a["next_triplet"].triggered.connect(lambda: self.step_triplet(+1))
        a["prev_triplet"].triggered.connect(lambda: self.step_triplet(-1))
        a["next_patch"].triggered.connect(lambda: self.step_patch(+1))
        a["prev_patch"].triggered.connect(lambda: self.step_patch(-1))
        for status, name in ((Status.ACCEPTED, "accept"), (Status.REJECTED, "reject"), (Status.FLAGGED, "flag")):
            a[name].triggered.connect(lambda _=False, s=status: self.decide(s))
            a[f"{name}_reason"].triggered.connect(lambda _=False, s=status: self.decide(s, ask_reason=True))
        a["zoom_fit"].triggered.connect(v.fit)
        a["zoom_100"].triggered.connect(v.zoom_100)
        a["zoom_in"].triggered.connect(lambda: v.zoom_by(ZOOM_STEP))
        a["zoom_out"].triggered.connect(lambda: v.zoom_by(1 / ZOOM_STEP))
        a["zoom_patch"].triggered.connect(self._zoom_to_selected)
        a["heatmap"].toggled.connect(v.set_heatmap_visible)
        a["grid"].toggled.connect(v.set_grid_visible)
        a["help"].triggered.connect(lambda: ShortcutDialog(self).open())
        self.overlay_controls.opacity_changed.connect(self._on_opacity)
        self.overlay_controls.floor_changed.connect(self._on_floor)
        self.browser.activated.connect(lambda name: self.show_triplet(name))
        self.histogram.apply_requested.connect(self._apply_threshold)
        v.hovered.connect(lambda x, y: self.readout.setText(v.readout(x, y)))
        v.clicked.connect(self._on_clicked)
        self.undo_stack.indexChanged.connect(self._on_undo_index)

    # ----------------------------------------------------------------- dataset

    def _ask_dataset(self) -> None:
        start = str(self.settings.value(keys.LAST_DATASET, "") or Path.home())
        path = QFileDialog.getExistingDirectory(self, "Open dataset", start)
        if path:
            self.open_dataset(path)

    def open_dataset(self, path: str | Path, readonly: bool = False) -> bool:
        """Open a dataset folder; on failure the panes say why and the window stays usable."""
        self.close_dataset()
        try:
            session = DatasetSession.open(path, readonly=readonly)
        except (ManifestError, OSError) as exc:
            self.viewer.clear(f"Could not open dataset:\n{exc}")
            self.statusBar().showMessage(f"Could not open {path}: {exc}")
            return False
        self.session = session
        self.triage = Triage(session, self.undo_stack, self)
        self.triage.selection_changed.connect(self._on_selection)
        session.patch_changed.connect(self._on_patch_changed)
        session.patches_reloaded.connect(self._on_patches_reloaded)
        session.triplet_changed.connect(self._on_triplet_changed)
        session.triplets_reloaded.connect(self._reload_triplets)
        session.triplets_reloaded.connect(lambda: self.loader.forget())  # a threshold: cached patches are stale
        session.threshold_failed.connect(self._refresh_histogram)  # the dock shows the manifest's threshold
        self.write_status.attach(session, self.undo_stack)
        self.tools.attach(session)
        self.settings.setValue(keys.LAST_DATASET, str(session.root))
        self.viewer.set_heatmap_range(2 * session.threshold_px)
        self._set_dataset_enabled(True)
        self.banner.show_text(f"Read-only dataset: {session.root} cannot be written, so decisions are "
                              "disabled (viewing only)." if session.readonly else None)
        self._reload_triplets()
        self._refresh_histogram()
        names = self.browser.visible_names()
        if names:
            self.show_triplet(names[0], keep_view=False)
        else:
            self.viewer.clear(f"{session.root} has no triplets yet (ispviewer import SRC {session.root})")
        self._update_title()
        return True

    def close_dataset(self, timeout: float = 10.0) -> None:
        if self.session is None:
            return
        left = self.session.close(timeout=timeout)
        if left:
            self.statusBar().showMessage(f"{len(left)} decision(s) could not be saved: "
                                         + "; ".join(j.description for j in left))
        self.undo_stack.clear()
        self.write_status.detach()
        self.tools.detach()
        self.loader.forget()
        self.session = self.triage = self.current = None
        self.loading = False
        self._set_dataset_enabled(False)

    def _set_dataset_enabled(self, enabled: bool) -> None:
        writable = enabled and self.session is not None and not self.session.readonly
        for name in ("next_triplet", "prev_triplet", "next_patch", "prev_patch", "zoom_patch"):
            self.actions_[name].setEnabled(enabled)
        for name in DECISION_ACTIONS + ("realign",):
            self.actions_[name].setEnabled(writable)
        self.histogram.set_readonly(not writable)

    def _reload_triplets(self) -> None:
        if self.session is not None:
            self.browser.set_triplets(self.session.triplets())
            if self.current is not None:
                self.browser.select(self.current.name)

    def _update_title(self) -> None:
        parts = ["ispviewer"]
        if self.session is not None:
            parts.append(self.session.root.name + (" [read-only]" if self.session.readonly else ""))
        if self.current is not None:
            parts.append(self.current.name)
        self.setWindowTitle(" — ".join(parts))

    # ----------------------------------------------------------------- triplets

    def show_triplet(self, name: str, keep_view: bool = True) -> bool:
        """Load and show a triplet by name; the view (phone-frame rectangle) is kept."""
        if self.session is None:
            return False
        try:
            record = self.session.triplet(name)
        except ManifestError as exc:
            self.statusBar().showMessage(str(exc))
            return False
        self.current = record
        self.tools.show_record(record, self.session.manifest.resolve)
        self._keep_view = keep_view
        self._shown_name = None
        self.browser.select(name)
        self._update_title()
        self.viewer.show_loading(name)
        try:
            request = self.request_for(record)
        except ManifestError as exc:  # an unsafe path in the manifest
            self.viewer.clear(str(exc))
            self.browser.model.set_load_error(name, str(exc))
            return False
        self.loading = True
        self.loader.request(request)  # a cached triplet is shown before this returns
        return True

    def step_triplet(self, step: int) -> None:
        name = self.browser.neighbour(self.current.name if self.current else None, step)
        if name is None:
            self.statusBar().showMessage("no more triplets in this direction", 2000)
            return
        self.show_triplet(name, keep_view=True)

    def request_for(self, record: TripletRecord):
        """The load request the window would make for ``record``."""
        return make_request(record, self.session.manifest.resolve, self.viewer.heatmap_vmax, self.session.root,
                            self.viewer.heatmap_floor)

    def _on_loaded(self, loaded: LoadedTriplet) -> None:
        """A triplet (or first its quick preview) arrived from the loader: show it."""
        if self.session is None or self.current is None or loaded.name != self.current.name:
            return
        first_arrival = self._shown_name != loaded.name
        self.viewer.show_loaded(loaded, keep_view=self._keep_view or not first_arrival)
        if first_arrival:
            self._shown_name = loaded.name
            if loaded.patches is not None:  # read by the loader (possibly when it was prefetched)
                patches, merged = self.session.show_patches(self.current.id, loaded.patches)
                self.viewer.set_patches(patches, None if merged else loaded.grid)
            else:
                self.viewer.set_patches(self.session.load_patches(self.current.id))
            if self.triage is not None:
                self.triage.reset()
        if loaded.preview:
            return
        self.loading = False
        problems = list(loaded.errors.values()) + loaded.warnings
        self.browser.model.set_load_error(loaded.name, "; ".join(loaded.errors.values()) or None)
        if problems:
            self.statusBar().showMessage(" | ".join(problems))
        self._prefetch_timer.start()

    def _on_patches_refreshed(self, name: str, read) -> None:
        """The manifest's current patches of a triplet shown from the cache."""
        if self.session is None or self.current is None or name != self.current.name:
            return
        if self.session.refresh_patches(self.current.id, read.patches):
            self._on_patches_reloaded()

    def _prefetch_neighbours(self) -> None:
        if self.session is None or self.current is None:
            return
        for step in (+1, -1):
            name = self.browser.neighbour(self.current.name, step)
            if name is None:
                continue
            try:
                self.loader.prefetch(self.request_for(self.session.triplet(name)))
            except ManifestError:
                continue

    def _on_triplet_changed(self, record: TripletRecord) -> None:
        self.browser.update_triplet(record)
        self._histogram_timer.start()

    # ----------------------------------------------------------------- patches and triage

    def _on_clicked(self, x: float, y: float) -> None:
        if self.triage is not None:
            self.triage.select_at(x, y)

    def step_patch(self, step: int) -> None:
        if self.triage is None:
            return
        patch = self.triage.step_worst(step)
        if patch is not None:
            self.viewer.centre_on(patch)

    def _zoom_to_selected(self) -> None:
        patch = self.triage.selected if self.triage else None
        if patch is not None:
            self.viewer.zoom_to_patch(patch)

    def decide(self, status: Status, ask_reason: bool = False) -> bool:
        if self.triage is None or self.session is None or self.session.readonly:
            return False
        if self.triage.selected is None:
            self.statusBar().showMessage("Select a patch first (click one, or press N)", 3000)
            return False
        reason = None
        if ask_reason:
            reason, ok = QInputDialog.getText(self, f"{status.value.capitalize()} with reason", "Reason:")
            if not ok:
                return False
        return self.triage.decide(status, reason)

    def _on_selection(self, patch: PatchRecord | None) -> None:
        self.viewer.set_selection(patch)
        history = self.session.history(patch.id) if (patch is not None and self.session) else []
        self.inspector.show_patch(patch, history)

    def _on_patch_changed(self, patch: PatchRecord) -> None:
        self.viewer.update_patch(patch)
        if self.triage is not None and self.triage.selected is not None and self.triage.selected.id == patch.id:
            self._on_selection(patch)

    def _on_patches_reloaded(self) -> None:
        if self.session is not None:
            self.viewer.set_patches(self.session.patches())
            if self.triage is not None:
                self._on_selection(self.triage.selected)

    def _on_undo_index(self, _index: int) -> None:
        self.statusBar().showMessage(self.undo_stack.undoText() and f"last: {self.undo_stack.undoText()}", 3000)

    # ----------------------------------------------------------------- threshold

    def _refresh_histogram(self) -> None:
        if self.session is not None:
            self.histogram.set_data(self.session.misalignment_table(), self.session.threshold_px)
            if abs(self.viewer.heatmap_vmax - 2 * self.session.threshold_px) > 1e-9:
                self.viewer.set_heatmap_range(2 * self.session.threshold_px)  # the colour bar marks it

    def _apply_threshold(self, threshold_px: float) -> None:
        if self.session is None or self.session.readonly:
            return
        old = self.histogram.threshold_px
        if abs(old - threshold_px) < 1e-9:
            return
        self.undo_stack.push(ThresholdCommand(self.session, threshold_px, old))

    # ----------------------------------------------------------------- settings and closing

    def _on_floor(self, floor_px: float) -> None:
        self.viewer.set_heatmap_floor(floor_px)
        self.settings.setValue(keys.HEATMAP_FLOOR, floor_px)

    def _on_opacity(self, opacity: float) -> None:
        self.viewer.set_heatmap_opacity(opacity)
        self.settings.setValue(keys.HEATMAP_OPACITY, opacity)

    def _restore_settings(self) -> None:
        s = self.settings
        geometry, state = s.value(keys.GEOMETRY), s.value(keys.STATE)
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1600, 960)
        if state is not None:
            self.restoreState(state)
        else:
            d = self.docks
            self.resizeDocks([d["triplets"]], [330], Qt.Orientation.Horizontal)
            self.resizeDocks([d["histogram"], d["inspector"], d["overlays"]], [640, 420, 300],
                             Qt.Orientation.Horizontal)
            self.resizeDocks([d["histogram"]], [290], Qt.Orientation.Vertical)
        opacity = keys.read_float(s, keys.HEATMAP_OPACITY, self.viewer.heatmap_opacity)
        self.overlay_controls.set_opacity(opacity)
        self.viewer.set_heatmap_opacity(opacity)
        floor = keys.read_float(s, keys.HEATMAP_FLOOR, self.viewer.heatmap_floor)
        self.overlay_controls.set_floor(floor)
        self.viewer.set_heatmap_floor(floor)
        self.actions_["heatmap"].setChecked(keys.read_bool(s, keys.HEATMAP_VISIBLE, True))
        self.actions_["grid"].setChecked(keys.read_bool(s, keys.GRID_VISIBLE, True))
        self.viewer.set_heatmap_visible(self.actions_["heatmap"].isChecked())
        self.viewer.set_grid_visible(self.actions_["grid"].isChecked())

    def _confirm_quit_unsaved(self) -> bool:
        n = self.session.pending
        answer = QMessageBox.question(
            self, "Decisions not saved yet",
            f"{n} decision(s) are still waiting for the manifest, which another process keeps locked.\n"
            "Keep ispviewer open (they are retried every second), or quit and lose them?",
            QMessageBox.StandardButton.Retry | QMessageBox.StandardButton.Discard,
            QMessageBox.StandardButton.Retry)
        return answer == QMessageBox.StandardButton.Discard

    def save_settings(self) -> None:
        s = self.settings
        s.setValue(keys.GEOMETRY, self.saveGeometry())
        s.setValue(keys.STATE, self.saveState())
        s.setValue(keys.HEATMAP_OPACITY, self.viewer.heatmap_opacity)
        s.setValue(keys.HEATMAP_VISIBLE, self.actions_["heatmap"].isChecked())
        s.setValue(keys.GRID_VISIBLE, self.actions_["grid"].isChecked())
        s.sync()

    def closeEvent(self, event) -> None:  # noqa: N802
        if self.session is not None and self.session.writer is not None and self.session.pending:
            if not self.session.writer.wait_idle(CLOSE_WAIT_S) and not self._confirm_quit_unsaved():
                event.ignore()  # keep running: the writer keeps retrying
                return
        self.save_settings()
        self.close_dataset(timeout=1.0)
        self.loader.shutdown()
        self.tools.shutdown()
        super().closeEvent(event)
