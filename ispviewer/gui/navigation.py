"""Bringing triplets on screen: the loader is asked, what arrives is shown, the neighbours prefetched.

The current triplet, whether it is on screen yet and its patches are the window state's
(:class:`~ispviewer.gui.state.WindowState`); this object writes them as loads arrive.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from superqt.utils import qdebounced

from ispviewer.dataset.manifest import ManifestError
from ispviewer.dataset.records import TripletRecord
from ispviewer.gui.loader import LoadedTriplet, PatchesRead, TripletLoader
from ispviewer.gui.session import DatasetSession
from ispviewer.gui.sources import LoadRequest, make_request
from ispviewer.gui.state import WindowState
from ispviewer.gui.triplet_browser import TripletBrowser
from ispviewer.gui.viewer import TripletViewer

#: after a triplet is on screen, so prefetching never slows its first paint
PREFETCH_DELAY_MS = 150


class TripletNavigator(QObject):
    """Shows triplets by name (the browser's order for next / previous) through the loader."""

    message = Signal(str, int)  # status-bar text, milliseconds (0: until replaced)

    def __init__(self, state: WindowState, loader: TripletLoader, viewer: TripletViewer, browser: TripletBrowser,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.state = state
        self.loader = loader
        self.viewer = viewer
        self.browser = browser
        self._keep_view = True  # the view survives the load in flight
        self.prefetch_pending = False  # the neighbours are prefetched once the current triplet rests
        self._prefetch_soon = qdebounced(self._prefetch_neighbours, timeout=PREFETCH_DELAY_MS, parent=self)
        loader.loaded.connect(self._on_loaded)
        loader.patches_refreshed.connect(self._on_patches_refreshed)

    @property
    def session(self) -> DatasetSession | None:
        """The open dataset (the window state's DatasetSession)."""
        return self.state.dataset

    def detach(self) -> None:
        """The dataset closes: nothing of it stays cached or due."""
        self.cancel_prefetch()
        self.loader.forget()

    # ----------------------------------------------------------------- asking

    def show(self, name: str, keep_view: bool = True) -> bool:
        """Load and show a triplet by name; the view (phone-frame rectangle) is kept unless told."""
        if self.session is None:
            return False
        try:
            record = self.session.triplet(name)
        except ManifestError as exc:
            self.message.emit(str(exc), 0)
            return False
        self._keep_view = keep_view
        self.state.shown = None
        self.state.triplet = record
        self.viewer.show_loading(name)
        try:
            request = self.request_for(record)
        except ManifestError as exc:  # an unsafe path in the manifest
            self.viewer.clear(str(exc))
            self.state.selected = None
            self.state.patches.replace(None, [])
            self.browser.model.set_load_error(name, str(exc))
            return False
        self.state.loading = True
        self.loader.request(request)  # a cached triplet is shown before this returns
        return True

    def step(self, step: int) -> None:
        current = self.state.triplet
        name = self.browser.neighbour(current.name if current else None, step)
        if name is None:
            self.message.emit("no more triplets in this direction", 2000)
            return
        self.show(name, keep_view=True)

    def request_for(self, record: TripletRecord) -> LoadRequest:
        """The load request the window would make for ``record``."""
        o = self.state.overlays
        return make_request(record, self.session.resolve, o.heatmap_vmax, self.session.root, o.heatmap_floor)

    # ----------------------------------------------------------------- arriving

    def _on_loaded(self, loaded: LoadedTriplet) -> None:
        """A triplet (or first its quick preview) arrived from the loader: show it."""
        state, current = self.state, self.state.triplet
        if self.session is None or current is None or loaded.name != current.name:
            return
        first_arrival = state.shown != loaded.name
        self.viewer.show_loaded(loaded, keep_view=self._keep_view or not first_arrival)
        if first_arrival:
            state.selected = None
            if loaded.patches is not None:  # read by the loader (possibly when it was prefetched)
                self.session.show_patches(current.id, loaded.patches, loaded.grid)
            else:
                self.session.load_patches(current.id)
            state.shown = loaded.name
        if loaded.preview:
            return
        state.loading = False
        problems = list(loaded.errors.values()) + loaded.warnings
        self.browser.model.set_load_error(loaded.name, "; ".join(loaded.errors.values()) or None)
        if problems:
            self.message.emit(" | ".join(problems), 0)
        self.prefetch_pending = True
        self._prefetch_soon()

    def cancel_prefetch(self) -> None:
        """Forget the neighbours' prefetch that is due (loads already started run on)."""
        self.prefetch_pending = False
        self._prefetch_soon.cancel()

    def _on_patches_refreshed(self, name: str, read: PatchesRead) -> None:
        """The manifest's current patches of a triplet shown from the cache."""
        current = self.state.triplet
        if self.session is not None and current is not None and name == current.name:
            self.session.refresh_patches(current.id, read.patches, read.read_at)

    def _prefetch_neighbours(self) -> None:
        self.prefetch_pending = False
        current = self.state.triplet
        if self.session is None or current is None:
            return
        for step in (+1, -1):
            name = self.browser.neighbour(current.name, step)
            if name is None:
                continue
            try:
                self.loader.prefetch(self.request_for(self.session.triplet(name)))
            except ManifestError:
                continue
