"""The window's state model, without Qt: typed events per field, one copy of the patches, the view."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from ispviewer.dataset.records import DecidedBy, PatchRecord, Status
from ispviewer.gui.state import ViewState, WindowState


def _patch(pid: int, x: int = 0, status: Status = Status.ACCEPTED, mis: float | None = 0.4) -> PatchRecord:
    return PatchRecord(id=pid, triplet_id=1, triplet="t", x=x, y=0, size=64, dx=0.0, dy=0.0, ncc=0.9,
                       misalignment_px=mis, misalignment_p95=None, measurable=mis is not None, status=status,
                       decided_by=DecidedBy.AUTO, reason=None)


def test_the_state_module_imports_no_qt():
    code = ("import sys, ispviewer.gui.state; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'qtpy', 'superqt', 'pyqtgraph')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_field_change_is_one_typed_event_and_equal_values_are_silent():
    state = WindowState()
    seen = []
    state.events.selected.connect(lambda new, old: seen.append(("selected", new, old)))
    state.overlays.events.grid_visible.connect(lambda new, old: seen.append(("grid", new, old)))
    state.compare.events.single.connect(lambda new, old: seen.append(("single", new, old)))
    state.selected = 7
    state.selected = 7  # no change: no event
    state.overlays.grid_visible = False
    state.compare.single = "phone"
    assert seen == [("selected", 7, None), ("grid", False, True), ("single", "phone", None)]


def test_a_view_writing_a_gesture_inside_a_blocker_hears_no_echo_while_others_do():
    state = WindowState()
    mine, others = [], []
    state.overlays.events.heatmap_opacity.connect(mine.append)
    with state.overlays.events.heatmap_opacity.blocked():
        state.overlays.heatmap_opacity = 0.3
    state.overlays.events.heatmap_opacity.connect(others.append)
    state.overlays.heatmap_opacity = 0.4
    assert mine == [0.4] and others == [0.4] and state.overlays.heatmap_opacity == 0.4


def test_patches_are_one_copy_whose_changes_carry_new_and_old():
    state = WindowState()
    resets, changes = [], []
    state.patches.reset.connect(lambda: resets.append(len(state.patches)))
    state.patches.changed.connect(lambda new, old: changes.append((new.status, old.status)))
    state.patches.replace(1, [_patch(1), _patch(2, x=64)], prebuilt="grid drawing")
    assert resets == [2] and state.patches.prebuilt == "grid drawing"
    state.selected = 2
    decided = dataclasses.replace(_patch(2, x=64), status=Status.REJECTED, decided_by=DecidedBy.USER)
    assert state.patches.update(decided)
    assert changes == [(Status.REJECTED, Status.ACCEPTED)]
    assert state.selected_patch is decided  # the selection reads the same copy
    assert state.patches.prebuilt is None  # the prebuilt drawing no longer matches
    assert not state.patches.update(_patch(99))  # not a patch of the current triplet: no event
    assert len(changes) == 1


def test_clearing_the_triplet_empties_selection_and_patches():
    state = WindowState()
    state.patches.replace(1, [_patch(1)])
    state.selected, state.shown, state.loading = 1, "t", True
    state.clear_triplet()
    assert (state.selected, state.shown, state.loading, state.triplet, len(state.patches)) == (None, None, False,
                                                                                              None, 0)


def test_view_state_zoom_about_keeps_anchor():
    vs = ViewState()
    vs.set_view(100.0, 50.0, 1.0)
    vs.zoom_about(2.0, 120.0, 40.0)
    # the anchor is where it was on screen: same offset from centre in device px
    assert (120.0 - vs.centre[0]) * vs.zoom == pytest.approx((120.0 - 100.0) * 1.0)
    assert (40.0 - vs.centre[1]) * vs.zoom == pytest.approx((40.0 - 50.0) * 1.0)
    assert vs.zoom == 2.0


def test_view_state_fit_and_rect():
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
