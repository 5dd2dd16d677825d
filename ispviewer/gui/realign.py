"""Re-aligning the current triplet in the background (e.g. with another patch size).

The measuring is the batch aligner's own per-triplet job (same heatmap and aligned-target files as
``ispviewer align``), run in a worker thread; the result is stored through the window's single
manifest writer, whose ``store_alignment`` re-makes the aligner's decisions and keeps every
decision a person made.  A failed re-alignment only reports: the previous alignment stays.
"""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QInputDialog, QStatusBar

from ispviewer.dataset.records import AlignmentResult, TripletRecord
from ispviewer.gui.background import Offload
from ispviewer.gui.panels import FullRenderStatus

DEFAULT_PATCH = 128


def align_one(root: Path, record: TripletRecord, patch_size: int,
              threshold_px: float) -> tuple[AlignmentResult | None, str | None]:
    """Align one triplet exactly as ``ispviewer align`` does; (result, None) or (None, message)."""
    from ispviewer.align import batch

    # fresh versioned file names: the stored alignment's files stay as they are until the new row is stored
    _name, result, error = batch.align_job(batch.new_job(str(root), record, patch_size, threshold_px))
    return result, error


class Realigner(QObject):
    """Runs one re-alignment at a time and stores it through the session's writer."""

    finished = Signal(str, bool, str)  # triplet name, stored?, message

    def __init__(self, status_bar: QStatusBar, parent: QObject | None = None):
        super().__init__(parent)
        self.status_bar = status_bar
        self.session = None
        self.running: str | None = None  # name of the triplet being re-aligned
        self._jobs: dict[object, str] = {}  # WriteJob -> triplet name, until written
        self.status = FullRenderStatus()
        status_bar.addPermanentWidget(self.status)
        self._pool = Offload("realign")

    def attach(self, session) -> None:
        self.session = session
        if session.writer is not None:
            session.writer.written.connect(self._on_written)
            session.writer.failed.connect(self._on_write_failed)

    def detach(self) -> None:
        self.session = None
        self._jobs.clear()

    def current_patch_size(self) -> int:
        sizes = [p.size for p in self.session.patches()] if self.session is not None else []
        return max(set(sizes), key=sizes.count) if sizes else DEFAULT_PATCH

    def ask(self, parent, record: TripletRecord | None) -> bool:
        if not self._can_start(record):
            return False
        size, ok = QInputDialog.getInt(parent, f"Re-align {record.name}", "Patch size (px, even):",
                                       self.current_patch_size(), 8, 2048, 2)
        return self.start(record, size) if ok else False

    def _can_start(self, record: TripletRecord | None) -> bool:
        why = None
        if self.session is None or record is None:
            why = "Open a dataset and a triplet first"
        elif self.session.readonly:
            why = f"{self.session.root} is read-only: a re-alignment could not be stored"
        elif self.running is not None:
            why = f"Still re-aligning {self.running}"
        if why:
            self.status_bar.showMessage(why, 5000)
        return why is None

    def start(self, record: TripletRecord, patch_size: int, threshold_px: float | None = None) -> bool:
        """Re-align ``record`` with ``patch_size`` and the dataset's threshold (unless given)."""
        if not self._can_start(record):
            return False
        if patch_size < 8 or patch_size % 2:
            self.status_bar.showMessage(f"patch size must be even and at least 8, got {patch_size}", 5000)
            return False
        threshold = self.session.threshold_px if threshold_px is None else float(threshold_px)
        self.running = record.name
        self.status.start(f"re-aligning {record.name} ({patch_size} px patches)…", busy=True)
        session = self.session
        self._pool.submit(align_one, session.root, record, patch_size, threshold,
                          on_done=lambda f: self._on_aligned(session, record.id, record.name, f))
        return True

    def _on_aligned(self, session, triplet_id: int, name: str, future: Future) -> None:
        self.running = None
        self.status.finish()
        exc = future.exception()
        result, error = future.result() if exc is None else (None, f"{type(exc).__name__}: {exc}")
        if result is None:
            message = f"Re-alignment of {name} failed: {error} (the previous alignment is kept)"
            self.status_bar.showMessage(message)
            self.finished.emit(name, False, message)
            return
        if session is not self.session or session.writer is None:  # another dataset is open now
            self.finished.emit(name, False, "the dataset was closed before the re-alignment finished")
            return
        job = self.session.store_alignment(triplet_id, result, f"re-align {name}")
        if job is not None:
            self._jobs[job] = name
            self.status_bar.showMessage(f"{name} re-aligned; saving…", 3000)

    def _on_written(self, job, _result) -> None:
        name = self._jobs.pop(job, None)
        if name is not None:
            self.status_bar.showMessage(f"{name} re-aligned and saved (your decisions were kept)", 5000)
            self.finished.emit(name, True, "")

    def _on_write_failed(self, job, message: str) -> None:
        name = self._jobs.pop(job, None)
        if name is not None:
            self.finished.emit(name, False, message)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False)
