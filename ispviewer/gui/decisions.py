"""Writing decisions to the manifest without freezing the GUI, and undoing them.

All writes of the window go through one :class:`DecisionWriter`: a worker thread with its own
manifest connection that runs jobs strictly in order.  A job that meets a manifest locked by
another process stays at the head of the queue and is retried until it succeeds, so no decision
is lost and none overtakes an earlier one; the GUI is told, and tells the user.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from ispviewer.dataset.manifest import Manifest, ManifestError, ManifestLocked
from ispviewer.dataset.records import DecidedBy, Status

#: Seconds between retries once the manifest reported that it is locked.
RETRY_DELAY_S = 1.0


class Direction(Enum):
    REDO = "redo"
    UNDO = "undo"


@dataclass(frozen=True)
class UndoStep:
    """The undo command (and which way it ran) whose step submitted a write."""

    command: QUndoCommand
    direction: Direction


@dataclass(frozen=True)
class Decision:
    """A patch's decision state: what to write, or what to restore on undo."""

    status: Status
    decided_by: DecidedBy
    reason: str | None = None
    annotator: str | None = None  # whose decision it is (None: the person deciding now, or the aligner)


@dataclass(frozen=True)
class WriteJob:
    """One manifest write: ``run(manifest)`` is called in the writer thread."""

    description: str
    run: Callable[[Manifest], object]
    patch_id: int | None = None
    #: the threshold a threshold job applies (None for other jobs)
    threshold_px: float | None = None
    #: the undo step that submitted this job, so that a failed write can take that step back off
    #: the undo stack (see :func:`roll_back_failed_step`); None for writes outside the undo stack.
    origin: UndoStep | None = field(default=None, compare=False)


def decide_job(patch_id: int, decision: Decision, description: str, origin: UndoStep | None = None,
               person: str | None = None, queue: str | None = None) -> WriteJob:
    """A person's decision (``person``: who is deciding; ``queue``: the review queue it is made from)."""
    def run(m: Manifest):
        # a person always acts here (even an undo); decided_by may hand the patch back to the aligner
        return m.decide(patch_id, decision.status, decision.reason, actor=DecidedBy.USER,
                        decided_by=decision.decided_by, annotator=decision.annotator or person, queue=queue)
    return WriteJob(description, run, patch_id, origin=origin)


def threshold_job(threshold_px: float, origin: UndoStep | None = None) -> WriteJob:
    return WriteJob(f"apply threshold {threshold_px:.2f} px", lambda m: m.apply_threshold(threshold_px),
                    threshold_px=float(threshold_px), origin=origin)


def alignment_job(triplet_id: int, result, description: str) -> WriteJob:
    """Store a new alignment of one triplet (an ``AlignmentResult``); the manifest re-makes the
    aligner's decisions and keeps every decision a person made."""
    return WriteJob(description, lambda m: m.store_alignment(triplet_id, result))


class DecisionWriter(QObject):
    """A FIFO of manifest writes run by one worker thread with its own connection."""

    written = Signal(WriteJob, object)  # result: the PatchRecord decided, or what the manifest returned
    failed = Signal(WriteJob, str)  # message (the job was dropped: not a lock problem)
    blocked = Signal(str)  # the manifest is locked; the head job will be retried
    pending_changed = Signal(int)

    def __init__(self, root, open_manifest: Callable[..., Manifest] = Manifest.open,
                 parent: QObject | None = None):
        super().__init__(parent)
        self._root = root
        self._open = open_manifest
        self._queue: deque[WriteJob] = deque()
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="ispviewer-writer", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def submit(self, job: WriteJob) -> None:
        with self._cond:
            self._queue.append(job)
            n = len(self._queue)
            self._cond.notify_all()
        self.pending_changed.emit(n)

    def wait_idle(self, timeout: float) -> bool:
        """Block until every job is written (True) or ``timeout`` seconds passed (False)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout: float = 5.0) -> list[WriteJob]:
        """Finish what can be written within ``timeout``; return the jobs left unwritten."""
        self.wait_idle(timeout)
        with self._cond:
            self._stop = True
            left = list(self._queue)
            self._cond.notify_all()
        self._thread.join(timeout=max(1.0, timeout))
        return left

    # ----------------------------------------------------------------- worker thread

    def _loop(self) -> None:
        manifest: Manifest | None = None
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._stop:
                        self._cond.wait()
                    if self._stop:
                        return
                    job = self._queue[0]
                try:
                    if manifest is None:
                        manifest = self._open(self._root)
                    result = job.run(manifest)
                except ManifestLocked as exc:
                    self.blocked.emit(str(exc))
                    with self._cond:
                        self._cond.wait(RETRY_DELAY_S)
                    continue
                except (ManifestError, OSError, ValueError) as exc:
                    self._finish(job)
                    self.failed.emit(job, str(exc))
                    continue
                except Exception as exc:  # noqa: BLE001 - never kill the writer thread
                    self._finish(job)
                    self.failed.emit(job, f"{type(exc).__name__}: {exc}")
                    continue
                self._finish(job)
                self.written.emit(job, result)
        finally:
            if manifest is not None:
                manifest.close()

    def _finish(self, job: WriteJob) -> None:
        with self._cond:
            if self._queue and self._queue[0] is job:
                self._queue.popleft()
            n = len(self._queue)
            self._cond.notify_all()
        self.pending_changed.emit(n)


# --------------------------------------------------------------------------- undo commands


class DecideCommand(QUndoCommand):
    """Set one patch's status; undo restores the previous status, decider and reason."""

    def __init__(self, session, patch_id: int, new: Decision, old: Decision, text: str):
        super().__init__(text)
        self._session = session
        self.patch_id = patch_id
        self.new = new
        self.old = old
        self.skip_next = False  # set by roll_back_failed_step: move on the stack without writing

    def redo(self) -> None:
        if _skipped(self):
            return
        self._session.set_decision(self.patch_id, self.new, f"{self.text()}", UndoStep(self, Direction.REDO))

    def undo(self) -> None:
        if _skipped(self):
            return
        self._session.set_decision(self.patch_id, self.old, f"undo {self.text()}", UndoStep(self, Direction.UNDO))


class ThresholdCommand(QUndoCommand):
    """Re-decide every auto decision with a new threshold; undo re-applies the old one."""

    def __init__(self, session, new_px: float, old_px: float):
        super().__init__(f"threshold {old_px:.2f} → {new_px:.2f} px")
        self._session = session
        self.new_px = new_px
        self.old_px = old_px
        self.skip_next = False

    def redo(self) -> None:
        if _skipped(self):
            return
        self._session.apply_threshold(self.new_px, UndoStep(self, Direction.REDO))

    def undo(self) -> None:
        if _skipped(self):
            return
        self._session.apply_threshold(self.old_px, UndoStep(self, Direction.UNDO))


def _skipped(command) -> bool:
    if command.skip_next:
        command.skip_next = False
        return True
    return False


def roll_back_failed_step(stack: QUndoStack, job: WriteJob) -> bool:
    """The write of an undo step failed: make the undo stack match the manifest again.

    A failed decision (redo) leaves the stack: nothing was changed, so there is nothing to undo.
    A failed undo is re-done without writing: the manifest still holds the decision, which stays
    undoable.  Steps further down the stack (several failed writes in a row) are marked obsolete
    and dropped, without writing, when the stack reaches them.  Returns whether the stack changed.
    """
    if job.origin is None:
        return False
    command, direction = job.origin.command, job.origin.direction
    index = next((i for i in range(stack.count()) if stack.command(i) is command), None)
    if index is None:
        return False
    if direction is Direction.REDO:
        command.setObsolete(True)
        command.skip_next = True
        if index == stack.index() - 1:
            stack.undo()  # obsolete: Qt deletes it instead of undoing it
    elif index == stack.index():
        command.skip_next = True
        stack.redo()
    else:
        return False
    while stack.index() > 0 and stack.command(stack.index() - 1).isObsolete():
        stack.undo()  # earlier failed steps now on top
    return True
