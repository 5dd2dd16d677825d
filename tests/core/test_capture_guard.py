"""The import's capture guard: a raw whose orientation tag is wrong is caught (at import and by
`ispviewer check`), a phone image at another geometry is refused with what was measured, and what
phone ISPs legitimately do (tone mapping, denoising, night brightening, flat or dark scenes) passes."""

from __future__ import annotations

import dataclasses
import sqlite3

import cv2
import numpy as np
import pytest
from capture_helpers import RGGB_PHONE, jpeg_bytes, retag_orientation, write_capture

from ispviewer.cli import main
from ispviewer.dataset.demo.build import phone_image_path
from ispviewer.dataset.demo.capture_frames import CaptureFrame
from ispviewer.dataset.images import load_packed_raw, load_rgb
from ispviewer.dataset.manifest import Manifest
from ispviewer.workflows import capture_guard
from ispviewer.workflows.capture_import import import_captures


@pytest.fixture(scope="module")
def upright(tmp_path_factory):
    """One plain capture: (source folder, stem)."""
    src = tmp_path_factory.mktemp("upright") / "src"
    return src, write_capture(src, 1, RGGB_PHONE, CaptureFrame())


@pytest.mark.parametrize("stored_for,why", [(3, "turned 180°"), (2, "mirrored left-right"), (4, "mirrored top-bottom")])
def test_a_raw_tagged_wrong_is_refused_at_import(tmp_path, stored_for, why):
    src = tmp_path / "src"
    stem = write_capture(src, 1, RGGB_PHONE, CaptureFrame(raw_orientation=stored_for, phone_orientation=stored_for))
    retag_orientation(src / "raw" / f"{stem}.dng", 1)  # the mosaic is turned, the tag says it is not
    report = import_captures(src, tmp_path / "ds")
    assert report.added == [] and len(report.skipped) == 1
    reason = report.skipped[0][1]
    assert f"{stem}.dng" in reason and why in reason and "orientation tag" in reason, reason
    assert main(["import", str(src), str(tmp_path / "ds2")]) == 1


def test_a_portrait_raw_without_its_tag_is_refused_with_the_measured_turn(tmp_path, capsys):
    src = tmp_path / "src"
    stem = write_capture(src, 1, RGGB_PHONE, CaptureFrame(raw_orientation=6, phone_orientation=6))
    retag_orientation(src / "raw" / f"{stem}.dng", 1)
    report = import_captures(src, tmp_path / "ds")
    (name, reason), = report.skipped
    assert "240x320 but the raw is 320x240" in reason and "turned 90° clockwise" in reason, reason


def test_check_reports_a_triplet_read_the_wrong_way_up(tmp_path, capsys):
    """A dataset imported before orientation tags were read: its upside-down raw is reported."""
    src = tmp_path / "src"
    stem = write_capture(src, 1, RGGB_PHONE, CaptureFrame(raw_orientation=3, phone_orientation=3))
    assert import_captures(src, tmp_path / "ds").ok
    assert main(["check", str(tmp_path / "ds")]) == 0
    capsys.readouterr()
    with sqlite3.connect(tmp_path / "ds" / "manifest.sqlite") as conn:  # as schema 2 read it: sensor orientation
        conn.execute("UPDATE triplets SET raw_orientation = 1")
    assert main(["check", str(tmp_path / "ds")]) == 1
    out = capsys.readouterr().out
    assert f"{stem}: " in out and "turned 180°" in out  # the guard, on content
    assert "tagged orientation 3" in out and "re-import" in out  # the file check, on the tag


def test_a_phone_image_at_another_geometry_is_refused_with_what_was_measured(tmp_path, upright):
    src0, stem = upright
    phone = load_rgb(phone_image_path(src0, stem))
    cases = {"half": cv2.resize(phone, (160, 120), interpolation=cv2.INTER_AREA),
             "cropped": np.ascontiguousarray(phone[6:-6, 10:-10])}
    for name, image in cases.items():
        src = tmp_path / name / "src"
        (src / name).mkdir(parents=True)
        (src / name / "raw.dng").write_bytes((src0 / "raw" / f"{stem}.dng").read_bytes())
        (src / name / "target.jpg").write_bytes((src0 / "target" / f"{stem}.jpg").read_bytes())
        (src / name / "phone.jpg").write_bytes(jpeg_bytes(image))
        report = import_captures(src, tmp_path / name / "ds")
        (_, reason), = report.skipped
        if name == "half":
            assert "scaled by 0.50" in reason, reason
        else:
            import re

            assert "another crop of the sensor" in reason, reason
            x, y = (float(v) for v in re.search(r"from \(([-\d.]+), ([-\d.]+)\)", reason).groups())
            assert abs(x - 10) < 1.5 and abs(y - 6) < 1.5, reason  # measured on a half-resolution demosaic


def _isp_variants(phone: np.ndarray) -> dict[str, np.ndarray]:
    lab = cv2.cvtColor(phone, cv2.COLOR_RGB2LAB)
    lab[..., 0] = cv2.createCLAHE(clipLimit=4.0, tileGridSize=(4, 4)).apply(lab[..., 0])
    f = phone.astype(np.float32) / 255
    return {
        "local tone mapping": cv2.cvtColor(lab, cv2.COLOR_LAB2RGB),
        "strong global curve": (255 * f ** 0.35).astype(np.uint8),
        "heavy denoise": cv2.bilateralFilter(cv2.GaussianBlur(phone, (0, 0), 2.0), 9, 60, 9),
        "night brightening": np.clip(255 * (1 - np.exp(-4 * f)), 0, 255).astype(np.uint8),
    }


def test_legitimate_isp_processing_passes(upright):
    src, stem = upright
    packed = load_packed_raw(src / "raw" / f"{stem}.dng")
    phone = load_rgb(phone_image_path(src, stem))
    for what, image in _isp_variants(phone).items():
        verdict = capture_guard.guard(packed, image)
        assert verdict.refused is None and verdict.best == 1, (what, verdict)
    dark = dataclasses.replace(packed, data=packed.data * 0.02
                               + np.random.default_rng(0).normal(0, 0.002, packed.data.shape).astype(np.float32))
    assert capture_guard.guard(dark, phone).refused is None  # a dark raw the phone brightened


def test_a_flat_scene_imports_with_a_note(tmp_path, upright):
    src0, stem = upright
    packed = load_packed_raw(src0 / "raw" / f"{stem}.dng")
    rng = np.random.default_rng(0)
    flat = dataclasses.replace(packed, data=np.float32(0.2) + rng.normal(0, 0.01, packed.data.shape).astype(np.float32))
    grey = np.full((240, 320, 3), 128, np.uint8)
    verdict = capture_guard.guard(flat, grey)
    assert verdict.refused is None and "not verifiable" in verdict.note
    # through the import: a capture of a blank wall (raw and phone image agree on nothing)
    src = tmp_path / "src" / "wall"
    src.mkdir(parents=True)
    from helpers import write_dng

    write_dng(src / "raw.dng", 64, 48, seed=1)
    (src / "phone.jpg").write_bytes(jpeg_bytes(np.full((48, 64, 3), 120, np.uint8)))
    (src / "target.jpg").write_bytes(jpeg_bytes(np.full((72, 96, 3), 120, np.uint8)))
    report = import_captures(tmp_path / "src", tmp_path / "ds")
    assert report.added == ["wall"] and "not verifiable" in report.notes[0][1]
    with Manifest.open(tmp_path / "ds", readonly=True) as m:
        assert "not verifiable" in m.triplet("wall").capture.note
    assert "note wall" in report.summary()


def test_scores_single_out_the_true_orientation(upright):
    src, stem = upright
    packed = load_packed_raw(src / "raw" / f"{stem}.dng")
    phone = load_rgb(phone_image_path(src, stem))
    scores = capture_guard.orientation_scores(capture_guard.quick_demosaic(packed), capture_guard.luminance(phone))
    assert scores[1] > 0.8 and max(v for o, v in scores.items() if o != 1) < 0.3
