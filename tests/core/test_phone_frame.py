"""One phone frame per triplet: network input, phone image and aligned target show the same scene,
the same way up, in all 8 orientations, for an RGGB and a non-RGGB phone; patch records point at
the same content in all three; turned captures render upright."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from capture_helpers import GRBG_PHONE, RGGB_PHONE, agreement, raw_luminance, rgb_luminance, write_capture

from ispviewer.align.batch import align_dataset
from ispviewer.align.warp import warp_target_to_phone
from ispviewer.dataset.demo.capture_frames import CaptureFrame
from ispviewer.dataset.demo.groundtruth import load_groundtruth
from ispviewer.dataset.images import load_packed_raw, load_rgb
from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.orientation import ORIENTATIONS, orient
from ispviewer.dataset.records import AlignState, Status
from ispviewer.workflows.capture_import import import_captures

#: target orientation and phone storage per raw orientation: phone and target not always alike
TARGET_FOR = {1: 1, 2: 3, 3: 1, 4: 6, 5: 8, 6: 6, 7: 1, 8: 3}


def _frame(o: int, k: int) -> CaptureFrame:
    return CaptureFrame(raw_orientation=o, phone_orientation=o if (o + k) % 2 else 1,
                        target_orientation=TARGET_FOR[o], phone_format="heic" if (o + k) % 4 == 0 else "jpg",
                        crop_margin=4 if o in (2, 7) else 0)


@pytest.fixture(scope="module")
def turned_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("turned")
    src = root / "src"
    for k, phone in enumerate((RGGB_PHONE, GRBG_PHONE)):
        for o in ORIENTATIONS:
            write_capture(src, 10 * k + o, phone, _frame(o, k))
    report = import_captures(src, root / "ds")
    assert report.ok and len(report.added) == 16, report.summary()
    summary = align_dataset(root / "ds", workers=1, patch_size=64, log=lambda *a: None)
    assert summary.failed_count == 0
    return root


def _triplets(root):
    with Manifest.open(root / "ds", readonly=True) as m:
        return [(t, m.patches(t.id), m.resolve(t.files.raw), m.resolve(t.files.phone), m.resolve(t.files.target))
                for t in m.triplets()]


def test_every_orientation_is_recorded_and_aligned(turned_dataset):
    rows = _triplets(turned_dataset)
    seen = {(t.raw.orientation, t.raw.cfa_pattern) for t, *_ in rows}
    assert seen == {(o, c) for o in ORIENTATIONS for c in ("RGGB", "GRBG")}
    for t, *_ in rows:
        gt = load_groundtruth(turned_dataset / "src" / "groundtruth" / f"{t.name}.npz")
        assert (t.raw.width, t.raw.height) == gt.phone_size and t.align_state == AlignState.ALIGNED
        # the homography found in the phone frame is the ground truth's (within a few pixels at its corners)
        w, h = gt.phone_size
        corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], float).T
        in_target = np.linalg.inv(gt.homography) @ corners
        found = np.asarray(t.homography) @ (in_target / in_target[2])
        # (a homography only approximates the demo's parallax field: ~1-2 px at the corners in every orientation)
        assert np.abs(found[:2] / found[2] - corners[:2]).max() < 3.0, t.name
        assert t.capture.target_orientation == TARGET_FOR[t.raw.orientation]
        assert t.capture.phone_format == ("heif" if t.files.phone.endswith(".heic") else "jpeg")


def test_network_input_phone_image_and_aligned_target_agree(turned_dataset):
    for t, _, raw, phone, target in _triplets(turned_dataset):
        packed = load_packed_raw(raw, t.raw)
        assert packed.data.shape[:2] == (t.raw.height // 2, t.raw.width // 2)
        net = raw_luminance(packed)
        ph = rgb_luminance(load_rgb(phone))
        aligned = rgb_luminance(warp_target_to_phone(load_rgb(target), np.asarray(t.homography),
                                                     (t.raw.width, t.raw.height)))
        assert agreement(ph, net) > 0.7, t.name
        assert agreement(ph, aligned) > 0.6, t.name
        assert agreement(net, aligned) > 0.6, t.name
        # the measure tells the way up: the same input turned 180° does not agree
        assert agreement(ph, np.ascontiguousarray(orient(net, 3))) < 0.3, t.name


def test_patch_records_point_at_the_same_content_in_all_three(turned_dataset):
    for t, patches, raw, phone, target in _triplets(turned_dataset):
        packed = load_packed_raw(raw, t.raw)
        phone_rgb, target_rgb = load_rgb(phone), load_rgb(target)
        H = np.asarray(t.homography)
        oy, ox = packed.origin
        scores = []
        for p in [p for p in patches if p.status == Status.ACCEPTED and p.measurable]:
            half = p.size // 2
            i0, j0 = (p.y - oy) // 2, (p.x - ox) // 2  # as training cuts the network input
            if i0 < 0 or j0 < 0 or i0 + half > packed.data.shape[0] or j0 + half > packed.data.shape[1]:
                continue
            gy, gx = 2 * i0 + oy, 2 * j0 + ox
            if gy < 0 or gx < 0 or gy + p.size > t.raw.height or gx + p.size > t.raw.width:
                continue  # training skips these too (the packed grid starts half a tile outside)
            net = raw_luminance(dataclasses.replace(packed, data=packed.data[i0:i0 + half, j0:j0 + half]))
            ph = rgb_luminance(phone_rgb[gy:gy + p.size, gx:gx + p.size])
            tg = rgb_luminance(warp_target_to_phone(target_rgb, H, (t.raw.width, t.raw.height),
                                                    (gx + p.dx, gy + p.dy, p.size, p.size)))
            scores.append((agreement(ph, net, half), agreement(ph, tg, half)))
        assert len(scores) >= 3, t.name
        net_phone, phone_target = np.median(np.array(scores), axis=0)
        assert net_phone > 0.6 and phone_target > 0.6, (t.name, net_phone, phone_target)


@pytest.mark.parametrize("o", [3, 6])
def test_upside_down_and_portrait_render_upright(tmp_path, o, capsys):
    """Imported, aligned, and the network output (also `ispviewer infer`) shows the scene as the phone image."""
    from ispviewer.cli import main
    from ispviewer.model import load_checkpoint
    from ispviewer.model.commands import default_weights
    from ispviewer.model.inference import render_full

    stem = write_capture(tmp_path / "src", 1, RGGB_PHONE, CaptureFrame(raw_orientation=o, phone_orientation=o,
                                                                       target_orientation=o))
    assert import_captures(tmp_path / "src", tmp_path / "ds").ok
    assert align_dataset(tmp_path / "ds", workers=1, patch_size=64, log=lambda *a: None).failed_count == 0
    with Manifest.open(tmp_path / "ds", readonly=True) as m:
        t = m.triplet(stem)
        raw, phone = m.resolve(t.files.raw), m.resolve(t.files.phone)
    assert (t.raw.width, t.raw.height) == ((240, 320) if o == 6 else (320, 240))
    model, _ = load_checkpoint(default_weights())
    out = render_full(model, load_packed_raw(raw, t.raw))
    phone_gray = rgb_luminance(load_rgb(phone))
    assert out.shape[:2] == phone_gray.shape
    assert agreement(phone_gray, rgb_luminance((np.clip(out, 0, 1) * 255).astype(np.uint8))) > 0.7
    assert main(["infer", str(raw), "--out", str(tmp_path / "out.png")]) == 0
    written = cv2.cvtColor(cv2.imread(str(tmp_path / "out.png")), cv2.COLOR_BGR2RGB)
    assert written.shape[:2] == phone_gray.shape  # displayed orientation, as LibRaw's postprocess
    assert agreement(phone_gray, rgb_luminance(written)) > 0.7
