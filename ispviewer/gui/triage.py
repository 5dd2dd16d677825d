"""Patch triage: selection and undoable accept / reject / flag (the walk through patches is the review
queue's, see :mod:`ispviewer.gui.review_controller`)."""

from __future__ import annotations

from PySide6.QtGui import QUndoStack

from ispviewer.dataset.records import DecidedBy, PatchRecord, Status
from ispviewer.gui.decisions import DecideCommand, Decision
from ispviewer.gui.state import WindowState


def patch_at(patches: list[PatchRecord], x: float, y: float) -> PatchRecord | None:
    """The patch under phone-frame point (x, y) (pixel centres at integers)."""
    for p in patches:
        if p.x - 0.5 <= x < p.x + p.size - 0.5 and p.y - 0.5 <= y < p.y + p.size - 0.5:
            return p
    return None


class Triage:
    """Selecting patches of the current triplet (the selection lives in the window state) and
    deciding them through the undo stack."""

    def __init__(self, session, undo_stack: QUndoStack, state: WindowState):
        self.session = session
        self.undo_stack = undo_stack
        self.state = state

    @property
    def selected(self) -> PatchRecord | None:
        return self.state.selected_patch

    def reset(self) -> None:
        """A new triplet: nothing selected."""
        self.select(None)

    def select(self, patch_id: int | None) -> None:
        self.state.selected = patch_id if patch_id in self.state.patches else None

    def select_at(self, x: float, y: float) -> PatchRecord | None:
        patch = patch_at(list(self.state.patches), x, y)
        self.select(patch.id if patch is not None else None)
        return patch

    def decide(self, status: Status, reason: str | None = None) -> bool:
        """Decide the selected patch as a person; False when there is nothing to do."""
        patch = self.selected
        if patch is None or self.session.readonly:
            return False
        return self.decide_patch(patch, status, reason)

    def decide_patch(self, patch: PatchRecord, status: Status, reason: str | None = None) -> bool:
        """Decide any patch (of any triplet) as the session's person; the same status by another
        decider (the aligner, another person) is a confirmation that makes the decision theirs."""
        if self.session.readonly:
            return False
        new = Decision(Status(status), DecidedBy.USER, reason or None, self.session.annotator)
        old = Decision(patch.status, patch.decided_by, patch.reason, patch.annotator)
        if new == old:
            return False
        verb = {Status.ACCEPTED: "accept", Status.REJECTED: "reject", Status.FLAGGED: "flag"}[new.status]
        text = f"{verb} patch ({patch.x}, {patch.y}) of {patch.triplet}"
        self.undo_stack.push(DecideCommand(self.session, patch.id, new, old, text))
        return True
