"""Reading the misalignment table for the Figure-4 dock off the GUI thread.

The whole table (one row per patch, hundreds of thousands at scale) is read and summarised by a
background worker; the dock is updated on the GUI thread with the latest answer only (an older
request still running when a newer one comes is dropped), so opening a dataset and a burst of saves
never wait for it.  The window debounces the requests after saves.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future

from ispviewer.dataset.manifest import Manifest
from ispviewer.gui.background import Generation, Offload
from ispviewer.gui.histogram_dock import HistogramSummary, ThresholdHistogram, summarise


def _read(root) -> tuple[HistogramSummary, float]:
    """The summary and threshold, through a connection of its own: the session's stays free for
    the GUI thread's reads while this one runs (SQLite's WAL lets both read at once)."""
    with Manifest.open(root, readonly=True) as manifest:
        return summarise(manifest.misalignment_table()), manifest.threshold_px


class HistogramRefresher:
    """``refresh(session)`` re-reads the table in the background and shows it in ``dock``."""

    def __init__(self, dock: ThresholdHistogram, on_shown: Callable[[], None],
                 on_error: Callable[[str], None]):
        self.dock = dock
        self._on_shown = on_shown
        self._on_error = on_error
        self._offload = Offload("histogram")
        self._generation = Generation()
        self._session = None
        self.pending = False  # a refresh was requested and is not shown yet

    def refresh(self, session) -> None:
        self._session = session
        generation = self._generation.next()
        self.pending = True
        self._offload.submit(_read, session.root, on_done=lambda f: self._shown(f, session, generation))

    def forget(self) -> None:
        """The dataset closed: an answer still on its way is dropped."""
        self._session = None
        self._generation.next()
        self.pending = False

    def shutdown(self) -> None:
        self.forget()
        self._offload.shutdown()

    def _shown(self, future: Future, session, generation: int) -> None:
        if not self._generation.is_current(generation) or session is not self._session:
            return
        self.pending = False
        try:
            summary, threshold_px = future.result()
        except Exception as exc:  # noqa: BLE001 - a manifest that cannot be read is reported, not raised
            self._on_error(f"misalignment histogram not updated: {exc}")
            return
        self.dock.show_summary(summary, threshold_px)
        self._on_shown()
