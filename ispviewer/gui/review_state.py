"""The active review queue of the window, Qt-free: which queue, where the person is in it, and
the walk that N / Shift+N and the gallery take through it.

:class:`ReviewState` is an evented dataclass (psygnal) that views subscribe to — the status bar
shows ``summary``, the gallery pages through ``queue`` — and :class:`QueueWalker` changes it:
it builds queues from the manifest, keeps the progress current as decisions are shown, walks
the queue within the current triplet and then to the next triplet with open patches, and saves
the person's position (in the manifest; read-only datasets keep it for the session).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from psygnal import SignalGroupDescriptor

from ispviewer.dataset.records import DecidedBy, PatchRecord
from ispviewer.dataset.review.progress import QueueProgress
from ispviewer.dataset.review.queues import Queue, QueueSpec, build_queue


@dataclass(eq=False)
class ReviewState:
    """The active queue and the person's position in it (an entry index, None: not started)."""

    events: ClassVar[SignalGroupDescriptor] = SignalGroupDescriptor()

    spec: QueueSpec = field(default_factory=QueueSpec)
    queue: Queue | None = None
    position: int | None = None
    #: patches of the whole queue a person decided (follows decisions as they are shown)
    reviewed: int = 0

    @property
    def summary(self) -> str:
        """E.g. "worst: 12 / 3,401 — reviewed 40 of 3,441" (the status bar's words)."""
        q = self.queue
        if q is None:
            return ""
        if q.empty:
            return f"{self.spec.describe()}: empty — reviewed {self.reviewed} of {q.total}"
        at = "—" if self.position is None else f"{self.position + 1:,}"
        return f"{self.spec.describe()}: {at} / {len(q):,} — reviewed {self.reviewed:,} of {q.total:,}"


class QueueWalker:
    """Builds the active queue and walks it; ``manifest`` reads, ``annotator`` owns the positions."""

    def __init__(self, state: ReviewState, manifest, annotator: str,
                 save_later: Callable[[], None] | None = None):
        """``save_later``: asked to call :meth:`save_position` soon, after each move (a window
        debounces it, so walking costs no write); None: each move is saved at once."""
        self.state = state
        self.manifest = manifest
        self.progress = QueueProgress(manifest, annotator)
        self._save_later = save_later
        self._unsaved = False  # the position moved since it was last saved

    def build(self, spec: QueueSpec | None = None) -> Queue:
        """(Re)build the queue ``spec`` (default: the current one) and resume the saved position."""
        self.save_position()  # the queue left behind keeps where the person was
        spec = spec or self.state.spec
        queue = build_queue(self.manifest, spec)
        saved = self.progress.saved_patch(queue)
        self.state.spec = spec
        self.state.reviewed = queue.reviewed
        self.state.position = None
        self.state.queue = queue
        self.state.position = None if saved is None or queue.empty else self.progress.resume(queue)
        return queue

    def mark(self, patch: PatchRecord) -> None:
        """A decision (or its undo) is shown: keep the progress current."""
        queue = self.state.queue
        if queue is None:
            return
        queue.mark(patch.id, patch.decided_by == DecidedBy.USER)
        self.state.reviewed = queue.reviewed

    def go_to(self, position: int | None) -> None:
        queue = self.state.queue
        if queue is None or position is None or not 0 <= position < len(queue):
            return
        self.state.position = position
        self._unsaved = True
        if self._save_later is None:
            self.save_position()
        else:
            self._save_later()

    def save_position(self) -> None:
        """Write the position if it moved since the last write (a failed write is retried next time)."""
        queue = self.state.queue
        if not self._unsaved or queue is None:
            return
        self.progress.save(queue, self.state.position)
        self._unsaved = False

    def patch_at(self, position: int | None) -> int | None:
        queue = self.state.queue
        if queue is None or position is None or not 0 <= position < len(queue):
            return None
        return queue.patch_ids(position, position + 1)[0]

    def step(self, step: int, triplet_id: int | None, selected: int | None) -> int | None:
        """The next (``step`` +1) or previous (-1) open entry: first within ``triplet_id`` (from
        the selected patch if it is one of the queue's), then in the nearest other triplet that has
        open entries in that direction (wrapping around).  Moves the position there; returns it,
        or None when nothing is left open."""
        queue = self.state.queue
        if queue is None or queue.empty:
            return None
        here = queue.position(selected) if selected is not None else None
        start = (-1 if step > 0 else len(queue)) if here is None else here
        found = queue.next_open(start, step, triplet_id) if triplet_id is not None else None
        if found is None:
            origin = self.state.position if self.state.position is not None else (-1 if step > 0 else len(queue))
            found = self._other_triplet(queue, origin, step, triplet_id)
        if found is not None:
            self.go_to(found)
        return found

    def next_triplet(self, triplet_id: int | None) -> int | None:
        """The triplet N would move on to after ``triplet_id`` (to prefetch it), without moving."""
        queue = self.state.queue
        if queue is None or queue.empty:
            return None
        origin = self.state.position if self.state.position is not None else -1
        if triplet_id is not None:  # N leaves the triplet from its last open entry: the same answer
            last = queue.next_open(len(queue), -1, triplet_id)  # on every N until then
            origin = max(origin, last) if last is not None else origin
        found = self._other_triplet(queue, origin, 1, triplet_id)
        return None if found is None else queue.triplet_of(found)

    @staticmethod
    def _other_triplet(queue: Queue, origin: int, step: int, triplet_id: int | None) -> int | None:
        for start in (origin, -1 if step > 0 else len(queue)):  # onwards, then around
            i = queue.next_open(start, step, other_than=triplet_id)
            if i is not None:
                return i
        return None
