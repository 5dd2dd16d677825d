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
from dataclasses import dataclass
from typing import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand

from ispviewer.dataset.manifest import Manifest, ManifestError, ManifestLocked
from ispviewer.dataset.records import DecidedBy, Status

#: Seconds between retries once the manifest reported that it is locked.
RETRY_DELAY_S = 1.0


@dataclass(frozen=True)
class Decision:
    """A patch's decision state: what to write, or what to restore on undo."""

    status: Status
    decided_by: DecidedBy
    reason: str | None = None


@dataclass(frozen=True)
class WriteJob:
    """One manifest write: ``run(manifest)`` is called in the writer thread."""

    description: str
    run: Callable[[Manifest], object]
    patch_id: int | None = None


def decide_job(patch_id: int, decision: Decision, description: str) -> WriteJob:
    def run(m: Manifest):
        # a person always acts here (even an undo); decided_by may hand the patch back to the aligner
        return m.decide(patch_id, decision.status, decision.reason, actor=DecidedBy.USER,
                        decided_by=decision.decided_by)
    return WriteJob(description, run, patch_id)


def threshold_job(threshold_px: float) -> WriteJob:
    return WriteJob(f"apply threshold {threshold_px:.2f} px", lambda m: m.apply_threshold(threshold_px))


class DecisionWriter(QObject):
    """A FIFO of manifest writes run by one worker thread with its own connection."""

    written = Signal(object, object)  # WriteJob, result
    failed = Signal(object, str)  # WriteJob, message (the job was dropped: not a lock problem)
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

    def redo(self) -> None:
        self._session.set_decision(self.patch_id, self.new, f"{self.text()}")

    def undo(self) -> None:
        self._session.set_decision(self.patch_id, self.old, f"undo {self.text()}")


class ThresholdCommand(QUndoCommand):
    """Re-decide every auto decision with a new threshold; undo re-applies the old one."""

    def __init__(self, session, new_px: float, old_px: float):
        super().__init__(f"threshold {old_px:.2f} → {new_px:.2f} px")
        self._session = session
        self.new_px = new_px
        self.old_px = old_px

    def redo(self) -> None:
        self._session.apply_threshold(self.new_px)

    def undo(self) -> None:
        self._session.apply_threshold(self.old_px)
