"""Bad input: broken triplets, unaligned ones, read-only datasets, a locked manifest."""

import sqlite3

from guidata import build_dataset, db_row, write_triplet
from guihelpers import press_keys
from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.manifest import connection as manifest_module
from ispviewer.dataset.records import Status
from ispviewer.gui import decisions
from ispviewer.gui.sources import PHONE, TARGET


def test_broken_triplet_shows_its_error_in_place_and_the_rest_works(qtbot, make_window, tmp_path):
    root = build_dataset(tmp_path / "ds", broken="t02")
    (root / "captures/t03/target.jpg").unlink()
    w = make_window(root)
    press_keys(w, "PgDown")
    qtbot.waitUntil(lambda: not w.state.loading)
    assert w.state.triplet.name == "t02"
    phone, target = w.viewer.panes[PHONE], w.viewer.panes[TARGET]
    assert phone.pyramid is None and phone.message.isVisible()
    assert "phone.jpg" in phone.message.text() and "JPEG" in phone.message.text()
    assert target.pyramid is not None and not target.message.isVisible()  # the other pane still shows
    row = w.browser.model.records[1]
    assert "phone.jpg" in w.browser.model.error_of(row)
    press_keys(w, "N")  # triage still works on the broken triplet's patches
    assert w.triage.selected is not None
    press_keys(w, "PgDown")
    qtbot.waitUntil(lambda: not w.state.loading)
    assert w.state.triplet.name == "t03"
    assert phone.pyramid is not None and not phone.message.isVisible()
    assert target.pyramid is None and "does not exist" in target.message.text()
    press_keys(w, "PgDown")
    qtbot.waitUntil(lambda: not w.state.loading)
    assert w.state.triplet.name == "t04" and target.pyramid is not None and not target.message.isVisible()


def test_unaligned_and_failed_triplets_say_so(qtbot, make_window, tmp_path):
    root = build_dataset(tmp_path / "ds")
    with Manifest.open(root) as m:
        write_triplet(m, root, "t05", seed=5, align=False)
        tid = write_triplet(m, root, "t06", seed=6, align=False)
        m.store_alignment_failure(tid, "too few SIFT matches (3)")
    w = make_window(root)
    w.show_triplet("t05")
    qtbot.waitUntil(lambda: not w.state.loading)
    assert "not aligned yet" in w.viewer.panes[TARGET].message.text()
    assert w.viewer.panes[PHONE].pyramid is not None
    w.show_triplet("t06")
    qtbot.waitUntil(lambda: not w.state.loading)
    assert "too few SIFT matches" in w.viewer.panes[TARGET].message.text()
    assert "too few SIFT matches" in w.browser.model.error_of(w.browser.model.records[-1])


def test_opening_a_folder_that_is_not_a_dataset(make_window, dataset, tmp_path, qtbot):
    w = make_window(None)
    assert not w.open_dataset(tmp_path / "nothing-here")
    assert "no ispviewer dataset here" in w.viewer.panes[PHONE].message.text()
    assert not w.actions_["accept"].isEnabled()
    assert w.open_dataset(dataset)  # and the window is still usable
    qtbot.waitUntil(lambda: not w.state.loading)
    assert w.viewer.panes[PHONE].pyramid is not None


def test_read_only_dataset_disables_decisions_with_a_notice(qtbot, make_window, dataset):
    w = make_window(None)
    assert w.open_dataset(dataset, readonly=True)
    qtbot.waitUntil(lambda: not w.state.loading)
    assert w.banner.isVisible() and "Read-only" in w.banner.label.text()
    assert "[read-only]" in w.windowTitle()
    assert not w.actions_["accept"].isEnabled() and not w.actions_["reject"].isEnabled()
    assert not w.histogram.apply_button.isEnabled()
    press_keys(w, "N")  # navigation still works
    patch = w.triage.selected
    before = db_row(dataset, patch.id)
    press_keys(w, "A")
    press_keys(w, "R")
    assert w.undo_stack.count() == 0
    assert db_row(dataset, patch.id) == before


def test_locked_manifest_is_retried_and_no_decision_is_lost(qtbot, window, dataset, monkeypatch):
    monkeypatch.setattr(manifest_module, "LOCK_RETRY_S", 0.3)
    monkeypatch.setattr(manifest_module, "BUSY_TIMEOUT_S", 0.05)
    monkeypatch.setattr(decisions, "RETRY_DELAY_S", 0.1)
    press_keys(window, "N")
    patch = window.triage.selected
    before = db_row(dataset, patch.id)
    other = sqlite3.connect(str(dataset / "manifest.sqlite"), isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        press_keys(window, "A")
        assert window.triage.selected.status == Status.ACCEPTED  # shown at once
        qtbot.waitUntil(lambda: window.banner.isVisible() and "locked" in window.banner.label.text(), timeout=5000)
        assert window.session.pending == 1
        press_keys(window, "F")  # queued behind the first, in order
        assert db_row(dataset, patch.id) == before
        assert window.viewer.panes[PHONE].pyramid is not None  # the GUI keeps working meanwhile
    finally:
        other.execute("ROLLBACK")
        other.close()
    qtbot.waitUntil(lambda: window.session.pending == 0, timeout=5000)
    assert db_row(dataset, patch.id) == ("flagged", "user", None)
    with Manifest.open(dataset, readonly=True) as m:
        assert [e.new_status for e in m.history(patch.id)][-2:] == [Status.ACCEPTED, Status.FLAGGED]
    qtbot.waitUntil(lambda: not window.banner.isVisible())


def test_closing_with_unsaved_decisions_asks_and_keeps_them(qtbot, window, dataset, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from ispviewer.gui import main_window

    monkeypatch.setattr(manifest_module, "LOCK_RETRY_S", 0.2)
    monkeypatch.setattr(manifest_module, "BUSY_TIMEOUT_S", 0.05)
    monkeypatch.setattr(decisions, "RETRY_DELAY_S", 0.1)
    monkeypatch.setattr(main_window, "CLOSE_WAIT_S", 0.3)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", staticmethod(
        lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.Retry))
    press_keys(window, "N")
    patch = window.triage.selected
    other = sqlite3.connect(str(dataset / "manifest.sqlite"), isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        press_keys(window, "R")
        window.close()
        assert asked and window.isVisible()  # the user chose to keep waiting
    finally:
        other.execute("ROLLBACK")
        other.close()
    qtbot.waitUntil(lambda: window.session.pending == 0, timeout=5000)
    assert db_row(dataset, patch.id) == ("rejected", "user", None)
    window.close()
    assert not window.isVisible()
