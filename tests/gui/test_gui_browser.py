"""Triplet browser, next/previous triplet, prefetch and the background loader."""

import time

import pytest
from guihelpers import press_keys
from PySide6.QtCore import Qt

from ispviewer.gui.loader import TripletLoader
from ispviewer.gui.sources import PHONE, make_request


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
    qtbot.waitUntil(lambda: not window.loading)
    for name in expected[1:]:
        press_keys(window, "PgDown")
        qtbot.waitUntil(lambda: not window.loading)
        assert window.current.name == name
    press_keys(window, "PgUp")
    qtbot.waitUntil(lambda: not window.loading)
    assert window.current.name == expected[-2]


def test_next_triplet_keeps_the_view_and_is_prefetched(qtbot, window):
    vs = window.viewer.view_state
    vs.set_view(101.25, 77.5, 2.5)
    rect = window.viewer.panes[PHONE].visible_rect()
    session = window.session
    request = make_request(session.triplet("t02"), session.manifest.resolve)
    qtbot.waitUntil(lambda: window.loader.cached(request) is not None, timeout=10000)  # prefetched
    press_keys(window, "PgDown")
    assert not window.loading  # shown straight from the cache, no waiting
    assert window.current.name == "t02"
    assert window.viewer.loaded.name == "t02"
    assert (vs.centre, vs.zoom) == ((101.25, 77.5), 2.5)
    assert window.viewer.panes[PHONE].visible_rect() == pytest.approx(rect)
    assert window.browser.current_name() == "t02"


def test_clicking_a_row_opens_that_triplet(qtbot, window):
    b = window.browser
    index = b.proxy.index(2, 0)
    b.table.clicked.emit(index)
    qtbot.waitUntil(lambda: not window.loading)
    assert window.current.name == "t03"
    assert window.viewer.loaded.name == "t03"


def test_loader_drops_stale_results(qtbot, window):
    session = window.session
    loader = TripletLoader(cache_size=4)
    shown = []
    loader.loaded.connect(lambda r: shown.append(r.name))
    try:
        for name in ("t02", "t03", "t04"):  # quick succession: only the last one may be shown
            loader.request(make_request(session.triplet(name), session.manifest.resolve))
        qtbot.waitUntil(lambda: shown == ["t04"], timeout=10000)
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            qtbot.wait(20)
        assert shown == ["t04"]
        assert loader.generation == 3
        # the stale results were still kept: asking again is instant
        assert loader.request(make_request(session.triplet("t03"), session.manifest.resolve))
        assert shown == ["t04", "t03"]
    finally:
        loader.shutdown()
