"""The heatmap over a real photo: transparent below a floor (a setting), smooth at 100%, the
threshold marked on the colour bar."""

from __future__ import annotations

import numpy as np
import pytest
from photodata import HEATMAP_SCALE, photo_dataset, stripes
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from guihelpers import grab_rgb, press_keys
from ispviewer.gui.sources import PHONE


@pytest.fixture
def photo(real_data, tmp_path) -> Path:  # noqa: F821
    return photo_dataset(tmp_path / "photo", real_data / "pairs" / "city100_061")


def _overlay_only(w, qtbot):
    """Grabs of the phone pane with its heatmap item shown and hidden (grid off, same layout:
    the H key would also hide the colour bar and so resize the panes)."""
    pane = w.viewer.panes[PHONE]
    if w.actions_["grid"].isChecked():
        press_keys(w, "G")
    item = w.viewer.overlays[PHONE].heatmap
    assert w.actions_["heatmap"].isChecked() and item.isVisible()
    on = grab_rgb(pane.graphics.viewport()).astype(np.int16)
    item.hide()
    off = grab_rgb(pane.graphics.viewport()).astype(np.int16)
    item.show()
    return on, off


def _image_box(w, shape):
    """Device rows/columns of the pane that show the photo (fitted: it may not fill the pane)."""
    pane = w.viewer.panes[PHONE]
    x0, y0, vw, vh = pane.visible_rect()
    width, height = w.viewer.image_size()
    sx, sy = shape[1] / vw, shape[0] / vh
    cols = slice(max(0, int(np.ceil((-x0) * sx)) + 2), min(shape[1], int((width - x0) * sx)) - 2)
    rows = slice(max(0, int(np.ceil((-y0) * sy)) + 2), min(shape[0], int((height - y0) * sy)) - 2)
    return rows, cols


def test_a_well_aligned_photo_is_not_tinted_and_the_floor_is_a_setting(make_window, photo, qtbot):
    w = make_window(photo)
    on, off = _overlay_only(w, qtbot)
    rows, cols = _image_box(w, on.shape)
    diff = np.abs(on - off).max(axis=2)[rows, cols]
    h, wd = diff.shape
    centre = diff[h // 2 - h // 16:h // 2 + h // 16, wd // 2 - wd // 16:wd // 2 + wd // 16]
    corner = diff[: h // 5, : wd // 5]
    assert centre.mean() > 40  # the 2 px square glows
    assert corner.max() <= 1  # 0.2 px is below the floor: the photo is shown exactly as it is
    # the floor is a setting in the Overlays dock; typing a lower one colours the low values too
    box = w.overlay_controls.floor
    box.setFocus()
    box.selectAll()
    QTest.keyClicks(box, "0.1")
    QTest.keyClick(box, Qt.Key.Key_Return)
    assert w.state.overlays.heatmap_floor == pytest.approx(0.1)
    on, off = _overlay_only(w, qtbot)
    assert np.abs(on - off).max(axis=2)[rows, cols][: h // 5, : wd // 5].mean() > 10
    assert w.viewer.colorbar.floor_px == pytest.approx(0.1)
    w.close()
    again = make_window(photo)
    assert again.state.overlays.heatmap_floor == pytest.approx(0.1)
    assert again.overlay_controls.floor.value() == pytest.approx(0.1)


def test_heatmap_is_smooth_at_100_percent(make_window, real_data, tmp_path, qtbot):
    w = make_window(photo_dataset(tmp_path / "stripes", real_data / "pairs" / "city100_061", stripes,
                                   flat_phone=True))
    press_keys(w, "1")
    assert w.viewer.view_state.zoom == 1.0
    on, off = _overlay_only(w, qtbot)
    contribution = (on - off).astype(np.float32).mean(axis=2)
    row = contribution[contribution.shape[0] // 2, 20:-20]
    span = np.percentile(row, 95) - np.percentile(row, 5)
    assert span > 20  # the stripes (0.8 / 2.4 px, 8 px wide at 100%) are visible
    steps = np.abs(np.diff(row))
    # blocky cells jump by the whole span at every cell edge; interpolated, no step comes close
    assert steps.max() < 0.45 * span, (steps.max(), span)
    assert 1 / HEATMAP_SCALE == 8


def test_colour_bar_marks_the_threshold_and_follows_it(make_window, photo, qtbot):
    w = make_window(photo)
    bar = w.viewer.colorbar
    assert bar.threshold_line.isVisible()
    assert bar.threshold_px == pytest.approx(1.2) and "1.20 px" in bar.threshold_line.toolTip()
    assert bar.threshold_line.value() == pytest.approx(bar.mark_position(1.2))
    # the mark is drawn: a white row across the bar where the threshold is
    shot = grab_rgb(bar)
    ratio = shot.shape[0] / bar.height()
    mark = bar.mapFromScene(bar.bar.vb.mapViewToScene(QPointF(0.5, bar.mark_position(1.2))))
    x = int(mark.x() * ratio)
    white = np.flatnonzero(shot[:, x].min(axis=1) > 235)
    assert white.size and abs(white.mean() - mark.y() * ratio) < 3
    # the floor below it is transparent on the bar, as in the heatmap: the background shows
    floor = bar.mapFromScene(bar.bar.vb.mapViewToScene(QPointF(0.5, bar.mark_position(0.2))))
    assert tuple(shot[int(floor.y() * ratio), x]) == (0x20, 0x21, 0x24)
    # a new threshold from the histogram dock moves the mark to it
    w.histogram.spin.setValue(1.0)
    qtbot.mouseClick(w.histogram.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bar.threshold_px == pytest.approx(1.0), timeout=5000)
    assert "1.00 px" in bar.threshold_line.toolTip()
