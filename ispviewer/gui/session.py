"""The open dataset as the window sees it: triplets, the current triplet's patches, and writes.

Reads go through the manifest opened here (GUI thread, WAL readers never wait for writers);
writes go through the :class:`DecisionWriter`.  The current triplet's patches live in the window
state's :class:`~ispviewer.gui.state.PatchSet`: a decision updates it at once (so the grid redraws
immediately) and the write confirms it when it lands.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from ispviewer.dataset.annotator import current_annotator
from ispviewer.dataset.manifest import Manifest, ManifestError
from ispviewer.dataset.records import DecidedBy, DecisionEvent, PatchRecord, TripletRecord
from ispviewer.gui.decisions import (
    Decision,
    DecisionWriter,
    UndoStep,
    WriteJob,
    alignment_job,
    decide_job,
    threshold_job,
)
from ispviewer.gui.state import PatchSet


class DatasetSession(QObject):
    """One open dataset; owns the reading manifest and the writer."""

    triplet_changed = Signal(TripletRecord)  # with fresh counts
    decision_shown = Signal(PatchRecord)  # a decision (or its undo) on any triplet, shown before it is written
    triplets_reloaded = Signal()
    write_failed = Signal(str)
    threshold_failed = Signal()  # a threshold was not applied: the manifest keeps the previous one
    write_blocked = Signal(str)
    pending_changed = Signal(int)

    def __init__(self, manifest: Manifest, patches: PatchSet | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.manifest = manifest
        self.readonly = manifest.readonly
        #: the person deciding in this window (the window sets it from ISPVIEWER_USER / its setting)
        self.annotator = current_annotator()
        #: the review queue decisions are made from now (e.g. "audit"; None: none)
        self.queue_kind: str | None = None
        #: the current triplet's patches (the window state's, shared with every view)
        self.current = patches if patches is not None else PatchSet()
        self._own: dict[int, PatchRecord] = {}  # this window's latest decision per patch, any triplet
        self._unconfirmed = 0  # writes submitted whose answer the GUI thread has not handled yet
        self._answered_at = float("-inf")  # time.monotonic() of the latest write answer handled
        self.writer: DecisionWriter | None = None
        if not self.readonly:
            self.writer = DecisionWriter(manifest.root, parent=self)
            self.writer.written.connect(self._on_written)
            self.writer.failed.connect(self._on_failed)
            self.writer.blocked.connect(self.write_blocked)
            self.writer.pending_changed.connect(self.pending_changed)

    @classmethod
    def open(cls, path: str | Path, readonly: bool = False, patches: PatchSet | None = None) -> DatasetSession:
        """Open a dataset (read-only when asked, or when its folder or manifest is not writable)."""
        return cls(Manifest.open(path, readonly=readonly), patches)

    @property
    def root(self) -> Path:
        return self.manifest.root

    # ----------------------------------------------------------------- reading

    @property
    def current_triplet_id(self) -> int | None:
        return self.current.triplet_id

    def resolve(self, relative: str) -> Path:
        """A manifest path inside the dataset (ManifestError if it leads outside)."""
        return self.manifest.resolve(relative)

    def triplets(self) -> list[TripletRecord]:
        return self.manifest.triplets()

    def triplet(self, key: str | int) -> TripletRecord:
        return self.manifest.triplet(key)

    def load_patches(self, triplet_id: int | None) -> list[PatchRecord]:
        """Make ``triplet_id`` current and return its patches."""
        patches = self.manifest.patches(triplet_id) if triplet_id is not None else []
        self.current.replace(triplet_id, patches)
        return patches

    def show_patches(self, triplet_id: int, patches: list[PatchRecord], prebuilt: object | None = None) -> None:
        """Make ``triplet_id`` current with patches read in the background (possibly a while ago).

        Decisions this window made since win over them (``prebuilt``, a drawing of ``patches``, is
        then dropped).
        """
        merged = [self._own.get(p.id, p) for p in patches]
        changed = any(a is not b for a, b in zip(merged, patches))
        self.current.replace(triplet_id, merged, None if changed else prebuilt)

    def refresh_patches(self, triplet_id: int, patches: list[PatchRecord], read_at: float | None = None) -> bool:
        """Fresh patches of the current triplet from the manifest; True if they differ from ours.

        Ignored while writes are queued (the optimistic state is newer than the manifest then), and
        when one of this window's writes was answered after the read began (``read_at``,
        ``time.monotonic()``): the read may predate that commit, and would take the decision just
        shown back off the screen.  The next re-read picks up what another process decided.
        """
        if triplet_id != self.current_triplet_id or self.pending:
            return False
        if read_at is not None and read_at <= self._answered_at:
            return False
        fresh = {p.id: p for p in patches}
        if fresh == self.current.as_dict():
            return False
        for pid in fresh:
            self._own.pop(pid, None)  # the manifest knows better now
        self.current.replace(triplet_id, patches)
        return True

    def patches(self) -> list[PatchRecord]:
        return list(self.current)

    def patch(self, patch_id: int) -> PatchRecord:
        cached = self.current.get(patch_id)
        return cached if cached is not None else self.manifest.patch(patch_id)

    def history(self, patch_id: int) -> list[DecisionEvent]:
        try:
            return self.manifest.history(patch_id)
        except ManifestError:
            return []

    def misalignment_table(self):
        return self.manifest.misalignment_table()

    def group_keys(self, by: str) -> dict[str, tuple[str, ...]]:
        """Triplet name -> its groups by illumination, phone, tag or split (the histogram's overlay)."""
        from ispviewer.align.group_stats import group_keys

        return group_keys(self.manifest, by)

    def tags(self) -> dict[str, tuple[str, ...]]:
        return self.manifest.tags()

    @property
    def threshold_px(self) -> float:
        return self.manifest.threshold_px

    # ----------------------------------------------------------------- writing

    @property
    def pending(self) -> int:
        """Writes not yet answered (as seen on the GUI thread: 0 means every answer was applied)."""
        return self._unconfirmed

    def _submit(self, job: WriteJob) -> None:
        self._unconfirmed += 1
        self.writer.submit(job)

    def set_decision(self, patch_id: int, decision: Decision, description: str,
                     origin: UndoStep | None = None) -> None:
        """Show the decision at once and queue its write (``origin``: the undo step deciding it)."""
        if self.writer is None:
            self.write_failed.emit(f"{self.root}: dataset is open read-only; decision not saved")
            return
        old = self.patch(patch_id)
        person = (decision.annotator or self.annotator) if decision.decided_by == DecidedBy.USER else None
        new = dataclasses.replace(old, status=decision.status, decided_by=decision.decided_by,
                                  reason=decision.reason, annotator=person)
        self._own[patch_id] = new
        # the write first: the writer commits it while this thread redraws (its answer is handled
        # on this thread, so never before the decision is shown)
        self._submit(decide_job(patch_id, decision, description, origin, self.annotator, self.queue_kind))
        self.current.update(new)
        self.decision_shown.emit(new)

    def apply_threshold(self, threshold_px: float, origin: UndoStep | None = None) -> None:
        if self.writer is None:
            self.write_failed.emit(f"{self.root}: dataset is open read-only; threshold not applied")
            return
        self._submit(threshold_job(threshold_px, origin))

    def store_alignment(self, triplet_id: int, result, description: str) -> WriteJob | None:
        """Queue a re-alignment's result (user decisions are kept); returns the queued job."""
        if self.writer is None:
            self.write_failed.emit(f"{self.root}: dataset is open read-only; alignment not stored")
            return None
        job = alignment_job(triplet_id, result, description)
        self._submit(job)
        return job

    def _on_written(self, job: WriteJob, result) -> None:
        self._unconfirmed -= 1
        self._answered_at = time.monotonic()
        if isinstance(result, PatchRecord):
            if self.pending == 0:
                # only when nothing newer is queued, or a later optimistic state would flicker back
                self._own[result.id] = result
                self.current.update(result)
            self._refresh_triplet(result.triplet_id)
        else:  # a threshold (or a new alignment): every auto decision may have changed
            self._own.clear()
            if self.current_triplet_id is not None:
                self.load_patches(self.current_triplet_id)
            self.triplets_reloaded.emit()

    def _on_failed(self, job: WriteJob, message: str) -> None:
        self._unconfirmed -= 1
        self._answered_at = time.monotonic()
        if job.patch_id is not None:
            self._own.pop(job.patch_id, None)  # never show the unsaved decision again, on any triplet
        if job.patch_id is not None and job.patch_id in self.current:
            try:  # show the truth again
                fresh = self.manifest.patch(job.patch_id)
                self._own.pop(fresh.id, None)
                self.current.update(fresh)
            except ManifestError:
                pass
        if job.threshold_px is not None:
            self.threshold_failed.emit()
        self.write_failed.emit(f"{job.description} was not saved: {message}")

    def _refresh_triplet(self, triplet_id: int) -> None:
        try:
            self.triplet_changed.emit(self.manifest.triplet(triplet_id))
        except ManifestError:
            pass

    def close(self, timeout: float = 5.0) -> list[WriteJob]:
        """Write what is queued (up to ``timeout``), close; returns unwritten jobs."""
        left = self.writer.close(timeout) if self.writer is not None else []
        self.manifest.close()
        return left
