"""Dataset-wide review in the window: the active queue, N / Shift+N through it, the gallery, the
status bar's "reviewed n of m".

The queue and the position live in the window state (``state.review``, Qt-free, walked by
:class:`~ispviewer.gui.review_state.QueueWalker`); this object connects them to the session's
decisions, the navigator (to show another triplet) and the views.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel, QSizePolicy
from superqt.utils import qdebounced

from ispviewer.dataset.annotator import current_annotator
from ispviewer.dataset.manifest import ManifestError
from ispviewer.dataset.records import PatchRecord, Status
from ispviewer.dataset.review.audit import audit_estimates
from ispviewer.dataset.review.queues import QueueKind, QueueSpec, with_kind
from ispviewer.gui.gallery import PAGE_SIZE, PatchGallery
from ispviewer.gui.gallery_panels import TilePanels
from ispviewer.gui.gallery_tiles import TileSource
from ispviewer.gui.gallery_toolbar import gallery_toolbar, tile_actions
from ispviewer.gui.queue_choice import filter_choices, spec_from_dict, spec_to_dict, without_unavailable
from ispviewer.gui.review_state import QueueWalker
from ispviewer.gui.state import WindowState

#: N zooms in when the patch would show smaller than this share of the pane (else the zoom is kept)
MIN_PATCH_SHARE = 1.0 / 3.0
#: the position in the queue is written once the person rests this long (and when the dataset
#: closes or the queue changes), not on each N: a durable write costs the GUI thread ~5-20 ms
POSITION_SAVE_MS = 500
#: the dataset memory's key of the queue chosen last
QUEUE_MEMORY_KEY = "review_queue"


class ReviewController(QObject):
    """Owns the walker, the gallery and the queue label; the window composes it."""

    message = Signal(str, int)
    gallery_toggled = Signal(bool)
    share_changed = Signal(float)  # N's zoom share was chosen in the queue dialog (for the settings)

    def __init__(self, state: WindowState, navigator, viewer, parent: QObject | None = None):
        super().__init__(parent)
        self.state = state
        self.navigator = navigator
        self.viewer = viewer
        self.triage = None
        self.walker: QueueWalker | None = None
        self.tiles = TileSource(parent=self)
        self.panels = TilePanels(state, self.tiles, parent=self)
        self.gallery = PatchGallery(state, self.tiles, self.decide_patches, panels=self.panels)
        self.tile_actions = tile_actions(state.gallery, self.gallery)
        self.memory = None  # the open dataset's DatasetMemory: the queue chosen is remembered there
        self.error: str | None = None  # why the last queue asked for could not be built
        self.queue_dialog = None
        self.gallery.open_requested.connect(self.open_in_main)
        self.tiles.failed.connect(lambda text: self.message.emit(f"gallery: {text}", 5000))
        self.tiles.notice.connect(lambda text: self.message.emit(f"gallery: {text}", 10000))
        self.label = QLabel()
        self.label.setObjectName("queueStatus")
        # its whole text where the status bar has room (also beside a message); the status bar may
        # shorten it, so it never widens the window's minimum
        self.label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.label.setMinimumWidth(1)
        self._pending: tuple[int, str, float | None] | None = None  # (patch id, triplet, zoom) once shown
        self._save_soon = qdebounced(self.save_position, timeout=POSITION_SAVE_MS, parent=self)
        self._prefetching: tuple[tuple, object] | None = None  # (triplet id and style, its load request)
        # its decode starts once the event loop has painted the patch N moved to: on a crossing, two
        # decoding threads would otherwise take the cores from the new triplet's first paint
        self._start_prefetch_soon = qdebounced(self._start_prefetch, timeout=0, parent=self)
        #: N zooms in when the patch would show smaller than this share of the pane (a setting)
        self.min_patch_share = MIN_PATCH_SHARE
        review = state.review
        for name in ("queue", "position", "reviewed"):
            getattr(review.events, name).connect(self._show_summary)
        review.events.spec.connect(self._remember_spec)
        state.events.shown.connect(self._on_shown)

    # ----------------------------------------------------------------- dataset

    def attach(self, session, triage, annotator_setting: str | None = None, memory=None) -> None:
        """A dataset opened: the queue remembered for it in ``memory`` (a DatasetMemory) is made
        active (without it, or when that queue cannot be built any more: the current kind)."""
        session.annotator = current_annotator(annotator_setting)
        self.triage = triage
        self.tiles.attach(session)
        self.panels.attach(session)
        self.walker = QueueWalker(self.state.review, session.manifest, session.annotator, self._save_soon)
        session.decision_shown.connect(self._on_decision)
        self.memory = None  # the remembered queue is not overwritten while it is put back
        spec = None
        if memory is not None and memory.get(QUEUE_MEMORY_KEY) is not None:
            spec = without_unavailable(spec_from_dict(memory.get(QUEUE_MEMORY_KEY)), session.manifest)
        if spec is None or not self.set_spec(spec):
            self.set_spec(QueueSpec(self.state.review.spec.kind))
        self.memory = memory

    def _remember_spec(self, spec: QueueSpec) -> None:
        if self.memory is not None:
            self.memory.set(QUEUE_MEMORY_KEY, spec_to_dict(spec))

    def save_position(self) -> None:
        """Write where the person is in the active queue, if it moved (the window calls it before
        the dataset closes)."""
        self._save_soon.cancel()
        if self.walker is None:
            return
        try:
            self.walker.save_position()
        except ManifestError as exc:
            self.message.emit(f"review position not saved: {exc}", 5000)

    def detach(self) -> None:
        self._save_soon.cancel()
        self._start_prefetch_soon.cancel()
        self._prefetching = None
        self.walker = None
        self.triage = None
        self.memory = None
        self._pending = None
        if self.queue_dialog is not None:
            self.queue_dialog.reject()
        self.tiles.detach()
        self.panels.detach()
        review = self.state.review
        review.position = None
        review.queue = None
        self.label.setText("")

    def set_kind(self, kind: QueueKind | str) -> None:
        """Make a queue of ``kind`` active with the other choices kept (its position resumed)."""
        self.set_spec(with_kind(self.state.review.spec, kind))

    def set_spec(self, spec: QueueSpec) -> bool:
        """Make the queue ``spec`` active (its position resumed for this person); False, and the
        queue before kept, when it cannot be built (the message says why)."""
        if self.walker is None:
            return False
        try:
            queue = self.walker.build(spec)
        except (ManifestError, ValueError) as exc:
            self.error = str(exc)
            self.message.emit(f"review queue: {exc}", 0)
            return False
        self.error = None
        session = self.state.dataset
        if session is not None:
            session.queue_kind = spec.kind.value
        if queue.empty:
            self.message.emit(f"The {spec.describe()} queue is empty (reviewed {queue.reviewed} of "
                              f"{queue.total})", 5000)
        return True

    # ----------------------------------------------------------------- decisions

    def decide_patches(self, patches: list[PatchRecord], status: Status) -> bool:
        """Decide several patches as one undo step (any triplets)."""
        if self.triage is None or self.state.dataset is None or self.state.dataset.readonly:
            return False
        stack = self.triage.undo_stack
        if len(patches) > 1:
            stack.beginMacro(f"{status.value} {len(patches)} patches")
        try:
            changed = [self.triage.decide_patch(p, status) for p in patches]
        finally:
            if len(patches) > 1:
                stack.endMacro()
        return any(changed)

    def _on_decision(self, patch: PatchRecord) -> None:
        if self.walker is not None:
            self.walker.mark(patch)
        self.gallery.show_decision(patch)

    # ----------------------------------------------------------------- walking

    def step(self, step: int) -> PatchRecord | None:
        """N / Shift+N: the next open patch of the queue, in this triplet, then the next triplet."""
        if self.walker is None:
            return None
        current = self.state.triplet
        position = self.walker.step(step, current.id if current else None, self.state.selected)
        if position is None:
            q = self.state.review.queue
            self.message.emit(f"Nothing left to review in the {self.state.review.spec.describe()} queue"
                              + (f" (reviewed {q.reviewed} of {q.total})" if q is not None else ""), 4000)
            return None
        return self._go(self.walker.patch_at(position), zoom=None)

    def open_in_main(self, patch: PatchRecord) -> None:
        """Enter on a tile: its triplet in the main view, centred on it at 100%."""
        if self.walker is not None:
            position = self.state.review.queue.position(patch.id)
            if position is not None:
                self.walker.go_to(position)
        self.show_gallery(False)
        self._go(patch.id, zoom=1.0)

    def _go(self, patch_id: int | None, zoom: float | None) -> PatchRecord | None:
        session = self.state.dataset
        if patch_id is None or session is None:
            return None
        try:
            patch = session.patch(patch_id)
        except ManifestError as exc:
            self.message.emit(str(exc), 0)
            return None
        if self.state.shown == patch.triplet and patch.id in self.state.patches:
            self._centre(patch, zoom)
        else:
            self._pending = (patch.id, patch.triplet, zoom)
            self.navigator.show(patch.triplet, keep_view=True)
        return patch

    def _on_shown(self, name: str | None) -> None:
        if self._pending is None or name != self._pending[1]:
            return
        patch_id, _, zoom = self._pending
        self._pending = None
        patch = self.state.patches.get(patch_id)
        if patch is not None:
            self._centre(patch, zoom)

    def _centre(self, patch: PatchRecord, zoom: float | None) -> None:
        self.triage.select(patch.id)
        view = self.state.view
        cx, cy = patch.x - 0.5 + patch.size / 2, patch.y - 0.5 + patch.size / 2
        if zoom is None:
            pane = min(self.viewer.viewport_size())
            wanted = self.min_patch_share * pane / patch.size if pane > 0 else view.zoom
            zoom = max(view.zoom, wanted)
        view.set_view(cx, cy, zoom)
        self._prefetch_next(patch.triplet_id)

    def _prefetch_next(self, triplet_id: int) -> None:
        """Have the triplet N moves on to decoded before it is asked for (its load request is made
        once, not on every N: resolving its files costs a few ms; the decode starts after the paint)."""
        session = self.state.dataset
        following = self.walker.next_triplet(triplet_id) if self.walker is not None else None
        if session is None or following is None:
            return
        o = self.state.overlays
        key = (following, o.heatmap_vmax, o.heatmap_floor)  # what the request depends on
        if self._prefetching is None or self._prefetching[0] != key:
            try:
                self._prefetching = (key, self.navigator.request_for(session.triplet(following)))
            except ManifestError:
                return
        self._start_prefetch_soon()

    def _start_prefetch(self) -> None:
        if self._prefetching is not None and self.state.dataset is not None:
            self.navigator.loader.prefetch(self._prefetching[1])  # nothing to do when cached or on its way

    @property
    def prefetch_request(self):
        """The load request of the triplet N moves on to, once asked for (None before)."""
        return None if self._prefetching is None else self._prefetching[1]

    # ----------------------------------------------------------------- gallery and status

    @property
    def gallery_visible(self) -> bool:
        return self.gallery.isVisible()

    def show_gallery(self, visible: bool) -> None:
        self.gallery_toggled.emit(visible)
        if visible:  # the page of the position, its first tile focused, the keyboard in the gallery
            position = self.state.review.position
            self.gallery.show_page(0 if position is None else position // PAGE_SIZE, focus=0)
            self.gallery.grid.setFocus()

    def _show_summary(self, *_args) -> None:
        self.label.setText(self.state.review.summary)

    def audit_lines(self) -> list[str]:
        """The audit estimates of the open dataset, e.g. "audit: 200 auto-accepted patches reviewed, ..."."""
        session = self.state.dataset
        if session is None:
            return []
        try:
            return [e.describe() for e in audit_estimates(session.manifest)]
        except ManifestError:
            return []

    # ----------------------------------------------------------------- queue choices

    def build_toolbar(self, queue_action) -> None:
        """The gallery's toolbar (tile options, Queue…) over its tiles."""
        self.gallery.layout().insertWidget(0, gallery_toolbar(self.tile_actions, queue_action))

    def ask_queue(self, parent) -> None:
        """Queue options…: the dialog, filled with the active queue and this dataset's filters."""
        session = self.state.dataset
        if session is None or self.walker is None:
            return
        from ispviewer.gui.queue_dialog import QueueDialog

        try:
            choices = filter_choices(session.manifest)
        except ManifestError as exc:
            self.message.emit(f"review queue: {exc}", 0)
            return
        if self.queue_dialog is not None:
            self.queue_dialog.reject()
        dialog = QueueDialog(self.state.review.spec, choices, self._apply_from_dialog, self.min_patch_share,
                             self._set_share, parent)
        self.queue_dialog = dialog
        dialog.finished.connect(lambda _r, d=dialog: self._dialog_closed(d))
        dialog.open()

    def _apply_from_dialog(self, spec: QueueSpec) -> bool:
        ok = self.set_spec(spec)
        if not ok and self.queue_dialog is not None:
            self.queue_dialog.show_error(f"This queue cannot be built: {self.error}")
        return ok

    def _set_share(self, share: float) -> None:
        self.min_patch_share = min(1.0, max(0.01, float(share)))
        self.share_changed.emit(self.min_patch_share)

    def _dialog_closed(self, dialog) -> None:
        if self.queue_dialog is dialog:
            self.queue_dialog = None
        window = dialog.parentWidget()
        dialog.deleteLater()
        if window is not None:  # the keys back to where they were: the tiles or the images
            window.activateWindow()
            (self.gallery.grid if self.gallery_visible else self.viewer).setFocus()

    def shutdown(self) -> None:
        self._start_prefetch_soon.cancel()
        self.panels.shutdown()
        self.tiles.shutdown()
