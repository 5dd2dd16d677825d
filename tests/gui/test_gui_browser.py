"""Triplet browser, next/previous triplet, prefetch and the background loader."""

import time

import pytest
from PySide6.QtCore import Qt

from guihelpers import press_keys
from ispviewer.gui.loader import TripletLoader
from ispviewer.gui.sources import PHONE


def test_table_shows_counts_and_filters(window):
    b = window.browser
    assert b.visible_names() == ["t01", "t02", "t03", "t04"]
    rec = b.model.records[0]
    assert b.model.index(0, 1).data() == "Apple iPhone 6s"
    assert b.model.index(0, 3).data() == rec.patch_counts["rejected"]
    assert b.model.index(0, 5).data() == f"{rec.mean_misalignment:.2f}"
    b.phone_box.setCurrentText("Xiaomi Mi 11")
    assert b.visible_names() == ["t02", "t04"]
    b.search.setText("4")
    assert b.visible_names() == ["t04"]
    b.search.clear()
    b.phone_box.setCurrentText(b.ANY_MODEL)
    b.status_box.setCurrentText("with errors")
    assert b.visible_names() == []
    b.status_box.setCurrentText("with flagged")
    assert b.visible_names() == ["t01", "t02", "t03", "t04"]


def test_sorting_by_mean_misalignment_drives_next_triplet(qtbot, window):
    b = window.browser
    b.table.sortByColumn(5, Qt.SortOrder.DescendingOrder)
    means = {r.name: r.mean_misalignment for r in b.model.records}
    expected = sorted(means, key=lambda n: -means[n])
    assert b.visible_names() == expected
    window.show_triplet(expected[0])
    qtbot.waitUntil(lambda: not window.state.loading)
    for name in expected[1:]:
        press_keys(window, "PgDown")
        qtbot.waitUntil(lambda: not window.state.loading)
        assert window.state.triplet.name == name
    press_keys(window, "PgUp")
    qtbot.waitUntil(lambda: not window.state.loading)
    assert window.state.triplet.name == expected[-2]


def test_next_triplet_keeps_the_view_and_is_prefetched(qtbot, window):
    vs = window.viewer.view_state
    vs.set_view(101.25, 77.5, 2.5)
    rect = window.viewer.panes[PHONE].visible_rect()
    session = window.session
    request = window.navigator.request_for(session.triplet("t02"))
    qtbot.waitUntil(lambda: window.loader.cached(request) is not None, timeout=10000)  # prefetched
    press_keys(window, "PgDown")
    assert not window.state.loading  # shown straight from the cache, no waiting
    assert window.state.triplet.name == "t02"
    assert window.viewer.loaded.name == "t02"
    assert (vs.centre, vs.zoom) == ((101.25, 77.5), 2.5)
    assert window.viewer.panes[PHONE].visible_rect() == pytest.approx(rect)
    assert window.browser.current_name() == "t02"


def test_clicking_a_row_opens_that_triplet(qtbot, window):
    b = window.browser
    index = b.proxy.index(2, 0)
    b.table.clicked.emit(index)
    qtbot.waitUntil(lambda: not window.state.loading)
    assert window.state.triplet.name == "t03"
    assert window.viewer.loaded.name == "t03"


def test_loader_drops_stale_results(qtbot, window):
    session = window.session
    loader = TripletLoader(cache_size=4, preview=False)
    shown = []
    loader.loaded.connect(lambda r: shown.append(r.name))
    try:
        for name in ("t02", "t03", "t04"):  # quick succession: only the last one may be shown
            loader.request(window.navigator.request_for(session.triplet(name)))
        qtbot.waitUntil(lambda: shown == ["t04"], timeout=10000)
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            qtbot.wait(20)
        assert shown == ["t04"]
        assert loader.generation == 3
        # the stale results were still kept: asking again is instant
        assert loader.request(window.navigator.request_for(session.triplet("t03")))
        assert shown == ["t04", "t03"]
    finally:
        loader.shutdown()


def test_preview_is_the_same_picture_at_a_quarter_size(window):
    import cv2
    import numpy as np

    from ispviewer.gui.loader import PREVIEW_REDUCE, load_triplet
    from ispviewer.gui.sources import TARGET

    request = window.navigator.request_for(window.session.triplet("t01"))
    full = load_triplet(request)
    quick = load_triplet(request, reduce=PREVIEW_REDUCE)
    assert quick.preview and not full.preview
    for key in (PHONE, TARGET):
        p = quick.pyramids[key]
        assert (p.width, p.height) == (320, 240) and p.levels[0].shape[:2] == (60, 80)
        assert p.is_preview and p.base_scale == 4.0
        reduced = cv2.resize(full.pyramids[key].levels[0], (80, 60), interpolation=cv2.INTER_AREA)
        inner = (slice(4, -4), slice(4, -4))  # the warp's border differs by a pixel or two
        assert np.abs(p.levels[0][inner].astype(int) - reduced[inner]).mean() < 6  # same geometry
        assert p.pixel(319, 239) is not None and p.pixel(320, 0) is None


def test_cold_open_shows_a_preview_then_full_resolution(qtbot, window):
    window.loader.forget()
    seen = []
    window.loader.loaded.connect(lambda r: seen.append(r.preview))
    window.show_triplet("t04")
    qtbot.waitUntil(lambda: not window.state.loading, timeout=10000)
    assert seen[-1] is False and seen.count(False) == 1  # the full result came last, once
    assert not window.viewer.panes[PHONE].pyramid.is_preview
    assert len(window.viewer.overlays[PHONE].grid.grid.groups) > 0


def test_shortcuts_work_while_the_table_has_focus(qtbot, window):
    table = window.browser.table
    table.setFocus()
    b = window.browser
    b.table.clicked.emit(b.proxy.index(1, 0))  # a click on a row (gives the table the focus)
    qtbot.waitUntil(lambda: not window.state.loading)
    assert window.state.triplet.name == "t02"
    press_keys(table, "PgDown")
    qtbot.waitUntil(lambda: not window.state.loading)
    assert window.state.triplet.name == "t03"
    press_keys(table, "N")
    assert window.triage.selected is not None


def test_a_prefetched_triplet_is_painted_before_the_browser_row_follows(qtbot, window):
    """A switch to a cached triplet paints its images first; the browser's row (a scroll that
    repaints the table) follows right after."""
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtGui import QKeySequence
    from PySide6.QtTest import QTest

    request = window.navigator.request_for(window.session.triplet("t02"))
    qtbot.waitUntil(lambda: window.loader.cached(request) is not None, timeout=10000)
    qtbot.waitUntil(lambda: window.browser.current_name() == "t01")
    rows_at_paint = []  # the browser's row each time the phone pane painted

    class PaintSpy(QObject):
        def eventFilter(self, obj, event):  # noqa: N802
            if event.type() == QEvent.Type.Paint:
                rows_at_paint.append((window.viewer.loaded.name, window.browser.current_name()))
            return False

    spy = PaintSpy()
    viewport = window.viewer.panes[PHONE].graphics.viewport()
    viewport.installEventFilter(spy)
    try:
        QTest.keySequence(window, QKeySequence("PgDown"))
        assert not window.state.loading and window.viewer.loaded.name == "t02"  # from the cache
        assert window.browser.current_name() == "t01"  # not yet: the images go first
        qtbot.waitUntil(lambda: window.browser.current_name() == "t02" and bool(rows_at_paint))
    finally:
        viewport.removeEventFilter(spy)
    assert rows_at_paint[0] == ("t02", "t01")  # the new images were painted before the row moved
    assert window.browser.current_name() == "t02"
