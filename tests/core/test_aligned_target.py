"""The aligned target file (the viewer's display cache): written by the aligner, phone-frame size,
the same picture as the warp, atomic, 4:4:4 chroma, and never a reason for an alignment to fail."""

import struct

import numpy as np
import pytest

from ispviewer.align.aligned_target import (
    AlignedTargetError,
    aligned_target_relpath,
    save_aligned_target,
    write_aligned_target,
)
from ispviewer.align.batch import AlignJob, align_job
from ispviewer.align.warp import warp_target_to_phone
from ispviewer.dataset.demo import build_demo_sources
from ispviewer.dataset.images import jpeg_size, load_rgb
from ispviewer.dataset.importer import import_sources
from ispviewer.dataset.manifest import Manifest


@pytest.fixture(scope="module")
def demo_sources(tmp_path_factory):
    src = tmp_path_factory.mktemp("demo") / "sources"
    build_demo_sources(src, count=1, size=(480, 360), seed=5)
    return src


@pytest.fixture
def dataset(demo_sources, tmp_path):
    assert import_sources(demo_sources, tmp_path / "ds").ok
    return tmp_path / "ds"


def _job(root, t, aligned):
    return AlignJob(str(root), t.name, t.files.phone, t.files.target, f"heatmaps/{t.name}.npz", 64, 1.2,
                aligned=aligned)


def _sampling_factors(path) -> list[int]:
    """The (h << 4 | v) sampling byte of each component in the JPEG's SOF marker."""
    data = path.read_bytes()
    pos = 2
    while pos < len(data):
        marker, length = data[pos + 1], struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            count = data[pos + 9]
            return [data[pos + 11 + 3 * k] for k in range(count)]
        pos += 2 + length
    raise AssertionError("no SOF marker")


def test_align_job_writes_the_aligned_target_in_the_phone_frame(dataset):
    with Manifest.open(dataset) as m:
        t = m.triplets()[0]
    rel = aligned_target_relpath(t.name)
    name, result, error = align_job(_job(dataset, t, rel))
    assert error is None and name == t.name and result.aligned_target == rel == f"aligned/{t.name}.jpg"
    path = dataset / rel
    phone = load_rgb(dataset / t.files.phone)
    assert jpeg_size(path) == (phone.shape[1], phone.shape[0]) == (480, 360)
    cached = load_rgb(path)
    warped = warp_target_to_phone(load_rgb(dataset / t.files.target), np.array(result.homography), (480, 360))
    diff = np.abs(cached.astype(np.int16) - warped.astype(np.int16))
    # JPEG q95 of an equivalent anti-aliased warp: the luma is warped from the aligner's own
    # area-averaged luminance, the chroma at half resolution; the demo photos carry sensor noise,
    # so two area-averaging grids differ by ~1 grey level (the very same warp, encoded, by ~1.3)
    assert diff.mean() < 2.5
    assert np.abs((cached.astype(np.float64) - warped).reshape(-1, 3).mean(axis=0)).max() < 0.5  # no colour cast
    shifted = np.abs(cached[:, 1:].astype(np.int16) - warped[:, :-1].astype(np.int16))
    assert shifted.mean() > 2 * diff.mean()  # a 1 px error would show: the tolerance is meaningful
    assert _sampling_factors(path) == [0x11, 0x11, 0x11]  # 4:4:4, no chroma subsampling
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    with Manifest.open(dataset) as m:
        m.store_alignment(t.id, result)
        assert m.triplet(t.name).aligned_target == rel


def test_an_unwritable_aligned_target_does_not_fail_the_alignment(dataset):
    (dataset / "aligned").write_text("a file where the folder should be")
    with Manifest.open(dataset) as m:
        t = m.triplets()[0]
    _, result, error = align_job(_job(dataset, t, aligned_target_relpath(t.name)))
    assert error is None and result is not None and result.aligned_target is None
    assert len(result.patches) > 0


def test_job_without_an_aligned_path_writes_none(dataset):
    with Manifest.open(dataset) as m:
        t = m.triplets()[0]
    _, result, error = align_job(_job(dataset, t, None))
    assert error is None and result.aligned_target is None and not (dataset / "aligned").exists()


def test_rewriting_replaces_the_file_atomically(tmp_path):
    rng = np.random.default_rng(0)
    target = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    H = np.array([[0.5, 0, 0], [0, 0.5, 0], [0, 0, 1.0]])
    path = tmp_path / "aligned" / "t.jpg"
    first = write_aligned_target(path, target, H, (60, 45))
    assert first.shape == (45, 60, 3) and jpeg_size(path) == (60, 45)
    inode = path.stat().st_ino
    save_aligned_target(path, np.zeros((45, 60, 3), np.uint8))
    assert path.stat().st_ino != inode  # a new file renamed over the old one, never written through
    assert load_rgb(path).max() <= 2
    assert sorted(p.name for p in path.parent.iterdir()) == ["t.jpg"]
    with pytest.raises(AlignedTargetError, match="cannot write"):
        save_aligned_target(path / "below-a-file.jpg", first)
    with pytest.raises(ValueError, match="uint8 RGB"):
        save_aligned_target(path, first.astype(np.float32))


@pytest.mark.parametrize("phone_size", [(240, 180), (239, 177)])  # an odd frame too
def test_render_from_the_aligners_luminance_is_the_warp(phone_size):
    """The batch's renderer (luma from the aligner's own area-averaged luminance, chroma at half
    resolution) draws the warp's picture: no shift, no colour cast, within resampling noise."""
    import cv2

    from ispviewer.align.aligned_target import render_aligned_target, render_aligned_target_from
    from ispviewer.align.warp import prefilter_target, target_scale

    rng = np.random.default_rng(7)
    # like a photo: fine detail in the luma, colour that varies more slowly (yet strongly)
    luma = cv2.GaussianBlur(rng.normal(128, 60, (300, 400)).astype(np.float32), (0, 0), 1.2)
    chroma = cv2.GaussianBlur(rng.normal(128, 400, (300, 400, 2)).astype(np.float32), (0, 0), 6.0)
    ycc = np.clip(np.dstack([luma, chroma]), 0, 255).astype(np.uint8)
    target_rgb = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)
    H = np.array([[0.62, 0.01, -3.5], [-0.008, 0.63, 2.25], [1e-5, -2e-5, 1.0]])  # target -> phone
    luminance = prefilter_target(cv2.cvtColor(target_rgb, cv2.COLOR_RGB2GRAY), target_scale(H, phone_size))
    fast = cv2.cvtColor(render_aligned_target_from(cv2.cvtColor(target_rgb, cv2.COLOR_RGB2BGR), luminance, H,
                                                   phone_size), cv2.COLOR_BGR2RGB)
    warped = render_aligned_target(target_rgb, H, phone_size)
    assert fast.shape == warped.shape == (phone_size[1], phone_size[0], 3)
    inner = (slice(4, -4), slice(4, -4))  # the border blends with black in both, a little differently
    diff = np.abs(fast[inner].astype(np.int16) - warped[inner])
    assert diff.mean() < 1.5
    assert np.abs((fast[inner].astype(np.float64) - warped[inner]).reshape(-1, 3).mean(axis=0)).max() < 0.5
    shifted = np.abs(fast[inner][:, 1:].astype(np.int16) - warped[inner][:, :-1])
    assert shifted.mean() > 2 * diff.mean()  # a 1 px error would show
    grey = [cv2.cvtColor(np.ascontiguousarray(x[inner]), cv2.COLOR_RGB2GRAY).astype(np.float32) for x in (fast, warped)]
    (sx, sy), _ = cv2.phaseCorrelate(grey[0], grey[1])
    assert max(abs(sx), abs(sy)) < 0.05  # registered to a small fraction of a pixel
