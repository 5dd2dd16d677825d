"""Triage with the keyboard and mouse: selection, worst-first order, decisions, undo/redo."""

import pytest

from guidata import db_row
from guihelpers import click, press_keys, to_viewport
from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.records import DecidedBy, Status
from ispviewer.gui.sources import TARGET


def wait_saved(qtbot, window):
    qtbot.waitUntil(lambda: window.session.pending == 0, timeout=5000)


def expected_worst_order(dataset, name="t01"):
    """The worst queue's order within one triplet: measurable patches, largest misalignment first."""
    with Manifest.open(dataset, readonly=True) as m:
        patches = m.patches(m.triplet(name).id)
    measured = sorted((p for p in patches if p.misalignment_px is not None), key=lambda p: (-p.misalignment_px, p.id))
    return [p.id for p in measured]


def test_click_selects_the_patch_under_the_mouse(window):
    pane = window.viewer.panes[TARGET]
    click(pane, to_viewport(pane, 70, 40))  # patch at (64, 32), size 32
    patch = window.triage.selected
    assert (patch.x, patch.y) == (64, 32)
    assert window.viewer.overlays[TARGET].selection.boundingRect().contains(70, 40)
    assert window.inspector.values["position"].text() == "x 64, y 32"


def test_n_walks_the_worst_queue_in_this_triplet_then_the_next_triplet(qtbot, window, dataset):
    order = expected_worst_order(dataset)
    first = window.state.triplet.name
    assert first == "t01"
    seen = []
    for _ in range(len(order)):
        press_keys(window, "N")
        p = window.triage.selected
        seen.append(p.id)
        assert window.viewer.view_state.centre == pytest.approx((p.x - 0.5 + p.size / 2, p.y - 0.5 + p.size / 2))
    assert seen == order
    press_keys(window, "Shift+N")
    assert window.triage.selected.id == order[-2]
    press_keys(window, "N")
    press_keys(window, "N")  # nothing left here: the next triplet that has open patches
    qtbot.waitUntil(lambda: window.state.shown not in (None, first) and window.triage.selected is not None,
                    timeout=10000)
    p = window.triage.selected
    assert p.triplet != first and window.state.triplet.name == p.triplet
    assert window.viewer.view_state.centre == pytest.approx((p.x - 0.5 + p.size / 2, p.y - 0.5 + p.size / 2))
    queue = window.state.review.queue
    assert queue.position(p.id) == window.state.review.position  # the queue's position follows
    assert "worst" in window.review.label.text()


@pytest.mark.parametrize("key, status", [("A", Status.ACCEPTED), ("R", Status.REJECTED), ("F", Status.FLAGGED)])
def test_decision_keys_write_the_manifest_and_undo_restores(qtbot, window, dataset, key, status):
    press_keys(window, "N")  # the worst patch: auto-rejected
    patch = window.triage.selected
    before = db_row(dataset, patch.id)
    assert before[1] == "auto"  # deciding the same status as the aligner still makes it a person's decision
    press_keys(window, key)
    wait_saved(qtbot, window)
    assert db_row(dataset, patch.id) == (status.value, "user", None)  # seen by another connection
    assert window.triage.selected.status == status
    assert window.inspector.values["decided by"].text() == "user"
    press_keys(window, "Ctrl+Z")
    wait_saved(qtbot, window)
    assert db_row(dataset, patch.id) == before
    press_keys(window, "Ctrl+Shift+Z")
    wait_saved(qtbot, window)
    assert db_row(dataset, patch.id) == (status.value, "user", None)


def test_history_and_grid_follow_decisions(qtbot, window, dataset):
    press_keys(window, "N")
    patch = window.triage.selected
    press_keys(window, "A")
    press_keys(window, "F")
    wait_saved(qtbot, window)
    with Manifest.open(dataset, readonly=True) as m:
        history = m.history(patch.id)
    assert [(e.actor, e.new_status) for e in history][-2:] == [(DecidedBy.USER, Status.ACCEPTED),
                                                               (DecidedBy.USER, Status.FLAGGED)]
    assert window.inspector.history.rowCount() == len(history)
    grid = window.viewer.overlays[TARGET].grid
    pens = {(pen.color().name(), pen.widthF()) for _, pen, _ in grid.grid.groups}
    from ispviewer.gui.overlays import STATUS_COLOURS

    assert (STATUS_COLOURS[Status.FLAGGED].name(), 3.0) in pens  # a person's flag: thick
    press_keys(window, "Ctrl+Z")
    press_keys(window, "Ctrl+Z")
    wait_saved(qtbot, window)
    assert db_row(dataset, patch.id)[:2] == ("rejected", "auto")


def _reason_dialog(window, qtbot):
    from ispviewer.gui.reason_dialog import ReasonDialog

    def shown():
        return [d for d in window.findChildren(ReasonDialog) if d.isVisible()]
    qtbot.waitUntil(lambda: len(shown()) == 1, timeout=3000)
    return shown()[0]


def test_reject_with_reason_offers_presets_and_free_text_remembered_per_dataset(qtbot, window, dataset,
                                                                                make_window):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QKeySequence
    from PySide6.QtTest import QTest

    from ispviewer.gui.reason_dialog import PRESET_REASONS

    press_keys(window, "N")  # the worst patch of this triplet
    patch = window.triage.selected
    press_keys(window, "Shift+R")
    dialog = _reason_dialog(window, qtbot)
    assert [b.text().split(maxsplit=1)[1] for b in dialog.buttons.values()] == list(PRESET_REASONS)
    assert set(PRESET_REASONS) == {"blur", "moving object", "exposure/clipping", "occlusion/parallax",
                                   "noise", "other"}
    qtbot.mouseClick(dialog.buttons["moving object"], Qt.MouseButton.LeftButton)
    QTest.keyClicks(dialog.text, "car at left")
    QTest.keyClick(dialog.text, Qt.Key.Key_Return)
    wait_saved(qtbot, window)
    assert db_row(dataset, patch.id) == ("rejected", "user", "moving object: car at left")
    assert window.inspector.values["reason"].text() == "moving object: car at left"
    # a preset alone, picked with the keyboard (Alt+1 = blur)
    press_keys(window, "N")
    other = window.triage.selected
    press_keys(window, "Shift+F")
    dialog = _reason_dialog(window, qtbot)
    assert dialog.preset == "moving object"  # the last preset of this dataset is preselected
    QTest.keySequence(dialog, QKeySequence("Alt+1"))
    assert dialog.preset == "blur"
    QTest.keyClick(dialog.text, Qt.Key.Key_Return)
    wait_saved(qtbot, window)
    assert db_row(dataset, other.id) == ("flagged", "user", "blur")
    # cancelling decides nothing
    press_keys(window, "N")
    third = window.triage.selected
    before = db_row(dataset, third.id)
    press_keys(window, "Shift+A")
    QTest.keyClick(_reason_dialog(window, qtbot), Qt.Key.Key_Escape)
    wait_saved(qtbot, window)
    assert db_row(dataset, third.id) == before
    # the free text is offered again for this dataset, in a new window too
    window.close()
    again = make_window(dataset)
    press_keys(again, "N")
    press_keys(again, "Shift+R")
    dialog = _reason_dialog(again, qtbot)
    assert dialog.text.completer() is not None
    assert "car at left" in dialog.text.completer().model().stringList()
    QTest.keyClick(dialog, Qt.Key.Key_Escape)


def test_decision_without_selection_does_nothing(window, dataset):
    shown = []  # other notices (e.g. about the weights) may replace the message a moment later
    window.statusBar().messageChanged.connect(shown.append)
    press_keys(window, "A")
    assert window.undo_stack.count() == 0
    assert any("Select a patch" in text for text in shown)


def test_undo_across_triplets_and_counts_refresh(qtbot, window, dataset):
    press_keys(window, "N")
    worst = window.triage.selected
    press_keys(window, "A")
    wait_saved(qtbot, window)
    assert window.browser.model.records[0].name == "t01"
    qtbot.waitUntil(lambda: window.browser.model.records[0].patch_counts["accepted"] == 32)  # 31 auto + 1 user
    press_keys(window, "PgDown")
    qtbot.waitUntil(lambda: not window.state.loading)
    assert window.state.triplet.name == "t02"
    press_keys(window, "Ctrl+Z")  # undo works for a decision made on another triplet
    wait_saved(qtbot, window)
    assert db_row(dataset, worst.id) == ("rejected", "auto", db_row(dataset, worst.id)[2])
    qtbot.waitUntil(lambda: window.browser.model.records[0].patch_counts["accepted"] == 31)


def test_back_to_a_prefetched_triplet_shows_this_windows_decisions_at_once(qtbot, window):
    press_keys(window, "N")
    worst = window.triage.selected
    press_keys(window, "A")
    qtbot.waitUntil(lambda: window.session.pending == 0)
    press_keys(window, "PgDown")
    qtbot.waitUntil(lambda: not window.state.loading)
    t01 = window.navigator.request_for(window.session.triplet("t01"))
    qtbot.waitUntil(lambda: window.loader.cached(t01) is not None)
    press_keys(window, "PgUp")  # from the cache: its patches may predate the decision
    assert not window.state.loading
    assert window.session.patch(worst.id).status == Status.ACCEPTED
    assert any(p.id == worst.id and p.status == Status.ACCEPTED for p in window.state.patches)


def test_decisions_of_another_process_appear_after_switching(qtbot, window, dataset):
    t02 = window.navigator.request_for(window.session.triplet("t02"))
    qtbot.waitUntil(lambda: window.loader.cached(t02) is not None)  # prefetched
    with Manifest.open(dataset) as other:  # another process decides on t02
        victim = other.patches(other.triplet("t02").id)[0]
        other.decide(victim.id, Status.FLAGGED, "checked elsewhere")
    press_keys(window, "PgDown")
    assert window.state.triplet.name == "t02"
    qtbot.waitUntil(lambda: window.session.patch(victim.id).reason == "checked elsewhere", timeout=5000)
    assert any(p.id == victim.id and p.status == Status.FLAGGED for p in window.state.patches)


def test_a_re_read_that_began_before_a_decision_was_committed_does_not_undo_it_on_screen(qtbot, window, dataset):
    """A cached triplet's patches are re-read in the background; when that read started before the
    person's decision was committed and arrives after its answer, the decision stays shown."""
    import time

    t01 = window.state.triplet
    before = time.monotonic()
    with Manifest.open(dataset, readonly=True) as m:
        stale = m.patches(t01.id)  # what a read begun now returns
    press_keys(window, "N")
    patch = window.triage.selected
    press_keys(window, "F")
    wait_saved(qtbot, window)
    assert window.state.patches.get(patch.id).status == Status.FLAGGED
    # the stale read arrives now: ignored, the decision stays on screen
    assert not window.session.refresh_patches(t01.id, stale, before)
    assert window.state.patches.get(patch.id).status == Status.FLAGGED
    assert window.state.patches.get(patch.id).decided_by == DecidedBy.USER
    # a read begun after the commit is taken (here it agrees: nothing changes on screen)
    with Manifest.open(dataset, readonly=True) as m:
        fresh = m.patches(t01.id)
    window.session.refresh_patches(t01.id, fresh, time.monotonic())
    assert window.state.patches.get(patch.id).status == Status.FLAGGED
    # and a read begun after the commit that shows another process's change replaces ours
    with Manifest.open(dataset) as other:
        other.decide(patch.id, Status.ACCEPTED, "checked elsewhere")
        fresh = other.patches(t01.id)
    assert window.session.refresh_patches(t01.id, fresh, time.monotonic())
    assert window.state.patches.get(patch.id).status == Status.ACCEPTED
