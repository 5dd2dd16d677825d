"""What a new user ran into, replayed on the real window: status messages that can be read, keys
that keep working after the filter box, a failed open that leaves nothing half-closed."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from guihelpers import click, grab_rgb, press_keys, to_viewport
from ispviewer.gui.sources import PHONE
from ispviewer.gui.triplet_browser import COLUMNS


def message_area(w) -> np.ndarray:
    """Pixels of the status bar left of its permanent widgets, where temporary messages are drawn."""
    bar = w.statusBar()
    permanent = [c for c in bar.findChildren(type(w.readout)) if c.isVisible() and c.parent() is not None
                 and c.geometry().width() > 0 and c.x() > 0]
    right = min([c.x() for c in permanent] + [bar.width()])
    shot = grab_rgb(bar)
    ratio = shot.shape[1] / bar.width()
    return shot[:, : int(right * ratio)]


def shows_text(w, text: str) -> bool:
    """``text`` is the status bar's message and is drawn (room for it, and ink where it goes)."""
    bar = w.statusBar()
    if text not in bar.currentMessage():
        return False
    area = message_area(w)
    room = area.shape[1] / (grab_rgb(bar).shape[1] / bar.width())
    ink = np.abs(area.astype(int) - np.median(area.reshape(-1, 3), axis=0)).max(axis=2) > 60
    return room >= bar.fontMetrics().horizontalAdvance(text[:40]) and ink[:, :200].sum() > 30


def test_status_messages_are_visible_next_to_the_pixel_readout(window, tmp_path, qtbot):
    w = window
    pane = w.viewer.panes[PHONE]
    # hovering fills the readout with a long line, as it did when the messages disappeared
    w.viewer.hovered.emit(100.0, 80.0)
    assert "x 100, y 80" in w.readout.text() and len(w.readout.text()) > 60
    assert w.state.selected is None
    press_keys(w, "R")  # nothing selected
    assert shows_text(w, "Select a patch first")
    # bogus weights: the reason can be read in the status bar
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a checkpoint at all")
    w.tools.output.weights.load(bogus)
    qtbot.waitUntil(lambda: "Could not load weights" in w.statusBar().currentMessage(), timeout=10000)
    assert shows_text(w, "Could not load weights")
    assert pane.isVisible()


def test_a_failed_open_keeps_the_open_dataset_usable(make_window, dataset, tmp_path, qtbot):
    w = make_window(dataset)
    title, names = w.windowTitle(), w.browser.visible_names()
    bad = tmp_path / "not-a-dataset"
    bad.mkdir()
    assert not w.open_dataset(bad)
    # still the old dataset, whole: session, title, browser, and rows that load
    assert w.session is not None and w.session.root == dataset
    assert w.windowTitle() == title and w.browser.visible_names() == names
    assert "Could not open" in w.statusBar().currentMessage() and dataset.name in w.statusBar().currentMessage()
    press_keys(w, "PgDown")
    qtbot.waitUntil(lambda: w.state.shown == names[1] and not w.state.loading, timeout=10000)
    assert len(w.state.patches) > 0


def test_a_failed_open_with_nothing_open_says_why(make_window, tmp_path):
    w = make_window()
    bad = tmp_path / "nothing"
    bad.mkdir()
    assert not w.open_dataset(bad)
    assert w.session is None and w.browser.visible_names() == []
    assert "Could not open" in w.statusBar().currentMessage()


def _type_in_filter(w, text: str) -> None:
    press_keys(w, "Ctrl+F")
    box = w.browser.search
    assert box.hasFocus() or QApplication.focusWidget() is box
    QTest.keyClicks(box, text)
    QApplication.processEvents()


def test_ctrl_f_enter_opens_the_first_match_and_gives_the_keys_back(window, qtbot):
    w = window
    _type_in_filter(w, "03")
    assert w.browser.visible_names() == ["t03"]
    QTest.keyClick(w.browser.search, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.state.shown == "t03" and not w.state.loading, timeout=10000)
    assert not w.browser.search.hasFocus()
    # N now selects the worst patch instead of typing into the box
    press_keys(w, "N")
    press_keys(w, "N")
    assert w.browser.search.text() == "03"
    assert w.state.selected is not None


def test_esc_in_the_filter_gives_the_keys_back_keeps_the_filter_and_does_not_cancel(window, qtbot):
    w = window
    cancelled = []
    w.actions_["cancel_render"].triggered.connect(lambda: cancelled.append(True))
    _type_in_filter(w, "t0")
    QTest.keyClick(w.browser.search, Qt.Key.Key_Escape)
    assert not cancelled  # inside the filter Esc is not "cancel rendering"
    assert not w.browser.search.hasFocus() and w.browser.search.text() == "t0"
    press_keys(w, "N")
    assert w.state.selected is not None and w.browser.search.text() == "t0"
    press_keys(w, "Esc")  # outside the box, Esc is the window's again
    assert cancelled


def test_clicking_a_pane_takes_the_keys_from_the_filter(window, qtbot):
    w = window
    _type_in_filter(w, "t")
    pane = w.viewer.panes[PHONE]
    patch = max(w.state.patches, key=lambda p: p.misalignment_px or 0)
    click(pane, to_viewport(pane, patch.x + patch.size / 2, patch.y + patch.size / 2))
    assert w.state.selected == patch.id
    assert not w.browser.search.hasFocus() and pane.graphics.hasFocus()
    before = w.state.selected
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_N)  # the key goes where the focus is
    QApplication.processEvents()
    assert w.browser.search.text() == "t" and w.state.selected != before


def test_histogram_summary_counts_decisions_and_keeps_its_axis_on_apply(window, qtbot):
    w = window
    h = w.histogram
    for _ in range(3):
        press_keys(w, "N")
        press_keys(w, "A")
    qtbot.waitUntil(lambda: w.session.pending == 0, timeout=10000)
    qtbot.waitUntil(lambda: "3 user decision(s)" in h.preview_label.text(), timeout=5000)
    axis = h.plot.getViewBox().viewRange()[0]
    h.spin.setValue(1.0)
    qtbot.mouseClick(h.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: h.threshold_px == pytest.approx(1.0) and w.session.pending == 0, timeout=10000)
    qtbot.wait(400)  # the dock refreshes after the writes settle
    text = h.preview_label.text()
    assert "Dataset threshold" not in text or "1.00 px" in text
    assert "1.20" not in text
    assert "3 user decision(s)" in text
    assert h.plot.getViewBox().viewRange()[0] == pytest.approx(axis)  # the bars do not jump


def test_difference_view_ignores_tone_on_a_real_photo_pair(make_window, real_data, tmp_path, qtbot):
    """D on a real iPhone X / Nikon D5500 pair: the two cameras' colours differ all over; the
    tone-matched difference is dark where the photos agree."""
    from photodata import photo_dataset

    from ispviewer.align.difference import plain_difference
    from ispviewer.gui.compare import MARGIN, pyramid_crop
    from ispviewer.gui.output_canvas import grow
    from ispviewer.gui.sources import TARGET

    w = make_window(photo_dataset(tmp_path / "p", real_data / "pairs" / "city100_061"))
    press_keys(w, "D")
    compare = w.tools.compare
    qtbot.waitUntil(lambda: compare.items[PHONE].isVisible(), timeout=5000)
    assert "tone-matched" in w.viewer.panes[PHONE].title.text()
    rect = grow(compare.visible_rect(), MARGIN, w.viewer.image_size())
    zoom = w.viewer.view_state.zoom
    size = compare.items[PHONE].image.shape[1], compare.items[PHONE].image.shape[0]
    phone = pyramid_crop(w.viewer.panes[PHONE].pyramid, rect, size, zoom)
    target = pyramid_crop(w.viewer.panes[TARGET].pyramid, rect, size, zoom)
    shown = compare.items[PHONE].image[..., :3].astype(float).mean()
    from ispviewer.gui.compare import DIFF_VMAX, diff_lut

    plain = diff_lut()[np.clip(plain_difference(phone, target) * 255 / DIFF_VMAX + 0.5, 0, 255).astype(np.uint8)]
    assert shown < 0.6 * plain.astype(float).mean()


def _checkpoint(path, cameras):
    import torch

    from ispviewer.model.checkpoint import save_checkpoint
    from ispviewer.model.registry import build_model

    torch.manual_seed(0)
    prov = {"dataset": "phones", "patch_count": 500, "epochs": 2}
    if cameras is not None:
        prov["cameras"] = cameras
    return save_checkpoint(path, build_model("kpn", widths=[8, 16], kernel_size=3), {"provenance": prov})


def test_output_pane_names_the_training_cameras_and_warns_on_another(window, tmp_path, qtbot):
    from inferdata import use_weights
    from ispviewer.gui.sources import OUTPUT

    w = window
    pane = w.viewer.panes[OUTPUT]
    use_weights(w, qtbot, _checkpoint(tmp_path / "iphone.pt", {"Apple iPhone 6s": 500}))
    tip = pane.title.toolTip()
    assert "500 training patches" in tip and "Apple iPhone 6s (500 patches)" in tip
    assert w.state.triplet.phone_model == "Apple iPhone 6s"
    assert not pane.notice.isVisible()  # the camera it was trained on
    press_keys(w, "PgDown")  # t02: a Xiaomi Mi 11
    qtbot.waitUntil(lambda: w.state.shown == "t02", timeout=10000)
    qtbot.waitUntil(lambda: pane.notice.isVisible(), timeout=5000)
    assert "Xiaomi Mi 11" in pane.notice.text() and "Apple iPhone 6s" in pane.notice.text()
    # weights that never recorded their cameras say so, and claim nothing either way
    use_weights(w, qtbot, _checkpoint(tmp_path / "old.pt", None))
    assert "cameras: not recorded in these weights (unknown)" in pane.title.toolTip()
    assert not pane.notice.isVisible()


def test_zoom_percentage_is_shown(window):
    w = window
    press_keys(w, "1")
    assert w.zoom_readout.text() == "zoom 100%" and w.zoom_readout.isVisible()
    press_keys(w, "+")
    assert w.zoom_readout.text() == "zoom 150%"
    press_keys(w, "0")
    assert w.zoom_readout.text() == f"zoom {w.state.view.zoom * 100:.0f}%"


def test_inspector_history_shows_several_rows(window, qtbot):
    w = window
    press_keys(w, "N")
    for key in ("A", "R", "F", "A", "R"):
        press_keys(w, key)
    qtbot.waitUntil(lambda: w.session.pending == 0, timeout=10000)
    history = w.inspector.history
    qtbot.waitUntil(lambda: history.rowCount() >= 5, timeout=5000)
    rows = history.viewport().height() / history.verticalHeader().defaultSectionSize()
    assert rows >= 5.5, rows


def test_browser_columns_are_readable_at_the_default_width(window):
    table = window.browser.table
    header = table.horizontalHeader()
    width = table.viewport().width()
    for name in ("name", "phone", "acc", "rej", "flag", "mean px", "error"):
        col = COLUMNS.index(name)
        assert header.sectionViewportPosition(col) + header.sectionSize(col) <= width + 1, name
        if name != "phone":  # the phone name may be elided; its tooltip has it whole
            assert header.sectionSize(col) >= header.fontMetrics().horizontalAdvance(name) + 8, name
    assert header.sectionSize(COLUMNS.index("error")) >= 40  # the error column has room for a word


def test_pane_titles_are_elided_not_clipped_when_narrow(make_window, dataset):
    w = make_window(dataset, size=(900, 700))
    press_keys(w, "D")  # the difference view's long titles
    output = w.viewer.panes["output"].title
    assert output.text().startswith("|network output − target|, tone-matched")
    for pane in w.viewer.panes.values():
        title = pane.title
        drawn = title.shown_text()
        assert title.fontMetrics().horizontalAdvance(drawn) <= title.contentsRect().width()
    assert output.shown_text() != output.text() and output.shown_text().endswith("…")


def test_triplets_with_missing_files_are_marked_in_the_browser(make_window, dataset):
    (dataset / "captures" / "t03" / "target.jpg").unlink()
    w = make_window(dataset)
    model = w.browser.model
    row = [r.name for r in model.records].index("t03")
    assert model.data(model.index(row, 0), Qt.ItemDataRole.ToolTipRole) == "missing: target.jpg"
    assert model.data(model.index(row, 0), Qt.ItemDataRole.DecorationRole) is not None
    assert "missing: target.jpg" in model.data(model.index(row, COLUMNS.index("error")))
    assert model.data(model.index(0, 0), Qt.ItemDataRole.DecorationRole) is None  # t01 is whole
    w.browser.status_box.setCurrentText("with errors")
    assert w.browser.visible_names() == ["t03"]


def test_reopening_restores_triplet_view_filters_and_review_position(make_window, dataset, qtbot):
    w = make_window(dataset)
    w.browser.status_box.setCurrentText("with rejected")
    press_keys(w, "PgDown")
    press_keys(w, "PgDown")
    qtbot.waitUntil(lambda: w.state.shown == "t03" and not w.state.loading, timeout=10000)
    press_keys(w, "N")
    press_keys(w, "N")  # N centres on the patch; the person then pans and zooms
    w.state.view.set_view(150.0, 100.0, 3.0)
    selected = w.state.selected
    assert selected is not None
    w.close()
    again = make_window(dataset)
    qtbot.waitUntil(lambda: again.state.shown == "t03" and not again.state.loading, timeout=10000)
    assert again.state.view.centre == (150.0, 100.0) and again.state.view.zoom == 3.0
    assert again.state.selected == selected
    assert again.browser.status_box.currentText() == "with rejected"
    press_keys(again, "N")  # the review goes on from where it was: the queue's next patch in t03
    queue = again.state.review.queue
    following = queue.next_open(queue.position(selected), 1, again.state.triplet.id)
    assert again.state.selected == queue.patch_ids(following, following + 1)[0]


def test_recent_datasets_menu_opens_them(make_window, dataset, tmp_path, qtbot):
    from guidata import build_dataset

    other = build_dataset(tmp_path / "other")
    w = make_window(dataset)
    assert w.open_dataset(other)
    w.recent_menu.aboutToShow.emit()
    entries = [a.data() for a in w.recent_menu.actions()]
    assert entries[:2] == [str(other.resolve()), str(dataset.resolve())]
    w.recent_menu.actions()[1].trigger()
    assert w.session is not None and w.session.root.resolve() == dataset.resolve()
