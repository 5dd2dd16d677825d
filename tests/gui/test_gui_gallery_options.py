"""The gallery's tile options, clicked in its toolbar: the network output of each patch (rendered in
the background, a placeholder until it arrives), the tone-normalised difference (near-black for an
aligned patch, bright for one that is not) and the misalignment heatmap over the phone patch in the
main view's colours; the choices are remembered in the settings."""

import sqlite3

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu, QToolBar

from guihelpers import grab_rgb, press_keys
from inferdata import copy_dataset, demo_template, expected_output, raw_path, save_model, use_weights
from ispviewer.gui.gallery import GAP
from ispviewer.gui.gallery_extras import qimage_rgb
from ispviewer.gui.heatmap_style import colour_table
from ispviewer.gui.output_canvas import to_uint8


def open_gallery(qtbot, make_window, dataset):
    w = make_window(dataset, size=(1600, 1000))
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)
    press_keys(w, "V")
    g = w.review.gallery
    qtbot.waitUntil(lambda: g.grid.hasFocus(), timeout=5000)
    qtbot.waitUntil(lambda: all(g.tiles.tile(p.id) is not None for p in g.page_patches), timeout=15000)
    return w, g


def click_option(qtbot, window, name):
    """Click the option's button in the gallery's toolbar; the keyboard stays with the tiles."""
    gallery = window.review.gallery
    bar = gallery.findChild(QToolBar, "galleryToolbar")
    button = bar.widgetForAction(window.review.tile_actions[name])
    assert button is not None and button.isVisible()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert gallery.grid.hasFocus()


def panel(g, grab, index, k):
    """The pixels of panel ``k`` of tile ``index`` in a grab of the grid (device px)."""
    rect = g.grid.tile_rect(index)
    dpr = g.grid.devicePixelRatioF()
    size = g.page_patches[index].size
    x0 = int(round((rect.x() + k * (g.grid.panel_size() + GAP // 2)) * dpr))
    y0 = int(round(rect.y() * dpr))
    return grab[y0:y0 + size, x0:x0 + size].astype(np.int32)


def test_difference_tile_is_near_black_when_aligned_and_bright_when_not(qtbot, make_window, dataset):
    with sqlite3.connect(dataset / "manifest.sqlite") as con:  # the worst patch's match moved off by 6 px
        worst = con.execute("SELECT p.id FROM patches p JOIN triplets t ON t.id = p.triplet_id WHERE "
                            "p.misalignment_px IS NOT NULL ORDER BY p.misalignment_px DESC, t.name, p.id LIMIT 1"
                            ).fetchone()[0]
        con.execute("UPDATE patches SET dx = 6, dy = 5 WHERE id = ?", (worst,))
    w, g = open_gallery(qtbot, make_window, dataset)
    width = g.grid.tile_size()[0]
    click_option(qtbot, w, "difference")
    assert w.state.gallery.difference and w.state.gallery.panels()[-1] == "difference"
    assert g.grid.tile_size()[0] > width  # a third panel
    qtbot.waitUntil(lambda: all(g.panels.extras.difference(p.id) is not None for p in g.page_patches),
                    timeout=15000)
    grab = grab_rgb(g.grid)
    assert g.page_patches[0].id == worst
    moved = panel(g, grab, 0, 2).mean()
    aligned = [panel(g, grab, i, 2).mean() for i in range(1, 8)]
    assert max(aligned) < 25  # near-flat, near the bottom of the scale
    assert moved > 3 * max(aligned) and moved > 40
    phone = panel(g, grab, 1, 0)
    assert phone.std() > 20  # the phone panel is still the photo
    click_option(qtbot, w, "difference")
    assert not w.state.gallery.difference and g.grid.tile_size()[0] == width


def test_heatmap_over_the_phone_patch_in_the_main_views_colours(qtbot, make_window, dataset):
    w, g = open_gallery(qtbot, make_window, dataset)
    w.state.overlays.heatmap_opacity = 1.0  # opaque where over the threshold: the colours alone
    before = grab_rgb(g.grid)
    click_option(qtbot, w, "heatmap")
    assert w.state.gallery.heatmap and w.state.gallery.panels() == ("phone", "target")
    qtbot.waitUntil(lambda: all(g.panels.extras.heatmap(p.id) is not None for p in g.page_patches), timeout=15000)
    after = grab_rgb(g.grid)
    table = colour_table().astype(np.int32)
    threshold = w.session.threshold_px
    checked = {"file": 0, "patch": 0}
    for i, p in enumerate(g.page_patches):
        shown = panel(g, after, i, 0)
        np.testing.assert_array_equal(panel(g, after, i, 1), panel(g, before, i, 1))  # the target is untouched
        if p.triplet == "t01":  # its heatmap file: (x + y) / 240 px at each phone pixel
            if (p.x + p.y) / 240 < threshold + 0.1:
                continue
            kind = "file"
        elif p.misalignment_px is not None and p.misalignment_px > threshold:
            kind = "patch"  # no heatmap file: the patch's own value, as the main view shows it
        else:
            continue
        # every pixel is a colour of the heatmap's scale (the photo is hidden under an opaque heatmap)
        distance = np.abs(shown.reshape(-1, 1, 3) - table[None]).sum(axis=2).min(axis=1)
        assert distance.max() <= 6, (p.triplet, p.x, p.y)
        assert not np.array_equal(shown, panel(g, before, i, 0))
        if kind == "patch":
            assert shown.reshape(-1, 3).std(axis=0).max() < 1.0  # one value: one colour
        checked[kind] += 1
    assert checked["file"] >= 1 and checked["patch"] >= 1
    press_keys(g.grid, "Space")  # flickering shows the images alone
    np.testing.assert_array_equal(panel(g, grab_rgb(g.grid), 0, 0), panel(g, before, 0, 1))


def test_tile_options_are_remembered(qtbot, make_window, dataset):
    w, g = open_gallery(qtbot, make_window, dataset)
    click_option(qtbot, w, "difference")
    w.review.tile_actions["heatmap"].trigger()  # View ▸ Gallery tiles ▸ Heatmap
    assert w.state.gallery.heatmap
    menu_actions = [a.text() for a in w.menuBar().findChild(QMenu, "galleryTilesMenu").actions()]
    assert menu_actions == ["Network output", "Difference", "Heatmap"]
    w.close()
    again = make_window(dataset)
    assert (again.state.gallery.output, again.state.gallery.difference, again.state.gallery.heatmap) == (
        False, True, True)


def test_output_tile_without_weights_says_so(qtbot, make_window, dataset):
    w, g = open_gallery(qtbot, make_window, dataset)
    click_option(qtbot, w, "output")
    assert w.state.gallery.panels() == ("phone", "target", "output")
    p = g.page_patches[0]
    assert g.panels.outputs.output(p) is None and g.panels.outputs.placeholder(p) == "no network weights"
    assert panel(g, grab_rgb(g.grid), 0, 2).std() > 0  # the placeholder's words are drawn


@pytest.fixture
def demo(tmp_path_factory, tmp_path):
    return copy_dataset(demo_template(tmp_path_factory), tmp_path / "demo")


def test_output_tile_is_the_networks_render_of_the_patch(qtbot, make_window, demo, tmp_path):
    weights = save_model(tmp_path / "small.pt")
    w = make_window(demo, size=(1600, 1000))
    use_weights(w, qtbot, weights)
    w.activateWindow()
    press_keys(w, "V")
    g = w.review.gallery
    qtbot.waitUntil(lambda: g.grid.hasFocus() and bool(g.page_patches), timeout=5000)
    click_option(qtbot, w, "output")
    outputs = g.panels.outputs
    first = g.page_patches[0]
    assert outputs.output(first) is None and outputs.placeholder(first) == "rendering…"  # in the background
    qtbot.waitUntil(lambda: all(outputs.output(p) is not None for p in g.page_patches), timeout=60000)
    grab = grab_rgb(g.grid)
    for i in (0, len(g.page_patches) - 1):
        p = g.page_patches[i]
        expect = to_uint8(expected_output(weights, raw_path(w, p.triplet), (p.x, p.y, p.size, p.size)))
        assert np.abs(panel(g, grab, i, 2) - expect.astype(np.int32)).max() <= 1
    click_option(qtbot, w, "output")  # off and on again: the outputs are cached, nothing is rendered anew
    click_option(qtbot, w, "output")
    assert all(outputs.output(p) is not None for p in g.page_patches) and not outputs.busy
    other = save_model(tmp_path / "other.pt", seed=5)
    use_weights(w, qtbot, other)  # other weights: other outputs, rendered in the background again
    qtbot.waitUntil(lambda: outputs.output(first) is not None, timeout=60000)
    again = qimage_rgb(outputs.output(first)).astype(np.int32)
    expect = to_uint8(expected_output(other, raw_path(w, first.triplet), (first.x, first.y, first.size, first.size)))
    assert np.abs(again - expect).max() <= 1
    assert np.abs(again - panel(g, grab, 0, 2)).max() > 5  # not the first weights' output
