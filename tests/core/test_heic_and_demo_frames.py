"""HEIC/HEIF phone images in both source layouts, and the default demo's captures as phones
write them (turned, cropped, HEIC): imported, checked and aligned like any other."""

from __future__ import annotations

import numpy as np
from capture_helpers import GRBG_PHONE, agreement, rgb_luminance, write_capture

from ispviewer.align.warp import warp_target_to_phone
from ispviewer.cli import main
from ispviewer.dataset.demo import build_demo_sources, load_groundtruth
from ispviewer.dataset.demo.build import phone_image_path
from ispviewer.dataset.demo.capture_frames import DEMO_FRAMES, CaptureFrame
from ispviewer.dataset.images import load_rgb
from ispviewer.dataset.manifest import Manifest
from ispviewer.workflows.capture_import import import_captures


def test_heic_phone_images_import_in_both_layouts(tmp_path, capsys):
    by_role = tmp_path / "by_role"
    stem = write_capture(by_role, 1, GRBG_PHONE, CaptureFrame(raw_orientation=6, phone_orientation=6,
                                                             phone_format="heic"))
    heif = by_role / "phone" / f"{stem}.HEIF"  # any case, either extension
    (by_role / "phone" / f"{stem}.heic").rename(heif)
    per_capture = tmp_path / "per_capture" / "cap"
    per_capture.mkdir(parents=True)
    for role, path in (("raw.dng", by_role / "raw" / f"{stem}.dng"), ("phone.heic", heif),
                       ("target.jpg", by_role / "target" / f"{stem}.jpg")):
        (per_capture / role).write_bytes(path.read_bytes())
    for src, name in ((by_role, stem), (tmp_path / "per_capture", "cap")):
        ds = tmp_path / f"ds_{name}"
        assert main(["import", str(src), str(ds)]) == 0, capsys.readouterr().out
        with Manifest.open(ds, readonly=True) as m:
            t = m.triplet(name)
            assert t.files.phone.endswith((".heif", ".heic")) and t.capture.phone_format == "heif"
            assert (t.raw.width, t.raw.height) == (240, 320) and t.capture.phone_orientation == 6
            assert load_rgb(m.resolve(t.files.phone)).shape == (320, 240, 3)
        assert main(["check", str(ds), "--deep"]) == 0, capsys.readouterr().out
        assert main(["align", str(ds), "--patch", "64", "--workers", "1"]) == 0


def test_default_demo_meets_every_capture_path(tmp_path):
    stems = build_demo_sources(tmp_path / "src", count=len(DEMO_FRAMES), size=(320, 240))
    report = import_captures(tmp_path / "src", tmp_path / "ds")
    assert report.ok and not report.notes, report.summary()
    with Manifest.open(tmp_path / "ds", readonly=True) as m:
        triplets = {t.name: t for t in m.triplets()}
    assert {t.raw.orientation for t in triplets.values()} >= {1, 3, 6, 8}
    assert any(t.raw.crop for t in triplets.values())
    assert any(t.capture.phone_format == "heif" for t in triplets.values())
    assert any(t.capture.phone_orientation != t.capture.target_orientation for t in triplets.values())
    for stem, frame in zip(stems, DEMO_FRAMES):
        t = triplets[stem]
        assert (t.raw.orientation, t.capture.phone_orientation, t.capture.target_orientation) == (
            frame.raw_orientation, frame.phone_orientation, frame.target_orientation)
        # the target as displayed is the one the ground truth (phone frame) describes, whatever its tag
        gt = load_groundtruth(tmp_path / "src" / "groundtruth" / f"{stem}.npz")
        assert gt.phone_size == (t.raw.width, t.raw.height)
        phone = rgb_luminance(load_rgb(phone_image_path(tmp_path / "src", stem)))
        target = load_rgb(tmp_path / "src" / "target" / f"{stem}.jpg")
        aligned = rgb_luminance(warp_target_to_phone(target, gt.homography, gt.phone_size))
        assert agreement(phone, aligned) > 0.5 > 0.3 > agreement(phone, np.ascontiguousarray(aligned[::-1, ::-1]))


def test_triplet_export_carries_the_capture_geometry(tmp_path, capsys):
    import json

    write_capture(tmp_path / "src", 1, GRBG_PHONE, CaptureFrame(raw_orientation=8, crop_margin=4, phone_format="heic"))
    assert import_captures(tmp_path / "src", tmp_path / "ds").ok
    assert main(["export", str(tmp_path / "ds"), "--triplets", "--format", "jsonl"]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (row["raw_orientation"], row["phone_format"], row["capture_note"]) == (8, "heif", None)
    assert row["raw_crop"] == [4, 4, 320, 240] and (row["width"], row["height"]) == (240, 320)
    assert main(["export", str(tmp_path / "ds"), "--triplets", "--format", "parquet",
                 "--out", str(tmp_path / "t.parquet")]) == 0
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "t.parquet").to_pylist()
    assert table[0]["raw_crop"] == [4, 4, 320, 240] and table[0]["raw_orientation"] == 8
