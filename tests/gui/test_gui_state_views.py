"""The views follow the window state, and a user's gestures land in it (keys and clicks, offscreen)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from guihelpers import press_keys
from ispviewer.dataset.records import Status


def test_the_grid_switch_is_one_state_field_shared_by_key_checkbox_and_panes(window, qtbot):
    overlays, box, action = window.state.overlays, window.overlay_controls.grid_box, window.actions_["grid"]
    grids = [ov.grid for ov in window.viewer.overlays.values()]
    assert overlays.grid_visible and box.isChecked() and action.isChecked()
    assert all(g.isVisible() for g in (window.viewer.overlays["phone"].grid, window.viewer.overlays["target"].grid))
    press_keys(window, "G")  # the shortcut, as a user presses it
    assert not overlays.grid_visible and not box.isChecked() and not action.isChecked()
    assert not any(g.isVisible() for g in grids)
    QTest.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))  # on its tick box
    qtbot.waitUntil(lambda: overlays.grid_visible)  # the dock's checkbox writes the same field
    assert action.isChecked() and window.viewer.overlays["phone"].grid.isVisible()
    overlays.grid_visible = False  # another view (or a test) changes the state: every widget follows
    assert not box.isChecked() and not action.isChecked() and not window.viewer.overlays["phone"].grid.isVisible()


def test_the_opacity_slider_writes_the_state_and_every_heatmap_follows(window):
    window.overlay_controls.opacity.setValue(35)
    assert window.state.overlays.heatmap_opacity == 0.35
    assert all(abs(ov.heatmap.opacity() - 0.35) < 1e-6 for ov in window.viewer.overlays.values())
    window.state.overlays.heatmap_opacity = 0.8
    assert window.overlay_controls.opacity.value() == 80


def test_a_selection_made_in_the_state_shows_in_the_inspector_and_every_pane(window, qtbot):
    worst = max((p for p in window.state.patches if p.misalignment_px is not None), key=lambda p: p.misalignment_px)
    window.state.selected = worst.id  # what a review queue will do
    assert window.inspector.values["position"].text() == f"x {worst.x}, y {worst.y}"
    for ov in window.viewer.overlays.values():
        rect = ov.selection.boundingRect()
        assert rect.contains(worst.x, worst.y) and rect.contains(worst.x + worst.size - 1, worst.y + worst.size - 1)
    target = Status.FLAGGED if worst.status != Status.FLAGGED else Status.ACCEPTED
    press_keys(window, {Status.FLAGGED: "F", Status.ACCEPTED: "A"}[target])
    assert window.state.selected_patch.status == target  # the one copy changed at once...
    assert window.inspector.values["status"].text() == target.value  # ...and the inspector followed
    qtbot.waitUntil(lambda: window.session.pending == 0, timeout=5000)
    assert window.session.manifest.patch(worst.id).status == target
