"""Qt-light unit tests: the area-averaged pyramid and the shared view state."""

import numpy as np
import pytest

from ispviewer.gui.pyramid import build_pyramid
from ispviewer.gui.state import ViewState


def test_pyramid_levels_halve_until_small():
    img = np.zeros((1000, 1500, 3), np.uint8)
    pyr = build_pyramid(img, min_side=200)
    shapes = [level.shape[:2] for level in pyr.levels]
    assert shapes == [(1000, 1500), (500, 750), (250, 375), (125, 188)]
    assert all(level.flags.c_contiguous and level.dtype == np.uint8 for level in pyr.levels)


def test_pyramid_is_area_averaged_no_moire():
    # one-pixel black/white stripes: nearest-neighbour decimation would give pure black or white
    img = np.zeros((512, 512, 3), np.uint8)
    img[:, ::2] = 255
    pyr = build_pyramid(img, min_side=64)
    for level in pyr.levels[1:]:
        assert np.all(np.abs(level.astype(int) - 127.5) <= 1)


def test_level_for_zoom_never_minifies():
    pyr = build_pyramid(np.zeros((1024, 1024, 3), np.uint8), min_side=64)  # levels 0..4
    assert pyr.level_for_zoom(4.0) == 0
    assert pyr.level_for_zoom(1.0) == 0
    assert pyr.level_for_zoom(0.9) == 1  # shown magnified 1.8x from the half-size level
    assert pyr.level_for_zoom(0.5) == 1
    assert pyr.level_for_zoom(0.26) == 2
    assert pyr.level_for_zoom(0.01) == 4  # clamped to the coarsest level
    for zoom in np.geomspace(0.07, 1, 30):
        level = pyr.level_for_zoom(zoom)
        assert zoom * 2 ** level >= 1 - 1e-9  # a level pixel covers at least one device pixel


def test_pyramid_pixel_lookup():
    img = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    pyr = build_pyramid(img)
    assert pyr.pixel(2, 1) == tuple(img[1, 2])
    assert pyr.pixel(5, 0) is None and pyr.pixel(-1, 0) is None


def test_view_state_zoom_about_keeps_anchor(qapp):
    vs = ViewState()
    vs.set_view(100.0, 50.0, 1.0)
    vs.zoom_about(2.0, 120.0, 40.0)
    # the anchor is where it was on screen: same offset from centre in device px
    assert (120.0 - vs.centre[0]) * vs.zoom == pytest.approx((120.0 - 100.0) * 1.0)
    assert (40.0 - vs.centre[1]) * vs.zoom == pytest.approx((40.0 - 50.0) * 1.0)
    assert vs.zoom == 2.0


def test_view_state_fit_and_rect(qapp):
    vs = ViewState()
    fired = []
    vs.changed.connect(lambda: fired.append(1))
    vs.fit(400, 300, 800, 400)
    assert vs.zoom == pytest.approx(400 / 300)
    x, y, w, h = vs.rect(800, 400)
    assert (y, h) == pytest.approx((-0.5, 300))
    assert x + w / 2 == pytest.approx(199.5)
    assert fired
    n = len(fired)
    vs.set_view(*vs.centre, vs.zoom)  # no change, no signal
    assert len(fired) == n
