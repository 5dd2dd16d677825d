"""The main window: assembles the viewer, the docks, actions and menus on one window state.

What the window shows lives in :class:`~ispviewer.gui.state.WindowState` (``self.state``); every
view subscribes to it.  The window holds no image, triage or SQL logic of its own: the viewer
draws, the session reads and writes the manifest, the triage object decides, the navigator loads.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QActionGroup, QUndoStack
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import qdebounced

from ispviewer.dataset.manifest import ManifestError
from ispviewer.dataset.records import Status, TripletRecord
from ispviewer.gui import settings as keys
from ispviewer.gui.actions import build_actions, decorate_undo
from ispviewer.gui.dataset_memory import DatasetMemory, add_recent
from ispviewer.gui.decisions import ThresholdCommand
from ispviewer.gui.gallery_toolbar import restore_options, save_options
from ispviewer.gui.histogram_dock import ThresholdHistogram
from ispviewer.gui.histogram_refresh import HistogramRefresher
from ispviewer.gui.inference_tools import InferenceTools
from ispviewer.gui.inspector import PatchInspector
from ispviewer.gui.loader import TripletLoader
from ispviewer.gui.menus import build_menus
from ispviewer.gui.navigation import TripletNavigator
from ispviewer.gui.panels import Banner, OverlayControls, ShortcutDialog, ZoomReadout, bind_check
from ispviewer.gui.reason_dialog import ReasonDialog
from ispviewer.gui.review_controller import ReviewController
from ispviewer.gui.session import DatasetSession
from ispviewer.gui.session_restore import SessionKeeper
from ispviewer.gui.sources import PHONE
from ispviewer.gui.state import WindowState
from ispviewer.gui.triage import Triage
from ispviewer.gui.triplet_browser import TripletBrowser
from ispviewer.gui.viewer import ZOOM_STEP, TripletViewer
from ispviewer.gui.write_status import WriteStatus

DECISION_ACTIONS = ("accept", "reject", "flag", "accept_reason", "reject_reason", "flag_reason")
CLOSE_WAIT_S = 3.0  # closing with queued decisions waits this long before asking
BROWSER_WIDTH = 470  # the triplet dock's default width: every column readable
HISTOGRAM_SETTLE_MS = 120  # a burst of decisions redraws the histogram once


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.state = WindowState()
        self.triage: Triage | None = None
        self.undo_stack = QUndoStack(self)

        self.viewer = TripletViewer(self.state)
        self.banner = Banner()
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(4, 4, 4, 4)
        column.addWidget(self.banner)
        column.addWidget(self.viewer, 1)
        # the pixel readout has its own line under the panes: in the status bar it would take the
        # whole width and hide every message shown there
        self.readout = QLabel()
        self.readout.setObjectName("pixelReadout")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.readout.setMinimumWidth(1)
        column.addWidget(self.readout)
        self.centre_stack = QStackedWidget()  # the panes, or the patch gallery (V)
        self.centre_stack.addWidget(central)
        self.setCentralWidget(self.centre_stack)

        self.actions_ = build_actions(self)
        self.undo_action = self.undo_stack.createUndoAction(self, "Undo")
        self.redo_action = self.undo_stack.createRedoAction(self, "Redo")
        decorate_undo(self.undo_action, self.redo_action)
        self.addActions([self.undo_action, self.redo_action])

        self.browser = TripletBrowser(self.state)
        self.inspector = PatchInspector(self.state)
        self.histogram = ThresholdHistogram()
        # the open dataset's groups; looked up at each call, so the dock never keeps a closed session alive
        self.histogram.group_source = lambda by: self.session.group_keys(by) if self.session is not None else {}
        self.overlay_controls = OverlayControls(self.state.overlays)
        self.loader = TripletLoader(cache_size=3, parent=self)
        self.navigator = TripletNavigator(self.state, self.loader, self.viewer, self.browser, self)
        self.review = ReviewController(self.state, self.navigator, self.viewer, self)
        self.centre_stack.addWidget(self.review.gallery)
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
        self.zoom_readout = ZoomReadout(self.state.view)
        self.statusBar().addPermanentWidget(self.zoom_readout)
        self.statusBar().addPermanentWidget(self.review.label)
        self.write_status = WriteStatus(self.banner, self.statusBar(), self)
        # network output, flicker/difference, re-alignment
        self.tools = InferenceTools(self.state, self.viewer, self.actions_, self.statusBar(), self)
        self.tools.realigned.connect(lambda name: self.show_triplet(name, keep_view=True))
        self.review.panels.outputs.weights = lambda: self.tools.output.weights.current  # the pane's weights
        self.tools.output.weights.loaded.connect(lambda _w: self.review.panels.refresh())
        self.review.build_toolbar(self.actions_["queue_options"])
        self.histogram_refresher = HistogramRefresher(self.histogram, self._histogram_shown,
                                                      lambda text: self.statusBar().showMessage(text, 5000))
        self._histogram_deferred = False
        self.state.events.shown.connect(self._refresh_deferred_histogram)
        self.state.events.loading.connect(self._refresh_deferred_histogram)
        self.refresh_histogram_soon = qdebounced(self._refresh_histogram, timeout=HISTOGRAM_SETTLE_MS, parent=self)
        self.write_status.all_saved.connect(self.refresh_histogram_soon)

        self.session_keeper = SessionKeeper(self.state, self.browser, settings, self)
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
        self.recent_menu, self.flicker_pair_actions = build_menus(self)

    def _connect(self) -> None:
        a, v = self.actions_, self.viewer
        a["open"].triggered.connect(self._ask_dataset)
        a["quit"].triggered.connect(self.close)
        a["next_triplet"].triggered.connect(lambda: self.step_triplet(+1))
        a["prev_triplet"].triggered.connect(lambda: self.step_triplet(-1))
        a["next_patch"].triggered.connect(lambda: self.step_patch(+1))
        a["prev_patch"].triggered.connect(lambda: self.step_patch(-1))
        queues = QActionGroup(self)
        for kind in ("worst", "near-threshold", "flagged", "audit"):
            queues.addAction(a[f"queue_{kind}"])
            a[f"queue_{kind}"].triggered.connect(lambda _=False, k=kind: self.review.set_kind(k))
        a["queue_worst"].setChecked(True)
        self.state.review.events.spec.connect(lambda spec: a[f"queue_{spec.kind.value}"].setChecked(True))
        a["queue_options"].triggered.connect(lambda: self.review.ask_queue(self))
        self.review.share_changed.connect(lambda share: self.settings.setValue(keys.REVIEW_PATCH_SHARE, share))
        a["gallery"].toggled.connect(self.review.show_gallery)
        self.review.gallery_toggled.connect(self._show_gallery)
        self.review.message.connect(self.statusBar().showMessage)
        for status, name in ((Status.ACCEPTED, "accept"), (Status.REJECTED, "reject"), (Status.FLAGGED, "flag")):
            a[name].triggered.connect(lambda _=False, s=status: self.decide(s))
            a[f"{name}_reason"].triggered.connect(lambda _=False, s=status: self.decide(s, ask_reason=True))
        a["zoom_fit"].triggered.connect(v.fit)
        a["zoom_100"].triggered.connect(v.zoom_100)
        a["zoom_in"].triggered.connect(lambda: v.zoom_by(ZOOM_STEP))
        a["zoom_out"].triggered.connect(lambda: v.zoom_by(1 / ZOOM_STEP))
        a["zoom_patch"].triggered.connect(self._zoom_to_selected)
        bind_check(a["heatmap"], self.state.overlays, "heatmap_visible")
        bind_check(a["grid"], self.state.overlays, "grid_visible")
        a["help"].triggered.connect(lambda: ShortcutDialog(self).open())
        self.state.overlays.events.heatmap_opacity.connect(
            lambda opacity: self.settings.setValue(keys.HEATMAP_OPACITY, opacity))
        self.state.overlays.events.heatmap_floor.connect(
            lambda floor: self.settings.setValue(keys.HEATMAP_FLOOR, floor))
        self.state.events.triplet.connect(self._update_title)
        self.navigator.message.connect(self.statusBar().showMessage)
        self.browser.activated.connect(lambda name: self.show_triplet(name))
        self.browser.filter_done.connect(self.focus_views)
        a["find"].triggered.connect(self._find)
        self.histogram.apply_requested.connect(self._apply_threshold)
        v.hovered.connect(lambda x, y: self.readout.setText(v.readout(x, y)))
        v.clicked.connect(self._on_clicked)
        self.undo_stack.indexChanged.connect(self._on_undo_index)

    def _find(self) -> None:
        self.docks["triplets"].show()
        self.docks["triplets"].raise_()
        self.browser.focus_filter()

    def focus_views(self) -> None:
        """Give the keys back to the images (after the filter box, Enter or Esc)."""
        pane = next((p for p in self.viewer.panes.values() if p.isVisible()), self.viewer.panes[PHONE])
        pane.graphics.setFocus(Qt.FocusReason.OtherFocusReason)

    # ----------------------------------------------------------------- dataset

    @property
    def session(self) -> DatasetSession | None:
        """The open dataset (the window state's)."""
        return self.state.dataset

    def _ask_dataset(self) -> None:
        start = str(self.settings.value(keys.LAST_DATASET, "") or Path.home())
        path = QFileDialog.getExistingDirectory(self, "Open dataset", start)
        if path:
            self.open_dataset(path)

    def open_dataset(self, path: str | Path, readonly: bool = False) -> bool:
        """Open a dataset folder.  On failure the dataset open before stays open and usable (the
        status bar says why); with none open, the panes say why."""
        try:
            session = DatasetSession.open(path, readonly=readonly, patches=self.state.patches)
        except (ManifestError, OSError) as exc:
            if self.session is None:
                self.viewer.clear(f"Could not open dataset:\n{exc}")
                self.statusBar().showMessage(f"Could not open {path}: {exc}")
            else:
                self.statusBar().showMessage(f"Could not open {path}: {exc} — still showing "
                                             f"{self.session.root.name}")
            return False
        self.close_dataset()
        self.state.dataset = session
        self.triage = Triage(session, self.undo_stack, self.state)
        self.review.attach(session, self.triage, self.settings.value(keys.REVIEW_ANNOTATOR),
                           DatasetMemory(self.settings, session.root))
        session.triplet_changed.connect(self._on_triplet_changed)
        session.triplets_reloaded.connect(self._reload_triplets)
        session.triplets_reloaded.connect(lambda: self.loader.forget())  # a threshold: cached patches are stale
        session.threshold_failed.connect(self._refresh_histogram)  # the dock shows the manifest's threshold
        self.write_status.attach(session, self.undo_stack)
        self.tools.attach(session)
        self.settings.setValue(keys.LAST_DATASET, str(session.root))
        self.state.overlays.heatmap_vmax = 2 * session.threshold_px
        self._set_dataset_enabled(True)
        self.banner.show_text(f"Read-only dataset: {session.root} cannot be written, so decisions are "
                              "disabled (viewing only)." if session.readonly else None)
        self._reload_triplets()
        self.histogram.reset_axis()
        self._histogram_deferred = True  # read once the first triplet is on screen: it goes first
        add_recent(self.settings, session.root)
        self.session_keeper.attach(session.root)
        remembered = self.session_keeper.restore()  # filters now; view and selection once it is shown
        names = self.browser.visible_names()
        if remembered is not None:
            self.show_triplet(remembered, keep_view=True)
        elif names:
            self.show_triplet(names[0], keep_view=False)
        else:
            self.viewer.clear(f"{session.root} has no triplets yet (ispviewer import SRC {session.root})")
        self._refresh_deferred_histogram()
        self._update_title()
        return True

    def close_dataset(self, timeout: float = 10.0) -> None:
        if self.session is None:
            return
        left = self.session.close(timeout=timeout)
        if left:
            self.statusBar().showMessage(f"{len(left)} decision(s) could not be saved: "
                                         + "; ".join(j.description for j in left))
        self.session_keeper.detach()  # remembers where the person was
        self.histogram_refresher.forget()
        self.undo_stack.clear()
        self.write_status.detach()
        self.navigator.detach()
        self.review.detach()
        self.tools.detach()
        self.state.clear_triplet()
        self.state.dataset = None
        self.triage = None
        self._set_dataset_enabled(False)

    def _set_dataset_enabled(self, enabled: bool) -> None:
        writable = enabled and self.session is not None and not self.session.readonly
        for name in ("next_triplet", "prev_triplet", "next_patch", "prev_patch", "zoom_patch", "gallery",
                     "queue_worst", "queue_near-threshold", "queue_flagged", "queue_audit",
                     "queue_options"):
            self.actions_[name].setEnabled(enabled)
        for name in DECISION_ACTIONS + ("realign",):
            self.actions_[name].setEnabled(writable)
        self.histogram.set_readonly(not writable)

    def _reload_triplets(self) -> None:
        if self.session is not None:
            self.browser.set_triplets(self.session.triplets(), self.session.resolve, self.session.tags())
            if self.state.triplet is not None:
                self.browser.select(self.state.triplet.name)

    def _update_title(self) -> None:
        parts = ["ispviewer"]
        if self.session is not None:
            parts.append(self.session.root.name + (" [read-only]" if self.session.readonly else ""))
        if self.state.triplet is not None:
            parts.append(self.state.triplet.name)
        self.setWindowTitle(" — ".join(parts))

    # ----------------------------------------------------------------- triplets

    def show_triplet(self, name: str, keep_view: bool = True) -> bool:
        """Load and show a triplet by name; the view (phone-frame rectangle) is kept."""
        return self.navigator.show(name, keep_view)

    def step_triplet(self, step: int) -> None:
        self.navigator.step(step)

    def _on_triplet_changed(self, record: TripletRecord) -> None:
        self.browser.update_triplet(record)
        self.refresh_histogram_soon()

    # ----------------------------------------------------------------- patches and triage

    def _on_clicked(self, x: float, y: float) -> None:
        if self.triage is not None:
            self.triage.select_at(x, y)

    def step_patch(self, step: int) -> None:
        """N / Shift+N: the review queue's next open patch (this triplet, then the next with some)."""
        if self.triage is not None:
            self.review.step(step)

    def _show_gallery(self, visible: bool) -> None:
        self.centre_stack.setCurrentIndex(1 if visible else 0)
        a = self.actions_["gallery"]
        if a.isChecked() != visible:
            a.setChecked(visible)
        if not visible:
            self.viewer.setFocus()

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
        if ask_reason:
            patch_id = self.triage.selected.id
            dialog = ReasonDialog(status, DatasetMemory(self.settings, self.session.root), self)
            dialog.chosen.connect(lambda reason: self._decide_with_reason(status, reason, patch_id))
            dialog.finished.connect(self._after_dialog)
            dialog.finished.connect(dialog.deleteLater)
            dialog.open()  # window-modal; the decision follows its OK
            return True
        return self.triage.decide(status, None)

    def _after_dialog(self, _result: int = 0) -> None:
        """The keys back to the images once a dialog closes (the window active again)."""
        self.activateWindow()
        self.focus_views()

    def _decide_with_reason(self, status: Status, reason: str, patch_id: int) -> None:
        """Decide the patch the dialog was opened for (a load may have moved the selection meanwhile)."""
        if self.triage is None:
            return
        if patch_id not in self.state.patches:
            self.statusBar().showMessage("The patch is no longer on screen; nothing was decided", 5000)
            return
        if self.state.selected != patch_id:
            self.triage.select(patch_id)
        self.triage.decide(status, reason)

    def _on_undo_index(self, _index: int) -> None:
        self.statusBar().showMessage(self.undo_stack.undoText() and f"last: {self.undo_stack.undoText()}", 3000)

    # ----------------------------------------------------------------- threshold

    def _refresh_histogram(self) -> None:
        if self.session is not None:  # the table is read in the background: see _histogram_shown
            self.histogram_refresher.refresh(self.session)

    def _refresh_deferred_histogram(self, *_args) -> None:
        if self._histogram_deferred and (self.state.shown is not None or not self.state.loading):
            self._histogram_deferred = False
            self._refresh_histogram()

    def _histogram_shown(self) -> None:
        if self.session is not None:
            self.histogram.set_audit(self.review.audit_lines())
            self.state.overlays.heatmap_vmax = 2 * self.histogram.threshold_px  # the colour bar marks it

    def _apply_threshold(self, threshold_px: float) -> None:
        if self.session is None or self.session.readonly:
            return
        old = self.histogram.threshold_px
        if abs(old - threshold_px) < 1e-9:
            return
        self.undo_stack.push(ThresholdCommand(self.session, threshold_px, old))

    # ----------------------------------------------------------------- settings and closing

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
            self.resizeDocks([d["triplets"]], [BROWSER_WIDTH], Qt.Orientation.Horizontal)
            self.resizeDocks([d["histogram"], d["inspector"], d["overlays"]], [640, 420, 300],
                             Qt.Orientation.Horizontal)
            self.resizeDocks([d["histogram"]], [290], Qt.Orientation.Vertical)
        overlays = self.state.overlays
        overlays.heatmap_opacity = min(1.0, max(0.0, keys.read_float(s, keys.HEATMAP_OPACITY,
                                                                     overlays.heatmap_opacity)))
        overlays.heatmap_floor = max(0.0, keys.read_float(s, keys.HEATMAP_FLOOR, overlays.heatmap_floor))
        overlays.heatmap_visible = keys.read_bool(s, keys.HEATMAP_VISIBLE, True)
        overlays.grid_visible = keys.read_bool(s, keys.GRID_VISIBLE, True)
        restore_options(s, self.state.gallery)
        self.review.min_patch_share = min(1.0, max(0.01, keys.read_float(s, keys.REVIEW_PATCH_SHARE,
                                                                         self.review.min_patch_share)))

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
        overlays = self.state.overlays
        s.setValue(keys.HEATMAP_OPACITY, overlays.heatmap_opacity)
        s.setValue(keys.HEATMAP_FLOOR, overlays.heatmap_floor)
        s.setValue(keys.HEATMAP_VISIBLE, overlays.heatmap_visible)
        s.setValue(keys.GRID_VISIBLE, overlays.grid_visible)
        save_options(s, self.state.gallery)
        s.sync()

    def closeEvent(self, event) -> None:  # noqa: N802
        session = self.session
        if (session is not None and session.writer is not None and session.pending
                and not session.writer.wait_idle(CLOSE_WAIT_S) and not self._confirm_quit_unsaved()):
            event.ignore()  # keep running: the writer keeps retrying
            return
        self.save_settings()
        self.close_dataset(timeout=1.0)
        self.loader.shutdown()
        self.histogram_refresher.shutdown()
        self.browser.shutdown()
        self.review.shutdown()
        self.tools.shutdown()
        super().closeEvent(event)
