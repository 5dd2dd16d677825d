"""The patch-tile cache: written by the aligner's job for every capture geometry, each tile the
full-image crop within JPEG tolerance, replaced with its alignment, known to `check`, and a damaged
file named with its reason."""

from __future__ import annotations

import os
import shutil
import struct
import time

import numpy as np
import pytest

from ispviewer.align.batch import align_job, new_job
from ispviewer.align.warp import warp_target_to_phone
from ispviewer.cli import main
from ispviewer.dataset.alignment_files import patch_tiles_relpath, remove_replaced
from ispviewer.dataset.check import LEFTOVER_MIN_AGE_S, check_dataset
from ispviewer.dataset.demo import build_demo_sources
from ispviewer.dataset.demo.capture_frames import DEMO_FRAMES
from ispviewer.dataset.images import load_rgb
from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.patch_tiles import (
    PatchTilesError,
    TileSpec,
    crop,
    encode_patch_tiles,
    read_index,
    read_patch_tiles,
    spec_of,
    write_patch_tiles,
)
from ispviewer.workflows.capture_import import import_captures
from ispviewer.workflows.repair import realign_triplet

PATCH = 64


def mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.fixture(scope="module")
def aligned_demo(tmp_path_factory):
    """The default demo's captures as phones write them (turned, cropped, HEIC), aligned."""
    folder = tmp_path_factory.mktemp("tiles")
    build_demo_sources(folder / "src", count=len(DEMO_FRAMES), size=(320, 240))
    report = import_captures(folder / "src", folder / "ds")
    assert report.ok, report.summary()
    with Manifest.open(folder / "ds") as m:
        for t in m.triplets():
            assert realign_triplet(m, t, PATCH) is None
    return folder / "ds"


@pytest.fixture
def ds(aligned_demo, tmp_path):
    shutil.copytree(aligned_demo, tmp_path / "ds")
    return tmp_path / "ds"


def test_each_tile_is_the_full_image_crop_for_every_capture_geometry(aligned_demo):
    seen_turned = seen_cropped = False
    with Manifest.open(aligned_demo, readonly=True) as m:
        for t in m.triplets():
            rel = patch_tiles_relpath(t.heatmap)
            assert rel == f"tiles/{t.heatmap.split('/')[1][:-4]}.tiles" and (aligned_demo / rel).is_file()
            patches = m.patches(t.id)
            specs = [spec_of(p) for p in patches]
            tiles = read_patch_tiles(aligned_demo / rel, specs)
            assert set(tiles) == {s.key for s in specs}  # every patch of the alignment
            phone = load_rgb(m.resolve(t.files.phone))
            assert (phone.shape[1], phone.shape[0]) == (t.raw.width, t.raw.height)
            truth = warp_target_to_phone(load_rgb(m.resolve(t.files.target)), np.array(t.homography),
                                         (t.raw.width, t.raw.height))
            for s in specs:
                got_phone, got_target = tiles[s.key]
                want_phone, want_target = crop(phone, s.x, s.y, s.size), crop(truth, s.tx, s.ty, s.size)
                assert got_phone.shape == got_target.shape == (s.size, s.size, 3)
                # the phone tile is exactly the JPEG of that very crop: the right image, the right place
                assert np.array_equal(got_phone, jpeg_round_trip(want_phone))
                # the target tile is cut from the aligner's own render of the aligned target (its
                # chroma from a halved target), so it equals the exact warp up to resampling and JPEG
                # the demo's per-pixel sensor noise is JPEG's worst case (real photos: below 2, tested below)
                # (the target's half-resolution chroma adds ~1 level there)
                assert mean_abs(got_phone, want_phone) < 3.0 and mean_abs(got_target, want_target) < 4.0
            s = specs[len(specs) // 2]  # the tolerance is meaningful: one pixel off would show
            assert mean_abs(tiles[s.key][0], crop(phone, s.x + 1, s.y, s.size)) > 2 * mean_abs(
                tiles[s.key][0], crop(phone, s.x, s.y, s.size))
            assert mean_abs(tiles[s.key][1], crop(truth, s.tx + 1, s.ty, s.size)) > 2 * mean_abs(
                tiles[s.key][1], crop(truth, s.tx, s.ty, s.size))
            seen_turned |= t.raw.orientation != 1
            seen_cropped |= t.raw.crop is not None
    assert seen_turned and seen_cropped


def jpeg_round_trip(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` through the cache's own encoding (one tile file of one square)."""
    spec = TileSpec(0, 0, rgb.shape[0], 0, 0)
    path = _write(encode_patch_tiles(rgb, rgb, [spec]))
    try:
        return read_patch_tiles(path, [spec])[spec.key][0]
    finally:
        os.unlink(path)


def test_tiles_of_real_photos_are_within_two_levels(real_pairs):
    for pair in sorted(p for p in real_pairs.iterdir() if (p / "phone.jpg").is_file())[:3]:
        phone, target = load_rgb(pair / "phone.jpg"), load_rgb(pair / "target.jpg")
        h, w = min(phone.shape[0], target.shape[0]), min(phone.shape[1], target.shape[1])
        specs = [TileSpec(x, y, 128, x + 3, y - 2) for y in range(0, h - 127, 256) for x in range(0, w - 127, 256)]
        path = _write(encode_patch_tiles(phone, target, specs))
        try:
            tiles = read_patch_tiles(path, specs)
        finally:
            os.unlink(path)
        for s in specs:
            assert mean_abs(tiles[s.key][0], crop(phone, s.x, s.y, s.size)) < 2.0, pair.name
            assert mean_abs(tiles[s.key][1], crop(target, s.tx, s.ty, s.size)) < 2.0, pair.name


@pytest.fixture
def real_pairs(real_data):
    if not (real_data / "pairs").is_dir():
        pytest.skip("real image pairs not available")
    return real_data / "pairs"


def test_round_trip_black_outside_and_only_matching_patches():
    rng = np.random.default_rng(0)
    phone = rng.integers(0, 256, (100, 120, 3), np.uint8)
    phone[:] = np.repeat(np.repeat(phone[::10, ::10], 10, 0), 10, 1)  # blocks: JPEG keeps them well
    target = phone[:, ::-1].copy()
    specs = [TileSpec(0, 0, 32, 2, -4), TileSpec(96, 80, 32, 100, 84)]  # the second leaves the frame
    data = encode_patch_tiles(phone, target, specs)
    assert data[:8] == b"ISPTILES"
    path = _write(data)
    try:
        index = read_index(path)
        assert index["x"].tolist() == [0, 96] and index["tx"].tolist() == [2, 100]
        got = read_patch_tiles(path, specs + [TileSpec(32, 32, 32, 32, 32)])  # not in the file: left out
        assert set(got) == {(0, 0, 32), (96, 80, 32)}
        for s in specs:
            assert mean_abs(got[s.key][0], crop(phone, s.x, s.y, s.size)) < 2.0
            assert mean_abs(got[s.key][1], crop(target, s.tx, s.ty, s.size)) < 2.0
        assert got[(96, 80, 32)][0][24:, :].max() <= 2  # outside the frame: black (the 8x8 blocks past the edge)
        # a patch measured again since (another matched square) is not served from the old cache
        assert read_patch_tiles(path, [TileSpec(0, 0, 32, 3, -4)]) == {}
    finally:
        os.unlink(path)


def _write(data: bytes):
    import tempfile

    fd, name = tempfile.mkstemp(suffix=".tiles")
    os.write(fd, data)
    os.close(fd)
    return name


@pytest.mark.parametrize("damage, reason", [
    (lambda d: d[:-100], "is truncated"),
    (lambda d: d[:20], "truncated (index of 3 tiles incomplete)"),
    (lambda d: b"", "truncated (no header)"),
    (lambda d: b"GARBAGE!" + d[8:], "not a patch-tile cache"),
    (lambda d: d[:8] + struct.pack("<H", 9) + d[10:], "format 9 is newer"),
    (lambda d: d + b"x", "is damaged"),
    (lambda d: d[:-40] + bytes(255 - b for b in d[-40:]), "checksum mismatch"),
])
def test_a_damaged_file_is_named_with_its_reason(damage, reason):
    phone = np.full((64, 64, 3), 128, np.uint8)
    data = encode_patch_tiles(phone, phone, [TileSpec(0, 0, 16, 0, 0), TileSpec(16, 0, 16, 16, 0),
                                             TileSpec(32, 0, 16, 32, 0)])
    path = _write(damage(data))
    try:
        with pytest.raises(PatchTilesError) as info:
            read_patch_tiles(path, [TileSpec(32, 0, 16, 32, 0)])
        assert reason in info.value.reason and str(info.value).startswith(path)
    finally:
        os.unlink(path)
    with pytest.raises(PatchTilesError, match="does not exist"):
        read_index(path)


def test_write_is_atomic_and_rejects_what_is_not_rgb(tmp_path):
    phone = np.zeros((32, 32, 3), np.uint8)
    size = write_patch_tiles(tmp_path / "tiles" / "a.tiles", phone, phone, [TileSpec(0, 0, 16, 0, 0)])
    assert size == (tmp_path / "tiles" / "a.tiles").stat().st_size
    assert [p.name for p in (tmp_path / "tiles").iterdir()] == ["a.tiles"]  # no temporary file left
    with pytest.raises(ValueError, match="aligned target"):
        encode_patch_tiles(phone, np.zeros((32, 32), np.uint8), [])


def test_realignment_replaces_the_cache_and_removes_the_old_one(ds):
    with Manifest.open(ds) as m:
        t = m.triplets()[0]
        old = patch_tiles_relpath(t.heatmap)
        assert (ds / old).is_file()
        assert realign_triplet(m, t, 32) is None  # another patch size: other patches
        after = m.triplet(t.id)
        new = patch_tiles_relpath(after.heatmap)
        assert new != old and (ds / new).is_file() and not (ds / old).exists()
        specs = [spec_of(p) for p in m.patches(t.id)]  # no person decided any: all re-measured
        assert {s.size for s in specs} == {32} and set(read_patch_tiles(ds / new, specs)) == {s.key for s in specs}
        m.store_alignment_failure(t.id, "too few SIFT matches")  # patches and heatmap kept: so is the cache
        assert (ds / new).is_file()
    assert check_dataset(ds).orphans == []


def test_remove_replaced_takes_the_implied_caches_along(tmp_path):
    for rel in ("heatmaps/a.0123456789ab.npz", "tiles/a.0123456789ab.tiles", "tiles/a.ba9876543210.tiles",
                "tiles/b.tiles"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    removed = remove_replaced(tmp_path, ["heatmaps/a.0123456789ab.npz", "heatmaps/b.npz"],
                              ["heatmaps/a.ba9876543210.npz"])
    assert sorted(removed) == ["heatmaps/a.0123456789ab.npz", "tiles/a.0123456789ab.tiles", "tiles/b.tiles"]
    assert (tmp_path / "tiles/a.ba9876543210.tiles").is_file()
    assert remove_replaced(tmp_path, ["aligned/c.jpg"], ["heatmaps/c.npz"]) == []  # same cache: kept


def test_check_missing_cache_is_fine_damaged_one_rebuilt_orphan_removed_by_repair(ds, capsys):
    with Manifest.open(ds, readonly=True) as m:
        first, second = m.triplets()[:2]
    (ds / patch_tiles_relpath(first.heatmap)).unlink()  # as if aligned before the cache existed
    damaged = patch_tiles_relpath(second.heatmap)
    (ds / damaged).write_bytes((ds / damaged).read_bytes()[:5000])
    orphan = "tiles/" + first.name + ".0123456789ab.tiles"
    (ds / orphan).write_bytes(b"ISPTILES left by an alignment killed before its store")
    report = check_dataset(ds)
    assert report.ok, report.summary()  # a cache never makes the dataset wrong
    assert any(damaged in n and "truncated" in n and second.name in n for n in report.notes), report.notes
    assert [p.relative_to(ds).as_posix() for p in report.orphans] == [orphan]
    old = time.time() - LEFTOVER_MIN_AGE_S - 5
    os.utime(ds / orphan, (old, old))
    assert report.damaged_tile_caches == [second.name]
    with Manifest.open(ds, readonly=True) as m:
        before = (m.triplet(second.id).homography, [(p.id, p.status) for p in m.patches(second.id)])
    assert main(["check", str(ds), "--repair"]) == 0
    out = capsys.readouterr().out
    assert f"removed orphan {orphan}" in out and not (ds / orphan).exists()
    assert f"rebuilt the patch-tile cache {damaged} of {second.name}" in out
    assert "re-aligned" not in out  # only the cache was written again: the alignment is as it was
    with Manifest.open(ds, readonly=True) as m:
        assert (m.triplet(second.id).homography, [(p.id, p.status) for p in m.patches(second.id)]) == before
        specs = [spec_of(p) for p in m.patches(second.id)]
        phone = load_rgb(m.resolve(second.files.phone))
    tiles = read_patch_tiles(ds / damaged, specs)
    assert set(tiles) == {s.key for s in specs}
    assert all(mean_abs(tiles[s.key][0], crop(phone, s.x, s.y, s.size)) < 3.0 for s in specs)
    after = check_dataset(ds)
    assert not after.damaged_tile_caches and not after.orphans and after.ok


def test_align_job_writes_the_cache_before_the_row_is_stored(ds):
    with Manifest.open(ds, readonly=True) as m:
        t = m.triplets()[0]
        job = new_job(str(ds), t, PATCH, m.threshold_px)
    _, result, error = align_job(job)
    assert error is None
    rel = patch_tiles_relpath(result.heatmap)
    assert rel.split(".")[1] == job.heatmap.split(".")[1]  # the alignment's own token
    assert len(read_index(ds / rel)) == len(result.patches)


def test_deep_check_decodes_every_tile(ds):
    with Manifest.open(ds, readonly=True) as m:
        t = m.triplets()[0]
    rel = patch_tiles_relpath(t.heatmap)
    data = bytearray((ds / rel).read_bytes())
    data[-3000] ^= 0xFF  # inside a tile: the index and the length still agree
    (ds / rel).write_bytes(bytes(data))
    assert not check_dataset(ds).damaged_tile_caches  # the quick check reads the index only
    deep = check_dataset(ds, deep=True)
    assert deep.damaged_tile_caches == [t.name] and deep.ok
    assert any(rel in n and "checksum mismatch" in n for n in deep.notes)
