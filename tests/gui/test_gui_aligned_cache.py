"""The viewer reads the aligner's aligned target file instead of warping the Nikon target, and opens
the triplet anyway (by warping) when that file is missing, corrupt or the wrong size."""

import numpy as np
import pytest

from guidata import H_TARGET_TO_PHONE, PHONE_H, PHONE_W, build_dataset
from ispviewer.align.aligned_target import aligned_target_relpath, save_aligned_target, write_aligned_target
from ispviewer.dataset.images import load_rgb
from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.records import AlignmentResult, PatchMeasurement
from ispviewer.gui import sources
from ispviewer.gui.loader import PREVIEW_REDUCE, load_triplet
from ispviewer.gui.sources import PHONE, TARGET


def add_aligned_targets(root, names=("t01", "t02", "t03", "t04")) -> None:
    """Write each triplet's aligned target as the aligner does and record it (patches unchanged)."""
    with Manifest.open(root) as m:
        for name in names:
            t = m.triplet(name)
            rel = aligned_target_relpath(name)
            write_aligned_target(root / rel, load_rgb(m.resolve(t.files.target)), np.array(t.homography),
                                 (PHONE_W, PHONE_H))
            patches = tuple(PatchMeasurement(p.x, p.y, p.size, p.dx, p.dy, p.ncc, p.misalignment_px,
                                             p.misalignment_p95, p.measurable) for p in m.patches(t.id))
            m.store_alignment(t.id, AlignmentResult(H_TARGET_TO_PHONE, patches, t.heatmap, 1.2, aligned_target=rel))


@pytest.fixture
def cached_dataset(tmp_path):
    root = build_dataset(tmp_path / "ds")
    add_aligned_targets(root)
    return root


def _request(root, name):
    with Manifest.open(root, readonly=True) as m:
        return sources.make_request(m.triplet(name), m.resolve, root=root)


def _no_warp(*_args, **_kwargs):
    raise AssertionError("the Nikon target was warped although its aligned target file is usable")


def test_the_aligned_target_file_is_decoded_instead_of_warping(cached_dataset, monkeypatch):
    request = _request(cached_dataset, "t01")
    assert request.aligned_path == cached_dataset / "aligned" / "t01.jpg"
    monkeypatch.setattr(sources, "warp_to_phone", _no_warp)
    full = load_triplet(request)
    assert not full.errors and not full.warnings
    assert np.array_equal(full.pyramids[TARGET].levels[0], load_rgb(request.aligned_path))
    quick = load_triplet(request, reduce=PREVIEW_REDUCE)  # the preview comes from it too
    p = quick.pyramids[TARGET]
    assert p.is_preview and (p.width, p.height) == (PHONE_W, PHONE_H) and p.levels[0].shape[:2] == (60, 80)
    assert np.array_equal(p.levels[0], load_rgb(request.aligned_path, reduce=PREVIEW_REDUCE))


@pytest.mark.parametrize("damage", ["deleted", "garbage", "truncated", "wrong size"])
def test_an_unusable_aligned_target_file_falls_back_to_the_warp(cached_dataset, damage):
    path = cached_dataset / "aligned" / "t02.jpg"
    if damage == "deleted":
        path.unlink()
    elif damage == "garbage":
        path.write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG" * 10 + b"\xff\xd9")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        save_aligned_target(path, np.zeros((PHONE_H // 2, PHONE_W // 2, 3), np.uint8))
    request = _request(cached_dataset, "t02")
    full = load_triplet(request)
    assert TARGET in full.pyramids and not full.errors
    target = full.pyramids[TARGET]
    assert (target.width, target.height) == (PHONE_W, PHONE_H) and not target.is_preview
    warped = sources.warp_to_phone(load_rgb(request.target_path), np.array(request.homography), (PHONE_W, PHONE_H))
    assert np.array_equal(target.levels[0], warped)
    assert len(full.warnings) == 1 and "aligned target unusable" in full.warnings[0] and "t02.jpg" in full.warnings[0]
    quick = load_triplet(request, reduce=PREVIEW_REDUCE)  # the preview falls back the same way, silently
    assert quick.pyramids[TARGET].levels[0].shape[:2] == (60, 80) and not quick.warnings


def test_a_triplet_whose_aligned_file_is_deleted_or_corrupt_still_opens(qtbot, make_window, cached_dataset):
    (cached_dataset / "aligned" / "t02.jpg").unlink()
    (cached_dataset / "aligned" / "t03.jpg").write_bytes(b"garbage" * 100)
    w = make_window(cached_dataset)
    target = w.viewer.panes[TARGET]
    results, shown = [], []
    w.loader.loaded.connect(results.append)
    w.statusBar().messageChanged.connect(shown.append)
    for name in ("t02", "t03", "t01"):
        shown.clear()
        w.loader.forget()
        w.show_triplet(name)
        qtbot.waitUntil(lambda: not w.state.loading, timeout=10000)
        assert w.state.triplet.name == name
        assert target.pyramid is not None and not target.pyramid.is_preview and not target.message.isVisible()
        assert w.viewer.panes[PHONE].pyramid is not None
        record = next(r for r in w.browser.model.records if r.name == name)
        assert not w.browser.model.error_of(record)  # a missing cache is not a broken triplet
        assert results[-1].name == name and not results[-1].preview
        noted = any("aligned target unusable" in text for text in results[-1].warnings)
        assert noted == (name != "t01")
        if noted:  # the reason is on the status bar
            assert any("aligned target unusable" in text for text in shown)


def test_datasets_aligned_before_the_cache_existed_open_as_before(window):
    request = window.navigator.request_for(window.session.triplet("t01"))
    assert request.aligned_path is None
    full = load_triplet(request)
    assert TARGET in full.pyramids and not full.warnings and not full.errors


def test_cold_open_reads_the_heatmap_once_and_the_full_result_keeps_it(qtbot, window, monkeypatch):
    from ispviewer.gui import loader as loader_module

    calls = []
    real = loader_module.load_heatmap_file
    monkeypatch.setattr(loader_module, "load_heatmap_file", lambda *a: calls.append(a) or real(*a))
    window.navigator.cancel_prefetch()  # no neighbour prefetch may start
    qtbot.waitUntil(lambda: not window.loader.busy, timeout=10000)
    window.loader.forget()
    calls.clear()
    results = []
    window.loader.loaded.connect(results.append)
    window.show_triplet("t01")  # cold: a preview, then the full resolution
    qtbot.waitUntil(lambda: not window.state.loading, timeout=10000)
    shown = [r for r in results if r.name == "t01"]
    assert [r.preview for r in shown] == [True, False]
    full = shown[-1]
    assert full.heatmap is not None and full.heatmap_rgba is not None and full.patches
    assert np.array_equal(full.heatmap.values, shown[0].heatmap.values, equal_nan=True)
    assert len(calls) == 1  # read by the preview, handed on to the full result
