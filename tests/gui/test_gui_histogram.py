"""Figure-4 dock: threshold preview counts, Apply (auto decisions only), undo."""

import sqlite3

import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from guidata import db_row
from guihelpers import press_keys
from ispviewer.dataset.manifest import Manifest


def rejected_counts(root):
    con = sqlite3.connect(str(root / "manifest.sqlite"))
    try:
        return dict(con.execute("SELECT decided_by, SUM(status = 'rejected') FROM patches GROUP BY decided_by"))
    finally:
        con.close()


@pytest.mark.parametrize("threshold", [0.3, 0.8, 1.2, 2.0, 5.0])
def test_preview_counts_match_the_manifest(window, dataset, threshold):
    hist = window.histogram
    hist.spin.setValue(threshold)
    assert hist.candidate == pytest.approx(threshold)
    with Manifest.open(dataset, readonly=True) as m:
        expected = m.threshold_preview(threshold)
    assert hist.preview(threshold)["rejected"] == expected["rejected"]
    assert hist.preview(threshold)["accepted"] == expected["accepted"]
    assert f"<b>{expected['rejected']}</b>" in hist.preview_label.text()


def test_apply_rejects_exactly_the_previewed_patches_and_undo_restores(qtbot, window, dataset):
    press_keys(window, "N")  # one user decision, which a threshold must not touch
    user_patch = window.triage.selected
    press_keys(window, "A")
    hist = window.histogram
    qtbot.waitUntil(lambda: window.session.pending == 0 and hist.user_decisions == 1)  # the dock saw the decision
    before = rejected_counts(dataset)
    hist.spin.setValue(0.8)
    preview = hist.preview(0.8)["rejected"]
    hist.apply_button.click()
    qtbot.waitUntil(lambda: window.session.pending == 0 and hist.threshold_px == pytest.approx(0.8), timeout=5000)
    assert rejected_counts(dataset)["auto"] == preview
    assert db_row(dataset, user_patch.id) == ("accepted", "user", None)
    with Manifest.open(dataset, readonly=True) as m:
        assert m.threshold_px == pytest.approx(0.8)
    # the grid of the current triplet was re-read
    assert sum(p.status.value == "rejected" for p in window.session.patches()) == \
        sum(1 for p in window.session.manifest.patches(window.state.triplet.id) if p.status.value == "rejected")
    press_keys(window, "Ctrl+Z")
    qtbot.waitUntil(lambda: window.session.pending == 0 and hist.threshold_px == pytest.approx(1.2), timeout=5000)
    assert rejected_counts(dataset) == before


def test_threshold_line_can_be_dragged(window):
    hist = window.histogram
    plot = hist.plot
    vb = plot.getPlotItem().getViewBox()
    view = plot.viewport() if hasattr(plot, "viewport") else plot

    def at(x_value):
        scene = vb.mapViewToScene(QPointF(x_value, vb.viewRange()[1][1] * 0.5))
        return QPointF(plot.mapFromScene(scene))

    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    start, end = at(1.2), at(2.0)

    def send(kind, pos, button, buttons):
        ev = QMouseEvent(kind, pos, view.mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(view, ev)

    send(QEvent.Type.MouseButtonPress, start, left, left)
    for i in range(1, 9):
        send(QEvent.Type.MouseMove, start + (end - start) * (i / 8), none, left)
    send(QEvent.Type.MouseButtonRelease, end, left, none)
    assert hist.candidate == pytest.approx(2.0, abs=0.05)
    assert hist.spin.value() == pytest.approx(hist.candidate, abs=0.01)
    assert f"<b>{hist.preview(hist.candidate)['rejected']}</b>" in hist.preview_label.text()


def test_a_decision_updates_the_counts_read_off_the_gui_thread(qtbot, window, monkeypatch):
    """After a decision is saved the dock's counts follow it; the table is read by a worker thread."""
    import threading

    hist = window.histogram
    readers = []
    table = Manifest.misalignment_table

    def recording_table(self):
        readers.append(threading.current_thread())
        return table(self)
    monkeypatch.setattr(Manifest, "misalignment_table", recording_table)
    user, auto = hist.user_decisions, hist.auto_decided
    press_keys(window, "N")
    patch = window.triage.selected
    press_keys(window, "R")
    qtbot.waitUntil(lambda: window.session.pending == 0 and hist.user_decisions == user + 1, timeout=5000)
    measured = patch is not None and patch.measurable and patch.misalignment_px is not None
    assert hist.auto_decided == auto - (1 if measured else 0)
    assert readers and threading.main_thread() not in readers
    assert f"{user + 1} user decision(s)" in hist.preview_label.text()
