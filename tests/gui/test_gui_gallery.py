"""The patch gallery and the review queue in the window, driven with real keys: V opens it with
the first tile focused and the keyboard in it, arrows / Shift+arrows / A R F / Space / Enter /
PgDown act on it (not on the window's shortcuts), decisions carry the person and are undoable."""

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from guidata import db_row
from guihelpers import grab_rgb, press_keys
from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.records import DecidedBy, Status
from ispviewer.gui.gallery import PAGE_SIZE


@pytest.fixture
def gallery_window(qtbot, make_window, dataset, monkeypatch):
    monkeypatch.setenv("ISPVIEWER_USER", "ann")
    w = make_window(dataset, size=(1600, 1000))
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)
    press_keys(w, "V")
    gallery = w.review.gallery
    qtbot.waitUntil(lambda: gallery.grid.hasFocus(), timeout=5000)
    qtbot.waitUntil(lambda: all(gallery.tiles.tile(p.id) is not None for p in gallery.page_patches), timeout=15000)
    return w


def wait_saved(qtbot, window):
    qtbot.waitUntil(lambda: window.session.pending == 0, timeout=5000)


def test_v_opens_the_worst_queue_first_tile_focused(gallery_window, dataset):
    w = gallery_window
    g = w.review.gallery
    assert w.centre_stack.currentWidget() is g and w.actions_["gallery"].isChecked()
    assert len(g.page_patches) == PAGE_SIZE and g.focus == 0
    values = [p.misalignment_px for p in g.page_patches]
    assert values == sorted(values, reverse=True)  # the dataset-wide order: several triplets on one page
    assert len({p.triplet for p in g.page_patches}) > 1
    with Manifest.open(dataset, readonly=True) as m:
        worst = max((p for p in m.patches() if p.misalignment_px is not None), key=lambda p: p.misalignment_px)
    assert g.page_patches[0].id == worst.id
    tile = g.tiles.tile(worst.id)
    assert (tile.phone.width(), tile.phone.height()) == (worst.size, worst.size)  # 1:1
    press_keys(g.grid, "V")
    assert w.centre_stack.currentIndex() == 0 and not w.actions_["gallery"].isChecked()


def test_keys_decide_the_focused_tile_not_the_window_selection(qtbot, gallery_window, dataset):
    w = gallery_window
    g = w.review.gallery
    assert w.triage.selected is None  # the window's A would have nothing to decide
    press_keys(g.grid, "Right")
    target = g.page_patches[1]
    assert g.focus == 1
    press_keys(g.grid, "A")
    wait_saved(qtbot, w)
    assert db_row(dataset, target.id) == ("accepted", "user", None)
    with Manifest.open(dataset, readonly=True) as m:
        p = m.patch(target.id)
        assert p.annotator == "ann" and m.history(p.id)[-1].queue == "worst"
    assert g.page_patches[1].status == Status.ACCEPTED and g.page_patches[1].decided_by == DecidedBy.USER
    assert g.focus == 2  # a single decision moves on
    assert "reviewed 1 of" in w.review.label.text()
    press_keys(w, "Ctrl+Z")
    wait_saved(qtbot, w)
    assert db_row(dataset, target.id)[1] == "auto" and "reviewed 0 of" in w.review.label.text()


def test_shift_arrows_select_several_and_one_key_decides_them_as_one_step(qtbot, gallery_window, dataset):
    w = gallery_window
    g = w.review.gallery
    press_keys(g.grid, "Shift+Right")
    press_keys(g.grid, "Shift+Right")
    assert g.selection == {0, 1, 2}
    chosen = [g.page_patches[i].id for i in (0, 1, 2)]
    press_keys(g.grid, "F")
    wait_saved(qtbot, w)
    assert [db_row(dataset, pid)[:2] for pid in chosen] == [("flagged", "user")] * 3
    press_keys(w, "Ctrl+Z")  # one undo step for the three
    wait_saved(qtbot, w)
    assert [db_row(dataset, pid)[1] for pid in chosen] == ["auto"] * 3


def test_space_flickers_the_focused_tile(qtbot, gallery_window):
    g = gallery_window.review.gallery
    rect = g.grid.tile_rect(0)
    before = grab_rgb(g.grid)
    press_keys(g.grid, "Space")
    assert g.flickered
    after = grab_rgb(g.grid)
    dpr = g.grid.devicePixelRatioF()
    y0, x0, s = int(rect.y() * dpr), int(rect.x() * dpr), g.page_patches[0].size
    assert not np.array_equal(before[y0:y0 + s, x0:x0 + s], after[y0:y0 + s, x0:x0 + s])
    press_keys(g.grid, "Space")
    assert not g.flickered


def test_pgdown_turns_the_gallery_page_not_the_triplet(qtbot, gallery_window):
    w = gallery_window
    g = w.review.gallery
    triplet = w.state.triplet.name
    first_page = [p.id for p in g.page_patches]
    press_keys(g.grid, "PgDown")
    assert g.page == 1 and g.focus == 0 and w.state.triplet.name == triplet
    assert not set(first_page) & {p.id for p in g.page_patches}
    qtbot.waitUntil(lambda: all(g.tiles.tile(p.id) is not None for p in g.page_patches), timeout=15000)
    press_keys(g.grid, "PgUp")
    assert [p.id for p in g.page_patches] == first_page


def test_enter_opens_the_triplet_centred_on_the_patch_at_100_percent(qtbot, gallery_window):
    w = gallery_window
    g = w.review.gallery
    far = next(i for i, p in enumerate(g.page_patches) if p.triplet != w.state.triplet.name)
    g.set_focus(far)
    patch = g.page_patches[far]
    press_keys(g.grid, "Return")
    qtbot.waitUntil(lambda: w.state.shown == patch.triplet and w.triage.selected is not None, timeout=10000)
    assert w.centre_stack.currentIndex() == 0
    assert w.triage.selected.id == patch.id
    assert w.viewer.view_state.zoom == 1.0
    assert w.viewer.view_state.centre == pytest.approx((patch.x - 0.5 + patch.size / 2, patch.y - 0.5 + patch.size / 2))
    assert w.inspector.values["annotator"].text() == "—"
    press_keys(w, "A")  # the main window's keys work again there
    wait_saved(qtbot, w)
    assert w.inspector.values["annotator"].text() == "ann"
    QApplication.processEvents()


def test_audit_decisions_show_their_estimate_under_the_histogram(qtbot, gallery_window, dataset):
    w = gallery_window
    g = w.review.gallery
    press_keys(w, "V")  # back to the panes, where the queue is chosen in the Navigate menu
    w.actions_["queue_audit"].trigger()
    assert w.state.review.spec.kind.value == "audit" and "audit" in w.review.label.text()
    press_keys(w, "V")
    qtbot.waitUntil(lambda: g.grid.hasFocus(), timeout=5000)
    assert all(p.status == Status.ACCEPTED and p.decided_by == DecidedBy.AUTO for p in g.page_patches)
    press_keys(g.grid, "R")  # one rejected...
    for _ in range(3):
        press_keys(g.grid, "A")  # ...three confirmed
    wait_saved(qtbot, w)
    qtbot.waitUntil(lambda: "audit: 4 auto-accepted patches reviewed, 1 rejected by a person: 25.0%"
                    in w.histogram.audit_label.text(), timeout=5000)
    assert "reviewed 4 of" in w.review.label.text()
