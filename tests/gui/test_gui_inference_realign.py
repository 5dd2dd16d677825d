"""Re-aligning the current triplet from the GUI: background work, stored through the single
writer, a person's decisions kept."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtWidgets import QInputDialog

from guidata import db_row
from guihelpers import press_keys
from inferdata import demo_template
from ispviewer.dataset.alignment_files import patch_tiles_relpath
from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.patch_tiles import read_index


@pytest.fixture
def ds(tmp_path_factory, tmp_path):
    return shutil.copytree(demo_template(tmp_path_factory), tmp_path / "ds")


def test_realignment_keeps_user_decisions_and_shows_the_new_patches(make_window, ds, qtbot, monkeypatch):
    w = make_window(ds)
    name = w.state.triplet.name
    with Manifest.open(ds, readonly=True) as m:
        old_tiles = patch_tiles_relpath(m.triplet(name).heatmap)
    assert (ds / old_tiles).is_file()
    patches = w.session.patches()
    assert {p.size for p in patches} == {64}
    mine = patches[len(patches) // 2]
    w.triage.select(mine.id)
    press_keys(w, "R")  # reject it: a person's decision
    qtbot.waitUntil(lambda: w.session.pending == 0, timeout=5000)
    assert db_row(ds, mine.id) == ("rejected", "user", None)

    realigner = w.tools.realigner
    monkeypatch.setattr(QInputDialog, "getInt", lambda *a, **k: (48, True))
    with qtbot.waitSignal(realigner.finished, timeout=30000) as done:
        press_keys(w, "Ctrl+L")
        assert realigner.running == name and realigner.status.isVisible()
    assert done.args[:2] == [name, True]
    assert not realigner.status.isVisible()
    qtbot.waitUntil(lambda: not w.state.loading and w.session.pending == 0, timeout=10000)
    with Manifest.open(ds, readonly=True) as m:
        t = m.triplet(name)
        fresh = m.patches(t.id)
        kept = next(p for p in fresh if p.id == mine.id)
        assert kept.status.value == "rejected" and kept.decided_by.value == "user"
        assert {p.size for p in fresh if p.decided_by.value == "auto"} == {48}
        assert m.resolve(t.heatmap).is_file()
        assert t.aligned_target and m.resolve(t.aligned_target).is_file()  # the same files as `ispviewer align`
        tiles = patch_tiles_relpath(t.heatmap)  # and the gallery's patch-tile cache, the previous one removed
        assert {tuple(e)[:3] for e in read_index(ds / tiles)} == {
            (p.x, p.y, p.size) for p in fresh if p.decided_by.value == "auto"}
        assert not (ds / old_tiles).exists()
    # the window shows the new alignment's patches (and the kept decision) without reopening
    shown = {p.id: p for p in w.session.patches()}
    assert mine.id in shown and shown[mine.id].status.value == "rejected"
    assert {p.size for p in shown.values()} == {48, 64}

    # a re-alignment with the same patch size keeps the decision on the very same patch
    monkeypatch.setattr(QInputDialog, "getInt", lambda *a, **k: (64, True))
    with qtbot.waitSignal(realigner.finished, timeout=30000) as done:
        press_keys(w, "Ctrl+L")
    assert done.args[1] is True
    qtbot.waitUntil(lambda: w.session.pending == 0, timeout=10000)
    assert db_row(ds, mine.id) == ("rejected", "user", None)


def test_realignment_failure_keeps_the_previous_alignment(make_window, ds, qtbot, monkeypatch):
    w = make_window(ds)
    name = w.state.triplet.name
    before = w.session.triplet(name).homography
    target = w.session.manifest.resolve(w.session.triplet(name).files.target)
    target.write_bytes(b"not a jpeg")
    monkeypatch.setattr(QInputDialog, "getInt", lambda *a, **k: (64, True))
    with qtbot.waitSignal(w.tools.realigner.finished, timeout=30000) as done:
        press_keys(w, "Ctrl+L")
    assert done.args[:2] == [name, False] and "kept" in done.args[2]
    assert "failed" in w.statusBar().currentMessage()
    assert w.session.triplet(name).homography == before
