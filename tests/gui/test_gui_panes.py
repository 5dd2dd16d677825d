"""The three panes share one view: drag, wheel and keys in any pane move all of them, exactly."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from guihelpers import device_index_of_pixel, drag, grab_rgb, press_keys, to_viewport, wheel
from ispviewer.gui.sources import OUTPUT, PHONE, TARGET


def rects(window):
    return [window.viewer.panes[k].visible_rect() for k in (PHONE, TARGET, OUTPUT)]


def assert_same_rect(window):
    first, *others = rects(window)
    for other in others:
        assert other == pytest.approx(first, abs=1e-6)


def test_panes_have_equal_size_whatever_the_window_width(make_window, dataset):
    w = make_window(dataset, size=(1501, 877))  # widths that do not divide evenly
    sizes = {w.viewer.panes[k].viewport_size() for k in (PHONE, TARGET, OUTPUT)}
    assert len(sizes) == 1
    assert_same_rect(w)


def test_drag_in_one_pane_pans_all(window):
    press_keys(window, "1")
    before = rects(window)[0]
    target = window.viewer.panes[TARGET]
    start = to_viewport(target, 150, 120)
    drag(target, start, start + type(start)(40, 25))
    after = rects(window)[0]
    assert after[0] == pytest.approx(before[0] - 40) and after[1] == pytest.approx(before[1] - 25)
    assert after[2:] == pytest.approx(before[2:])
    assert_same_rect(window)


def test_wheel_zooms_all_panes_about_the_cursor(window):
    phone = window.viewer.panes[PHONE]
    pos = to_viewport(phone, 100.0, 80.0)

    def under_cursor():
        p = phone.view_box.mapSceneToView(phone.graphics.mapToScene(pos))
        return p.x(), p.y()

    before = under_cursor()
    zoom = window.viewer.view_state.zoom
    wheel(phone, pos, 2)
    assert window.viewer.view_state.zoom == pytest.approx(zoom * 1.25 ** 2)
    assert_same_rect(window)
    assert under_cursor() == pytest.approx(before, abs=1e-3)  # the point under the cursor stayed there


def test_zoom_keys_fit_and_true_100_percent(window):
    press_keys(window, "1")
    vs = window.viewer.view_state
    assert vs.zoom == 1.0
    w, h = window.viewer.panes[PHONE].viewport_size()
    assert rects(window)[0][2:] == pytest.approx((w, h))  # one phone px per device px
    press_keys(window, "+")
    assert vs.zoom == pytest.approx(1.5)
    press_keys(window, "-")
    assert vs.zoom == pytest.approx(1.0)
    press_keys(window, "0")
    x, y, rw, rh = rects(window)[0]
    assert (rw >= 320 - 1e-6 and rh >= 240 - 1e-6) and (abs(rw - 320) < 1e-6 or abs(rh - 240) < 1e-6)
    assert_same_rect(window)


def test_true_100_percent_is_pixel_exact_and_nearest_neighbour(window, dataset):
    press_keys(window, "H")  # overlays off, so the grab shows the photo itself
    press_keys(window, "G")
    assert not window.viewer.overlays[PHONE].heatmap.isVisible()
    press_keys(window, "1")
    window.viewer.view_state.set_view(160.3, 120.2, 1.0)  # any sub-pixel centre
    pane = window.viewer.panes[PHONE]
    shot = grab_rgb(pane.graphics.viewport())
    phone = cv2.cvtColor(cv2.imread(str(dataset / "captures/t01/phone.jpg")), cv2.COLOR_BGR2RGB)
    kx, ky = device_index_of_pixel(pane, 100, 80)
    block = shot[ky:ky + 40, kx:kx + 60]
    assert np.array_equal(block, phone[80:120, 100:160])


def test_below_100_percent_uses_the_pyramid(window):
    pane = window.viewer.panes[PHONE]
    window.viewer.view_state.set_view(160, 120, 0.3)
    assert len(pane.pyramid.levels) == 2  # 320x240 -> 160x120, then small enough
    assert pane.level == 1 and pane.image_item.image.shape[:2] == pane.pyramid.levels[1].shape[:2]
    assert pane.image_item.smooth  # bilinear from a level that is only ever magnified
    window.viewer.view_state.set_view(160, 120, 4.0)
    assert pane.level == 0 and not pane.image_item.smooth  # crisp single pixels


def test_pixel_readout_shows_all_panes(window, dataset):
    pane = window.viewer.panes[TARGET]
    press_keys(window, "1")
    window.viewer.view_state.set_view(160.25, 120.25)  # pixel centres a quarter pixel off the grid
    pos = to_viewport(pane, 42, 17)
    from PySide6.QtTest import QTest

    QTest.mouseMove(pane.graphics.viewport(), pos)
    text = window.readout.text()
    phone = cv2.cvtColor(cv2.imread(str(dataset / "captures/t01/phone.jpg")), cv2.COLOR_BGR2RGB)
    r, g, b = phone[17, 42]
    assert "x 42, y 17" in text
    assert f"phone {r:3d} {g:3d} {b:3d}" in text
    assert "target " in text and "output —" in text


HIDPI_SCRIPT = textwrap.dedent("""
    import sys, numpy as np, cv2
    sys.path.insert(0, {tests!r})
    from PySide6.QtCore import QSettings, QStandardPaths
    from PySide6.QtWidgets import QApplication
    QStandardPaths.setTestModeEnabled(True)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, {settings!r})
    app = QApplication([])
    from ispviewer.gui.app import configure_app, create_window, wait_until_shown
    from guihelpers import device_index_of_pixel, grab_rgb, press_keys
    configure_app(app)
    w = create_window(None); w.resize(1400, 800); w.show()
    w.open_dataset({dataset!r}); wait_until_shown(w, app, 20)
    press_keys(w, "H"); press_keys(w, "G"); press_keys(w, "1")
    pane = w.viewer.panes["phone"]
    dpr = pane.graphics.devicePixelRatioF()
    vw, vh = pane.viewport_size()
    x, y, rw, rh = pane.visible_rect()
    assert dpr == 2.0, dpr
    assert abs(rw - vw) < 1e-6 and abs(rh - vh) < 1e-6, (rw, vw)
    w.viewer.view_state.set_view(160.3, 120.2, 1.0)
    shot = grab_rgb(pane.graphics.viewport())
    assert shot.shape[1] == round(vw), (shot.shape, vw)  # the grab is at device resolution
    phone = cv2.cvtColor(cv2.imread({dataset!r} + "/captures/t01/phone.jpg"), cv2.COLOR_BGR2RGB)
    kx, ky = device_index_of_pixel(pane, 100, 80)
    block = shot[ky:ky + 40, kx:kx + 60]
    assert np.array_equal(block, phone[80:120, 100:160]), "not one image pixel per device pixel"
    w.close()
    print("HIDPI-OK")
""")


def test_true_100_percent_on_hidpi(dataset, tmp_path):
    script = HIDPI_SCRIPT.format(tests=str(Path(__file__).parent), settings=str(tmp_path / "s"),
                                 dataset=str(dataset))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", QT_SCALE_FACTOR="2")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "HIDPI-OK" in out.stdout
