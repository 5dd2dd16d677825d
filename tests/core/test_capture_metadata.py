"""Capture metadata: EXIF of the raw and both JPEGs, EV100, illumination, capture gap; schema v4
migration; the metadata command; tags; stats per group; triplet export and Parquet."""

import json
import math
import sqlite3

import numpy as np
import pytest

from ispviewer.dataset.capture_metadata import (
    ExposureInfo,
    ev100,
    illumination,
    parse_bounds,
    read_capture_metadata,
    read_exposure,
)
from ispviewer.dataset.manifest import Manifest
from product_helpers import build_aligned_demo, cli, copy_dataset


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return build_aligned_demo(tmp_path_factory.mktemp("meta"))


def test_ev100_and_illumination_classes():
    # f/2.2, 1/30 s, ISO 800: log2(4.84 * 30) - log2(8) = 4.18
    assert ev100(ExposureInfo(exposure_time=1 / 30, iso=800, f_number=2.2)) == pytest.approx(
        math.log2(2.2 ** 2 * 30) - 3)
    assert ev100(ExposureInfo(exposure_time=1 / 30, f_number=2.2)) is None
    assert [illumination(v) for v in (1.0, 4.0, 6.9, 7.0, 10.99, 11.0, 15.0)] == [
        "night", "low light", "low light", "indoor", "indoor", "daylight", "daylight"]
    assert illumination(5.0, parse_bounds("3,5,9")) == "indoor"
    for bad in ("4,7", "7,4,11", "a,b,c", "4,7,11,13"):
        with pytest.raises(ValueError, match="illumination bounds"):
            parse_bounds(bad)


def test_demo_files_carry_varied_exif(demo):
    src = demo.parent / "src"
    seen = set()
    for dng in sorted((src / "raw").glob("*.dng")):
        stem = dng.stem
        meta = read_capture_metadata(dng, src / "phone" / f"{stem}.jpg", src / "target" / f"{stem}.jpg")
        raw_only, phone_jpeg = read_exposure(dng), read_exposure(src / "phone" / f"{stem}.jpg")
        assert raw_only.exposure_time and raw_only.iso and raw_only.f_number and raw_only.focal_length
        assert raw_only.exposure_time == pytest.approx(phone_jpeg.exposure_time)  # both phone files agree
        assert raw_only.iso == phone_jpeg.iso
        assert meta.ev100 == pytest.approx(math.log2(raw_only.f_number ** 2 / raw_only.exposure_time)
                                           - math.log2(raw_only.iso / 100))
        assert meta.target.f_number in (4.0, 8.0) and meta.target.iso >= 100
        assert 1.0 <= meta.capture_gap_s <= 13.0  # the Nikon fires a few seconds after the phone
        seen.add(meta.illumination)
    assert len(seen) >= 3, seen


def test_real_files_without_exposure_give_empty_metadata(real_data):
    from PIL import Image

    jpeg = real_data / "exif_orientation_6.jpg"
    exif = Image.open(jpeg).getexif().get_ifd(0x8769)
    info = read_exposure(jpeg)
    assert info.exposure_time == exif.get(0x829A) and info.iso == exif.get(0x8827)  # PIL agrees: none
    meta = read_capture_metadata(real_data / "blackmagic_pocket4k.dng", jpeg, real_data / "exif_orientation_1.jpg")
    assert meta.ev100 is None and meta.illumination is None and meta.capture_gap_s is None


def test_garbage_and_missing_files_read_as_empty(tmp_path):
    (tmp_path / "junk.jpg").write_bytes(b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00II*\x00\xff\xff\xff\x7f")
    (tmp_path / "junk.dng").write_bytes(b"II*\x00" + b"\xff" * 40)
    for f in ("junk.jpg", "junk.dng", "absent.jpg"):
        assert read_exposure(tmp_path / f) == ExposureInfo()


def test_import_stores_metadata_and_command_lists_it(demo):
    with Manifest.open(demo, readonly=True) as m:
        triplets = m.triplets()
    assert all(t.metadata is not None and t.metadata.ev100 is not None for t in triplets)
    assert len({t.metadata.illumination for t in triplets}) >= 3
    code, out, _ = cli("metadata", demo, "--list")
    assert code == 0 and "EV100" in out and "gap +" in out


def test_bounds_setting_reclassifies(demo, tmp_path):
    ds = copy_dataset(demo, tmp_path / "ds")
    code, out, _ = cli("metadata", ds, "--bounds", "20,21,22")
    assert code == 0 and "re-classified" in out
    with Manifest.open(ds, readonly=True) as m:
        assert {t.metadata.illumination for t in m.triplets()} == {"night"}
        assert m.illumination_bounds == (20.0, 21.0, 22.0)
    code, _, err = cli("metadata", ds, "--bounds", "9,3,1")
    assert code == 2 and "increasing" in err


def _v2_manifest_from(ds, version=2):
    """Turn a copy's manifest into what schema ``version`` wrote (what later migrations added is gone)."""
    import re

    from ispviewer.dataset import schema

    path = ds / "manifest.sqlite"
    conn = sqlite3.connect(path)
    for later in range(schema.SCHEMA_VERSION, version, -1):  # undo every later migration, newest first
        script = schema.MIGRATIONS[later]
        for index in re.findall(r"CREATE (?:UNIQUE )?INDEX (?:IF NOT EXISTS )?(\w+)", script):
            conn.execute(f"DROP INDEX IF EXISTS {index}")
        for table in re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", script):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        for table, col in re.findall(r"ALTER TABLE (\w+) ADD COLUMN (\w+)", script):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {col}")
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()


def test_migration_from_v2_then_metadata_fills_existing_triplets(demo, tmp_path):
    ds = copy_dataset(demo, tmp_path / "old")
    _v2_manifest_from(ds)
    with Manifest.open(ds, readonly=True) as m:  # read-only: opens as it is, no metadata
        assert all(t.metadata is None and t.split is None for t in m.triplets())
        assert m.tags() == {}
    code, out, _ = cli("metadata", ds)
    assert code == 0 and f"read for {4} triplet" in out
    assert (ds / "manifest.sqlite.v2.bak").exists()
    with Manifest.open(ds, readonly=True) as m:
        assert all(t.metadata and t.metadata.illumination for t in m.triplets())
    code, out, _ = cli("metadata", ds)
    assert code == 0 and "read for 0 triplet" in out  # done once; --refresh re-reads


def test_tags_add_remove_and_errors(demo, tmp_path):
    ds = copy_dataset(demo, tmp_path / "ds")
    code, out, _ = cli("tag", ds, "demo_000", "demo_001", "--add", "backlit", "--add", "rain")
    assert code == 0 and "demo_000: backlit rain" in out
    code, out, _ = cli("tag", ds, "demo_001", "--remove", "rain")
    assert code == 0 and "demo_001: backlit" in out
    code, _, err = cli("tag", ds, "demo_000", "nope", "--add", "x")
    assert code == 2 and "nope" in err
    code, _, err = cli("tag", ds, "demo_000", "--add", "has space")
    assert code == 2 and "tag" in err
    with Manifest.open(ds, readonly=True) as m:
        assert m.tags() == {"demo_000": ("backlit", "rain"), "demo_001": ("backlit",)}  # nothing half-done


def test_stats_by_groups_text_and_png(demo, tmp_path):
    ds = copy_dataset(demo, tmp_path / "ds")
    cli("tag", ds, "demo_000", "--add", "backlit")
    code, out, _ = cli("stats", ds, "--by", "illumination", "--png", tmp_path / "f4b.png")
    assert code == 0
    with Manifest.open(ds, readonly=True) as m:
        classes = {t.metadata.illumination for t in m.triplets()}
    rows = [line for line in out.splitlines() if any(line.strip().startswith(c) for c in classes)]
    assert len(rows) == len(classes) >= 3, out
    import cv2

    img = cv2.imread(str(tmp_path / "f4b.png"))
    assert img is not None and img.shape[:2] == (540, 900)
    code, out, _ = cli("stats", ds, "--by", "tag")
    assert code == 0 and "backlit" in out and "(untagged)" in out
    code, out, _ = cli("stats", ds, "--by", "phone")
    assert "Apple iPhone 6s" in out and "Xiaomi Mi 9" in out


def test_stats_by_patch_counts_add_up(demo):
    from ispviewer.align.group_stats import collect_groups

    with Manifest.open(demo, readonly=True) as m:
        measured = sum(1 for r in m.misalignment_table() if r["measurable"] and r["misalignment_px"] is not None)
        for by in ("illumination", "phone", "split"):
            g = collect_groups(m, by)
            assert sum(v.size for v in g.groups.values()) == measured
            assert np.isclose(np.concatenate(list(g.groups.values())).mean(),
                              np.mean([r["misalignment_px"] for r in m.misalignment_table()
                                       if r["misalignment_px"] is not None]))


def test_triplet_export_fields_and_parquet(demo, tmp_path):
    import pyarrow.parquet as pq

    ds = copy_dataset(demo, tmp_path / "ds")
    cli("tag", ds, "demo_002", "--add", "backlit")
    cli("split", ds, "--val", "0.25", "--test", "0.25")
    code, out, _ = cli("export", ds, "--triplets")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 4
    for key in ("split", "illumination", "ev100", "exposure_time", "iso", "tags"):
        assert all(key in r for r in rows)
    assert {r["split"] for r in rows} == {"train", "val", "test"}
    assert next(r for r in rows if r["triplet"] == "demo_002")["tags"] == ["backlit"]
    code, _, _ = cli("export", ds, "--triplets", "--format", "parquet", "--out", tmp_path / "t.parquet")
    table = pq.read_table(tmp_path / "t.parquet").to_pylist()
    assert code == 0 and [r["triplet"] for r in table] == [r["triplet"] for r in rows]
    assert table[0]["ev100"] == pytest.approx(rows[0]["ev100"]) and table[0]["homography"] == rows[0]["homography"]
    code, out, _ = cli("export", ds, "--status", "accepted")
    patches = [json.loads(line) for line in out.splitlines()]
    code, _, _ = cli("export", ds, "--status", "accepted", "--format", "parquet", "--out", tmp_path / "p.parquet")
    ptable = pq.read_table(tmp_path / "p.parquet")
    assert code == 0 and ptable.num_rows == len(patches) > 0
    assert ptable.column("misalignment_px").to_pylist() == pytest.approx([p["misalignment_px"] for p in patches])
    code, _, err = cli("export", ds, "--format", "parquet")
    assert code == 2 and "--out" in err


def test_check_notes_missing_metadata_and_repair_fills_it(demo, tmp_path):
    ds = copy_dataset(demo, tmp_path / "old")
    _v2_manifest_from(ds, version=3)
    with Manifest.open(ds):  # migrated: the triplets have no metadata yet
        pass
    code, out, _ = cli("check", ds)
    assert "4 triplet(s) without capture metadata" in out
    code, out, _ = cli("check", ds, "--repair")
    assert code == 0 and "repair: read capture metadata for 4 triplet(s)" in out
    with Manifest.open(ds, readonly=True) as m:
        assert all(t.metadata and t.metadata.illumination for t in m.triplets())
    code, out, _ = cli("check", ds)
    assert "without capture metadata" not in out
