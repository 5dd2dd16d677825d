"""Where a person stands in each review queue.

Positions are kept per person and per queue (its :meth:`QueueSpec.key`) in the manifest, so
closing the app and coming back continues where that person left; a dataset opened read-only
keeps them for the session only.
"""

from __future__ import annotations

from ispviewer.dataset.manifest import Manifest, ManifestReadOnly
from ispviewer.dataset.review.queues import Queue


class QueueProgress:
    """Saved positions of one person (``annotator``) in the queues of one dataset."""

    def __init__(self, manifest: Manifest, annotator: str):
        self.manifest = manifest
        self.annotator = annotator
        self._session: dict[str, int | None] = {}  # read-only datasets: this session only

    @property
    def persistent(self) -> bool:
        return not self.manifest.readonly

    def saved_patch(self, queue: Queue) -> int | None:
        key = queue.spec.key()
        if key in self._session:
            return self._session[key]
        return self.manifest.review_position(self.annotator, key)

    def resume(self, queue: Queue) -> int:
        """The entry to continue from: the saved patch if still open, else the next open one."""
        return queue.resume_position(self.saved_patch(queue))

    def save(self, queue: Queue, position: int | None) -> None:
        """Remember ``position`` (an entry of ``queue``; None: the start)."""
        inside = position is not None and 0 <= position < len(queue)
        patch = queue.patch_ids(position, position + 1)[0] if inside else None
        key = queue.spec.key()
        if self.persistent:
            try:
                self.manifest.set_review_position(self.annotator, key, patch)
                self._session.pop(key, None)
                return
            except ManifestReadOnly:
                pass
        self._session[key] = patch
