"""Qt-light unit tests: the area-averaged pyramid (the view state is tested in tests/core)."""

import numpy as np

from ispviewer.gui.pyramid import build_pyramid


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
