"""The gallery's tiles with and without the aligner's patch-tile cache: the same pixels either way,
no full image decoded when every triplet has a cache, and a damaged cache said once, not a crash."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from guihelpers import press_keys
from ispviewer.align.warp import warp_target_to_phone
from ispviewer.dataset.alignment_files import patch_tiles_relpath
from ispviewer.dataset.heatmap_file import save_heatmap
from ispviewer.dataset.images import load_rgb
from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.patch_tiles import crop, spec_of, write_patch_tiles
from ispviewer.gui import gallery_tiles


def write_caches(root) -> dict[str, str]:
    """Give every triplet a heatmap file and the patch-tile cache its name implies, cut the way the
    aligner cuts it (phone JPEG and the warped target); the caches by triplet name."""
    caches = {}
    with Manifest.open(root, readonly=True) as m:
        triplets = m.triplets()
        heatmaps = {t.name: t.heatmap or f"heatmaps/{t.name}.npz" for t in triplets}
        for t in triplets:
            if t.heatmap is None:
                save_heatmap(root / heatmaps[t.name], np.zeros((t.raw.height // 4, t.raw.width // 4), np.float32), 0.25)
            phone = load_rgb(m.resolve(t.files.phone))
            aligned = warp_target_to_phone(load_rgb(m.resolve(t.files.target)), np.array(t.homography),
                                           (t.raw.width, t.raw.height))
            caches[t.name] = patch_tiles_relpath(heatmaps[t.name])
            write_patch_tiles(root / caches[t.name], phone, aligned, [spec_of(p) for p in m.patches(t.id)])
    con = sqlite3.connect(root / "manifest.sqlite")
    with con:
        con.executemany("UPDATE triplets SET heatmap_path = ? WHERE name = ?", [(h, n) for n, h in heatmaps.items()])
    con.close()
    return caches


def rgb_of(image) -> np.ndarray:
    ptr = image.constBits()
    rows = np.frombuffer(ptr, np.uint8, image.bytesPerLine() * image.height()).reshape(image.height(), -1)
    return rows[:, :image.width() * 3].reshape(image.height(), image.width(), 3)


@pytest.fixture
def decoded(monkeypatch):
    """Names of the triplets whose full phone image the gallery decoded."""
    calls = []
    real = gallery_tiles.load_phone
    monkeypatch.setattr(gallery_tiles, "load_phone",
                        lambda request, *a: calls.append(request.name) or real(request, *a))
    return calls


def open_gallery(qtbot, make_window, dataset):
    w = make_window(dataset, size=(1600, 1000))
    messages = []
    w.review.message.connect(lambda text, *_: messages.append(text))
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)
    press_keys(w, "V")
    g = w.review.gallery
    qtbot.waitUntil(lambda: g.page_patches and all(g.tiles.tile(p.id) is not None for p in g.page_patches),
                    timeout=15000)
    return w, g, messages


def assert_tiles_are_the_crops(dataset, patches, tiles, tolerance=2.0):
    with Manifest.open(dataset, readonly=True) as m:
        images = {}
        for p in patches:
            if p.triplet_id not in images:
                t = m.triplet(p.triplet_id)
                images[p.triplet_id] = (load_rgb(m.resolve(t.files.phone)), warp_target_to_phone(
                    load_rgb(m.resolve(t.files.target)), np.array(t.homography), (t.raw.width, t.raw.height)))
            phone, target = images[p.triplet_id]
            s = spec_of(p)
            tile = tiles.tile(p.id)
            for got, want in ((tile.phone, crop(phone, s.x, s.y, s.size)),
                              (tile.target, crop(target, s.tx, s.ty, s.size))):
                diff = np.abs(rgb_of(got).astype(np.int16) - want.astype(np.int16)).mean()
                assert diff < tolerance, (p.triplet, p.x, p.y, diff)


def test_without_a_cache_tiles_are_cut_from_the_full_images(qtbot, make_window, dataset, decoded):
    assert not (dataset / "tiles").exists()  # aligned before the cache existed
    w, g, messages = open_gallery(qtbot, make_window, dataset)
    assert set(decoded) == {p.triplet for p in g.page_patches}
    assert_tiles_are_the_crops(dataset, g.page_patches, g.tiles, tolerance=0.01)  # exact crops
    assert not any("patch-tile" in m for m in messages)


def test_with_caches_no_full_image_is_decoded_and_the_tiles_are_the_same(qtbot, make_window, dataset, decoded):
    write_caches(dataset)
    w, g, messages = open_gallery(qtbot, make_window, dataset)
    assert len({p.triplet for p in g.page_patches}) > 1
    assert decoded == []  # every tile came from the caches
    assert_tiles_are_the_crops(dataset, g.page_patches, g.tiles)
    assert not any("patch-tile" in m for m in messages)


def test_a_damaged_cache_falls_back_and_says_so_once(qtbot, make_window, dataset, decoded):
    caches = write_caches(dataset)
    broken = dataset / caches["t01"]
    broken.write_bytes(broken.read_bytes()[:3000])
    w, g, messages = open_gallery(qtbot, make_window, dataset)
    on_page = {p.triplet for p in g.page_patches}
    assert "t01" in on_page and set(decoded) == {"t01"}  # only the damaged one decoded its images
    assert_tiles_are_the_crops(dataset, g.page_patches, g.tiles)
    said = [m for m in messages if "patch-tile cache" in m]
    assert len(said) == 1 and caches["t01"] in said[0] and "truncated" in said[0] and "full images" in said[0]
    press_keys(g.grid, "PgDown")  # more of t01's tiles: not said again
    qtbot.waitUntil(lambda: all(g.tiles.tile(p.id) is not None for p in g.page_patches), timeout=15000)
    assert len([m for m in messages if "patch-tile cache" in m]) == 1
