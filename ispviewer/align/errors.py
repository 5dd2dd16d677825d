"""The one error the aligner raises for inputs it cannot align."""

from __future__ import annotations


class AlignmentError(Exception):
    """A triplet cannot be aligned; ``reason`` says why in words a user understands.

    Raised for bad input (no SIFT matches, an implausible homography, no overlap, a target much
    smaller than the phone frame...), never for bugs.  The batch records ``str(exc)`` per triplet.
    """

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)
