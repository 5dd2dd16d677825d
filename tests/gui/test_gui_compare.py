"""Comparing the sources: flicker in one pane at one view, and the difference view."""

from __future__ import annotations

import numpy as np
import pytest

from guihelpers import press_keys
from inferdata import demo_template, save_model, use_weights
from ispviewer.gui.compare import MARGIN, diff_lut, difference_rgba, pyramid_crop
from ispviewer.gui.output_canvas import grow
from ispviewer.gui.sources import OUTPUT, PHONE, TARGET


@pytest.fixture
def demo(tmp_path_factory):
    return demo_template(tmp_path_factory)


def _shown(w) -> list[str]:
    return [k for k, p in w.viewer.panes.items() if not p.isHidden()]


def test_ab_flicker_alternates_the_chosen_pair_at_one_view_with_overlays_hidden(make_window, demo, tmp_path, qtbot):
    w = make_window(demo)
    use_weights(w, qtbot, save_model(tmp_path / "w.pt"))
    w.viewer.view_state.set_view(201.0, 143.0, 2.0)
    out = w.tools.output
    qtbot.waitUntil(lambda: out.canvas() is not None and out.canvas().coverage() > 0, timeout=15000)
    overlays = [item for ov in w.viewer.overlays.values() for item in (ov.heatmap, ov.grid)]
    assert any(i.isVisible() for i in overlays)
    press_keys(w, "C")
    assert w.actions_["flicker"].isChecked()
    seen, rects = [], []
    for _ in range(4):  # it alternates by itself, phone ISP <-> target by default
        (key,) = _shown(w)
        seen.append(key)
        rects.append(w.viewer.panes[key].visible_rect())
        assert not any(i.isVisible() for i in overlays)  # the images alone
        assert w.viewer.view_state.centre == (201.0, 143.0) and w.viewer.view_state.zoom == 2.0
        qtbot.waitUntil(lambda k=key: _shown(w) != [k], timeout=3000)
    assert seen == [PHONE, TARGET, PHONE, TARGET]
    for r in rects[1:]:
        assert r == pytest.approx(rects[0], abs=1e-6)  # the very same phone-frame rectangle
    # another pair from the View menu: the output against the target
    w.flicker_pair_actions[(OUTPUT, TARGET)].trigger()
    qtbot.waitUntil(lambda: _shown(w) == [TARGET], timeout=3000)
    qtbot.waitUntil(lambda: _shown(w) == [OUTPUT], timeout=3000)
    rect = out.visible_rect()
    qtbot.waitUntil(lambda: out.canvas().covered(rect), timeout=15000)
    press_keys(w, "C")  # stops: side by side again, overlays back as H and G say
    assert not w.actions_["flicker"].isChecked()
    assert _shown(w) == [PHONE, TARGET, OUTPUT]
    assert any(i.isVisible() for i in overlays) and w.actions_["heatmap"].isChecked()
    press_keys(w, "C")
    press_keys(w, "Shift+C")
    assert _shown(w) == [PHONE, TARGET, OUTPUT] and not w.actions_["flicker"].isChecked()


def test_difference_view_shows_both_differences_to_the_target(make_window, demo, tmp_path, qtbot):
    w = make_window(demo)
    for name in ("heatmap", "grid"):
        w.actions_[name].setChecked(False)
    out = w.tools.output
    use_weights(w, qtbot, save_model(tmp_path / "w.pt"))
    w.viewer.view_state.set_view(240.0, 180.0, 1.0)
    qtbot.waitUntil(lambda: out.canvas() is not None and out.canvas().complete, timeout=15000)
    press_keys(w, "D")
    compare = w.tools.compare
    assert compare.difference and w.actions_["difference"].isChecked()
    qtbot.waitUntil(lambda: all(i.isVisible() for i in compare.items.values()), timeout=5000)
    assert w.viewer.panes[PHONE].title.text().startswith("|phone ISP − target|")
    assert w.viewer.panes[OUTPUT].title.text().startswith("|network output − target|")
    view = compare.visible_rect()
    rect = grow(view, MARGIN, w.viewer.image_size())
    size = (rect[2], rect[3])
    target = pyramid_crop(w.viewer.panes[TARGET].pyramid, rect, size, 1.0)
    phone = pyramid_crop(w.viewer.panes[PHONE].pyramid, rect, size, 1.0)
    np.testing.assert_array_equal(compare.items[PHONE].image, difference_rgba(phone, target))
    output = out.canvas().whole_uint8()[rect[1]:rect[1] + rect[3], rect[0]:rect[0] + rect[2]]
    np.testing.assert_array_equal(compare.items[OUTPUT].image, difference_rgba(output, target))
    # identical pixels are black on the scale, and the two differences are not the same image
    assert tuple(diff_lut()[0]) == (0, 0, 0)
    assert not np.array_equal(compare.items[PHONE].image, compare.items[OUTPUT].image)
    # the difference follows the view
    w.viewer.view_state.pan_by(40, 0)
    qtbot.waitUntil(lambda: compare.items[PHONE].mapRectToParent(compare.items[PHONE].boundingRect()).x()
                    == grow(compare.visible_rect(), MARGIN, w.viewer.image_size())[0] - 0.5, timeout=3000)
    press_keys(w, "D")
    assert not any(i.isVisible() for i in compare.items.values())
    assert w.viewer.panes[PHONE].title.text() == "phone ISP"
    assert w.viewer.panes[OUTPUT].title.text().startswith("network output — w.pt")


def test_readout_shows_float_values_of_the_output(make_window, demo, tmp_path, qtbot):
    w = make_window(demo)
    out = w.tools.output
    use_weights(w, qtbot, save_model(tmp_path / "w.pt"))
    w.viewer.view_state.set_view(240.0, 180.0, 1.0)
    qtbot.waitUntil(lambda: out.canvas() is not None and out.canvas().complete, timeout=15000)
    w.viewer.hovered.emit(100.2, 50.4)
    value = out.canvas().data[50, 100]
    assert f"output {value[0]:.3f} {value[1]:.3f} {value[2]:.3f}" in w.readout.text()


def test_difference_view_hides_the_heatmap_in_its_panes_and_keeps_the_h_toggle(window, qtbot):
    w, heatmap = window, window.actions_["heatmap"]
    shown = {key: ov.heatmap for key, ov in w.viewer.overlays.items()}
    assert heatmap.isChecked() and shown[PHONE].isVisible() and shown[TARGET].isVisible()
    press_keys(w, "D")
    qtbot.waitUntil(lambda: w.tools.compare.items[PHONE].isVisible(), timeout=5000)
    # no heatmap over the difference colours; the target pane keeps its heatmap, H stays on
    assert not shown[PHONE].isVisible() and not shown[OUTPUT].isVisible() and shown[TARGET].isVisible()
    assert heatmap.isChecked() and w.viewer.colorbar.isVisible()
    press_keys(w, "H")  # H still works meanwhile, in the target pane
    assert not heatmap.isChecked() and not shown[TARGET].isVisible() and not shown[PHONE].isVisible()
    press_keys(w, "H")
    assert heatmap.isChecked() and shown[TARGET].isVisible() and not shown[PHONE].isVisible()
    press_keys(w, "D")  # leaving the difference view gives the heatmap back where H says so
    assert shown[PHONE].isVisible() and shown[TARGET].isVisible()
    press_keys(w, "H")
    press_keys(w, "D")
    press_keys(w, "D")  # and leaves it off when H is off
    assert not heatmap.isChecked() and not any(h.isVisible() for h in shown.values())
