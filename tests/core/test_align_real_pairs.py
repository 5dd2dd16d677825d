"""Real two-camera pairs nobody here made (../shared/data/real/pairs, see its README) as regression tests.

What is knowable without ground truth: the homography is found and plausible; on the planar
postcards (City100: an iPhone X and a Nikon D5500 shooting one print) one homography is the exact
global model, so hardly any patch may be rejected; the same images give the same result.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from ispviewer.align import AlignParams, align_triplet, auto_status
from ispviewer.align.errors import AlignmentError
from ispviewer.dataset.records import Status

_ROOT = Path(__file__).resolve().parents[2]
#: ../shared/data/real beside the repository (or $ISPVIEWER_REAL_DATA, e.g. for a git worktree elsewhere)
PAIRS = Path(os.environ.get("ISPVIEWER_REAL_DATA") or _ROOT.parent / "shared" / "data" / "real") / "pairs"
POSTCARDS = ("city100_061", "city100_064", "city100_067", "city100_072", "city100_078")
PARAMS = AlignParams(patch_size=64)  # small frames (840x600): 64-px patches give ~90 per pair

pytestmark = pytest.mark.skipif(not PAIRS.is_dir(), reason=f"real pairs not found at {PAIRS}")


def _load(name: str) -> tuple[np.ndarray, np.ndarray]:
    from ispviewer.dataset.images import load_rgb

    return load_rgb(PAIRS / name / "phone.jpg"), load_rgb(PAIRS / name / "target.jpg")


def _rejected_share(result) -> float:
    return sum(auto_status(p)[0] == Status.REJECTED for p in result.patches) / len(result.patches)


@pytest.mark.parametrize("name", POSTCARDS)
def test_planar_postcards_align_with_few_rejections(name):
    phone, target = _load(name)
    result = align_triplet(phone, target, PARAMS)
    assert result.coverage > 0.95
    assert len(result.patches) >= 60
    assert _rejected_share(result) <= 0.02
    measured = [p.misalignment_px for p in result.patches if p.measurable]
    assert len(measured) >= 15 and np.median(measured) < 0.5


def test_a_postcard_shot_upside_down_is_refused_clearly_then_aligns_turned():
    phone, target = _load("city100_085")  # the Nikon frame is rotated 180 degrees against the iPhone's
    with pytest.raises(AlignmentError, match="rotated"):
        align_triplet(phone, target, PARAMS)
    result = align_triplet(phone, np.ascontiguousarray(target[::-1, ::-1]), PARAMS)
    assert _rejected_share(result) <= 0.02


@pytest.mark.parametrize("name", ["canon_hdr", "burst_uw"])
def test_handheld_pairs_find_their_homography(name):
    """Handheld, seconds apart (HDR on/off; a burst's first and last frame): not planar, but one
    homography explains most of the frame."""
    phone, target = _load(name)
    result = align_triplet(phone, target, PARAMS)
    assert result.coverage > 0.9 and result.sift_inliers >= 100
    assert _rejected_share(result) <= 0.05
    assert np.median([p.misalignment_px for p in result.patches if p.measurable]) < 0.5


def test_results_are_deterministic():
    phone, target = _load("city100_072")
    a, b = (align_triplet(phone, target, PARAMS) for _ in range(2))
    assert np.array_equal(a.homography, b.homography)
    assert a.patches == b.patches
    assert np.array_equal(a.heatmap, b.heatmap, equal_nan=True)


def test_a_real_pair_as_a_dataset_triplet(tmp_path):
    """Import a postcard as a triplet (its raw synthesised from the phone JPEG) and align the dataset."""
    import shutil

    from ispviewer.align.batch import align_dataset
    from ispviewer.dataset.demo.cameras import IPHONE_6S, draw_capture_settings
    from ispviewer.dataset.demo.dng_writer import dng_bytes
    from ispviewer.dataset.demo.unprocess import unprocess_to_raw
    from ispviewer.dataset.importer import import_sources
    from ispviewer.dataset.manifest import Manifest

    phone, _ = _load("city100_061")
    capture = tmp_path / "src" / "city100_061"
    capture.mkdir(parents=True)
    shutil.copyfile(PAIRS / "city100_061" / "phone.jpg", capture / "phone.jpg")
    shutil.copyfile(PAIRS / "city100_061" / "target.jpg", capture / "target.jpg")
    rng = np.random.default_rng(0)
    settings = draw_capture_settings(IPHONE_6S, rng)
    h, w = (v // 2 * 2 for v in phone.shape[:2])
    raw = unprocess_to_raw(phone[:h, :w].astype(np.float32) / 255, IPHONE_6S, settings, rng)
    (capture / "raw.dng").write_bytes(dng_bytes(raw, IPHONE_6S, settings))
    assert import_sources(tmp_path / "src", tmp_path / "ds").ok
    summary = align_dataset(tmp_path / "ds", workers=1, patch_size=64, log=lambda *a: None)
    assert not summary.failed, summary.failed
    with Manifest.open(tmp_path / "ds") as m:
        patches = m.patches()
    assert len(patches) >= 60
    assert sum(p.status == Status.REJECTED for p in patches) <= 0.02 * len(patches)
    assert all(p.reason for p in patches if p.status != Status.ACCEPTED)
