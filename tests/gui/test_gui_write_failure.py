"""A decision write that fails (the disk is full): a visible message, and the window goes back to
what the manifest holds — the patch in the grid and the inspector, and the undo stack."""

import sqlite3
import threading

import pytest

from guidata import db_row
from guihelpers import press_keys
from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.records import Status

DISK_FULL = "database or disk is full"


def _fill_the_disk(monkeypatch, not_before: threading.Event | None = None):
    """Manifest.decide fails the way SQLite does when the disk fills up mid-transaction."""
    def decide(self, patch_id, status, reason=None, **kwargs):
        if not_before is not None:
            not_before.wait(10)
        with self._write() as db:
            db.execute("UPDATE patches SET status = 'rejected', decided_by = 'user', reason = 'half' WHERE id = ?",
                       (patch_id,))  # half of the transaction was written when the disk filled up
            raise sqlite3.OperationalError(DISK_FULL)
    monkeypatch.setattr(Manifest, "decide", decide)


def _shown(window, patch_id):
    grid = next(p for p in window.state.patches if p.id == patch_id)
    return grid.status, window.inspector.values["status"].text(), window.triage.selected.status


def _select_accepted(window):
    """Select (with N, worst first) the first patch the aligner accepted."""
    for _ in range(100):
        press_keys(window, "N")
        if window.triage.selected.status == Status.ACCEPTED:
            return window.triage.selected
    raise AssertionError("no accepted patch")


def test_disk_full_shows_a_message_and_rolls_back_to_the_manifest(qtbot, window, dataset, monkeypatch):
    patch = _select_accepted(window)
    before = db_row(dataset, patch.id)
    history = window.inspector.history.rowCount()
    written = threading.Event()
    _fill_the_disk(monkeypatch, not_before=written)

    press_keys(window, "R")
    assert window.undo_stack.count() == 1  # the keypress pushed an undoable decision,
    assert _shown(window, patch.id)[0] == Status.REJECTED  # shown at once, before it is written
    written.set()
    qtbot.waitUntil(lambda: window.session.pending == 0, timeout=5000)
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=2000)

    message = window.banner.label.text()
    assert "not saved" in message and DISK_FULL in message and "reject" in message
    assert DISK_FULL in window.statusBar().currentMessage()
    assert db_row(dataset, patch.id) == before  # the half-written transaction was rolled back
    assert _shown(window, patch.id) == (patch.status, patch.status.value, patch.status)
    assert window.inspector.history.rowCount() == history
    assert window.undo_stack.count() == 0 and not window.undo_stack.canUndo()  # nothing to undo

    monkeypatch.undo()  # space freed: the next decision is written and the notice goes away
    press_keys(window, "R")
    qtbot.waitUntil(lambda: db_row(dataset, patch.id) == ("rejected", "user", None), timeout=5000)
    qtbot.waitUntil(lambda: not window.banner.isVisible(), timeout=2000)
    assert window.undo_stack.count() == 1


def test_failed_undo_keeps_the_decision_and_its_undo_step(qtbot, window, dataset, monkeypatch):
    press_keys(window, "N")
    patch = window.triage.selected
    press_keys(window, "F")
    qtbot.waitUntil(lambda: db_row(dataset, patch.id)[0] == "flagged", timeout=5000)
    _fill_the_disk(monkeypatch)

    press_keys(window, "Ctrl+Z")  # undo fails to write: the patch stays flagged, undo stays possible
    qtbot.waitUntil(lambda: window.session.pending == 0 and window.banner.isVisible(), timeout=5000)
    assert "undo" in window.banner.label.text() and DISK_FULL in window.banner.label.text()
    assert db_row(dataset, patch.id)[0] == "flagged"
    assert _shown(window, patch.id) == (Status.FLAGGED, "flagged", Status.FLAGGED)
    assert window.undo_stack.canUndo() and not window.undo_stack.canRedo()

    monkeypatch.undo()
    press_keys(window, "Ctrl+Z")  # now it works
    qtbot.waitUntil(lambda: db_row(dataset, patch.id)[0] == patch.status.value, timeout=5000)
    assert _shown(window, patch.id)[0] == patch.status


def test_failure_on_another_triplet_does_not_come_back_when_returning(qtbot, window, dataset, monkeypatch):
    patch = _select_accepted(window)
    first = window.state.triplet.name
    before = db_row(dataset, patch.id)
    moved_on = threading.Event()
    _fill_the_disk(monkeypatch, not_before=moved_on)
    press_keys(window, "R")  # the write fails once the user is on the next triplet
    press_keys(window, "PgDown")
    qtbot.waitUntil(lambda: not window.state.loading, timeout=5000)
    assert window.state.triplet.name != first
    moved_on.set()
    qtbot.waitUntil(lambda: window.session.pending == 0, timeout=5000)
    window.show_triplet(first)
    qtbot.waitUntil(lambda: not window.state.loading, timeout=5000)
    assert db_row(dataset, patch.id) == before
    shown = next(p for p in window.state.patches if p.id == patch.id)
    assert shown.status.value == before[0]



def _rejected_by_aligner(dataset) -> int:
    with Manifest.open(dataset, readonly=True) as m:
        return sum(p.status == Status.REJECTED and p.decided_by.value == "auto" for p in m.patches())


def test_failed_threshold_puts_the_histogram_back_to_the_manifest(qtbot, window, dataset, monkeypatch):
    """The dock shows the manifest's threshold and counts again as soon as the threshold write fails,
    even while the user's next decision is still waiting to be written."""
    hist = window.histogram
    with Manifest.open(dataset, readonly=True) as m:
        threshold = m.threshold_px
    rejected = _rejected_by_aligner(dataset)
    failing, release = threading.Event(), threading.Event()
    decide = Manifest.decide

    def apply_threshold(self, threshold_px):
        failing.wait(10)
        with self._write() as db:  # half of the re-decisions were written when the disk filled up
            db.execute("UPDATE patches SET status = 'rejected' WHERE decided_by = 'auto'")
            raise sqlite3.OperationalError(DISK_FULL)

    def slow_decide(self, *args, **kwargs):
        release.wait(10)
        return decide(self, *args, **kwargs)
    monkeypatch.setattr(Manifest, "apply_threshold", apply_threshold)
    monkeypatch.setattr(Manifest, "decide", slow_decide)

    hist.spin.setValue(0.5)
    hist.apply_button.click()
    press_keys(window, "N")
    press_keys(window, "A")  # a decision queued behind the threshold
    assert window.undo_stack.count() == 2
    failing.set()
    try:
        qtbot.waitUntil(lambda: "threshold" in window.banner.label.text(), timeout=5000)
        assert DISK_FULL in window.banner.label.text() and window.session.pending == 1
        assert _rejected_by_aligner(dataset) == rejected  # rolled back
        assert hist.threshold_px == pytest.approx(threshold)
        assert hist.candidate == pytest.approx(threshold) and hist.spin.value() == pytest.approx(threshold)
        assert hist.preview(threshold) == {"rejected": rejected, "accepted": hist.auto_decided - rejected,
                                           "change": 0}
        assert f"<b>{rejected}</b>" in hist.preview_label.text() and "no change" in hist.preview_label.text()
    finally:
        release.set()
    qtbot.waitUntil(lambda: window.session.pending == 0, timeout=5000)
    assert "accept" in window.undo_stack.undoText()  # the decision stays undoable
    assert window.undo_stack.command(0).isObsolete()  # the failed threshold is dropped without writing
    assert hist.threshold_px == pytest.approx(threshold)
