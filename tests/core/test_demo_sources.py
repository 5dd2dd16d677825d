"""The demo dataset generator: real-format files, determinism, and ground truth that matches the pixels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ispviewer.dataset.demo import GroundTruthError, build_demo_sources, load_groundtruth
from ispviewer.dataset.demo.geometry import DISP_MAX, apply_homography
from ispviewer.dataset.demo.local_motion import AMPLITUDE
from ispviewer.dataset.images import jpeg_size, load_packed_raw, load_rgb, read_raw_info

SIZE = (320, 240)
SEED = 3
ROLES = {"raw": "dng", "phone": "jpg", "target": "jpg", "groundtruth": "npz"}
EXPECTED_RAW = [  # (make, model, pattern, black, white), alternating
    ("Apple", "iPhone 6s", "RGGB", 528.0, 4095.0),
    ("Xiaomi", "Mi 9", "BGGR", 64.0, 1023.0),
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, list[str], list[tuple]]:
    out = tmp_path_factory.mktemp("demo_sources")
    calls: list[tuple] = []
    stems = build_demo_sources(out, count=2, size=SIZE, seed=SEED, progress=lambda *a: calls.append(a))
    return out, stems, calls


def _luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def _warp_target(target_luma: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    return cv2.remap(target_luma, xs.astype(np.float32), ys.astype(np.float32), cv2.INTER_LINEAR)


# --------------------------------------------------------------------------- files


def test_by_role_layout_and_progress(demo):
    out, stems, calls = demo
    assert stems == ["demo_000", "demo_001"]
    for stem in stems:
        for role, ext in ROLES.items():
            path = out / role / f"{stem}.{ext}"
            assert path.is_file() and path.stat().st_size > 0, path
    assert not list(out.rglob("*.part"))
    assert calls == [(0, 2, "demo_000"), (1, 2, "demo_001")]


def test_raws_read_back_with_their_pattern_and_levels(demo):
    out, stems, _ = demo
    for stem, (make, model, pattern, black, white) in zip(stems, EXPECTED_RAW):
        info = read_raw_info(out / "raw" / f"{stem}.dng")
        assert (info.make, info.model, info.cfa_pattern) == (make, model, pattern)
        assert (info.black_level, info.white_level) == (black, white)
        assert (info.width, info.height) == SIZE == jpeg_size(out / "phone" / f"{stem}.jpg")
        assert jpeg_size(out / "target" / f"{stem}.jpg") == (480, 360)
        gt = load_groundtruth(out / "groundtruth" / f"{stem}.npz")
        assert gt.cfa_pattern == pattern and (gt.make, gt.model) == (make, model)
        assert gt.phone_size == SIZE and gt.target_size == (480, 360)


def test_raw_holds_the_full_bit_depth_and_noise(demo):
    import rawpy

    out, stems, _ = demo
    for stem, (_, _, _, black, white) in zip(stems, EXPECTED_RAW):
        with rawpy.imread(str(out / "raw" / f"{stem}.dng")) as raw:
            data = raw.raw_image_visible.astype(np.float64)
        assert data.max() <= white and data.min() >= 0
        assert data.max() > black + 0.5 * (white - black)  # uses the range, not 8 bits of it
        assert (data < black).any()  # read noise goes below the black level, as on real sensors


def test_width_not_a_multiple_of_4_keeps_10_bit_data_in_16_bit_container(tmp_path):
    import rawpy

    stems = build_demo_sources(tmp_path, count=2, size=(162, 122), seed=1)
    info = read_raw_info(tmp_path / "raw" / f"{stems[1]}.dng")
    assert (info.cfa_pattern, info.width, info.height, info.white_level) == ("BGGR", 162, 122, 1023.0)
    with rawpy.imread(str(tmp_path / "raw" / f"{stems[1]}.dng")) as raw:
        assert 512 < raw.raw_image_visible.max() <= 1023
    assert load_packed_raw(tmp_path / "raw" / f"{stems[1]}.dng").data.shape == (61, 81, 4)


def test_packed_raw_matches_the_phone_jpeg(demo):
    out, stems, _ = demo
    for stem in stems:
        packed = load_packed_raw(out / "raw" / f"{stem}.dng")
        raw_luma = np.power(packed.data.mean(axis=2), 1 / 2.2)
        phone = _luma(load_rgb(out / "phone" / f"{stem}.jpg"))
        phone_half = cv2.resize(phone, raw_luma.shape[::-1], interpolation=cv2.INTER_AREA)
        blur = lambda a: cv2.GaussianBlur(a, (0, 0), 1.0)  # noqa: E731
        assert _ncc(blur(raw_luma), blur(phone_half)) > 0.9


def test_same_seed_same_bytes_other_seed_other_content(demo, tmp_path):
    out, _, _ = demo
    again = tmp_path / "again"
    build_demo_sources(again, count=1, size=SIZE, seed=SEED)  # fewer triplets: the first is unchanged
    for role, ext in ROLES.items():
        name = f"demo_000.{ext}"
        assert (again / role / name).read_bytes() == (out / role / name).read_bytes(), role
    other = tmp_path / "other"
    build_demo_sources(other, count=1, size=SIZE, seed=SEED + 1)
    for role, ext in ROLES.items():
        name = f"demo_000.{ext}"
        assert (other / role / name).read_bytes() != (out / role / name).read_bytes(), role


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="even"):
        build_demo_sources(tmp_path, count=1, size=(321, 240))
    with pytest.raises(ValueError, match="too small"):
        build_demo_sources(tmp_path, count=1, size=(32, 24))
    with pytest.raises(ValueError, match="count"):
        build_demo_sources(tmp_path, count=-1, size=SIZE)
    with pytest.raises(ValueError, match="seed"):
        build_demo_sources(tmp_path, count=1, size=SIZE, seed=-2)


# --------------------------------------------------------------------------- ground truth vs pixels


def _triplet_views(out, stem):
    """Ground truth, phone and target luminance, and the phone frame's pixel coordinates."""
    gt = load_groundtruth(out / "groundtruth" / f"{stem}.npz")
    phone = _luma(load_rgb(out / "phone" / f"{stem}.jpg"))
    target = _luma(load_rgb(out / "target" / f"{stem}.jpg"))
    ys, xs = np.mgrid[0:phone.shape[0], 0:phone.shape[1]].astype(np.float64)
    return gt, phone, target, xs, ys


def test_target_warped_by_the_ground_truth_matches_the_phone(demo):
    out, stems, _ = demo
    for stem in stems:
        gt, phone, target, xs, ys = _triplet_views(out, stem)
        aligned = _warp_target(target, *gt.true_target_position(xs, ys))
        blur = lambda a: cv2.GaussianBlur(a, (0, 0), 1.5)  # noqa: E731
        inner = (slice(4, -4), slice(4, -4))
        assert _ncc(blur(aligned)[inner], blur(phone)[inner]) > 0.95


def _shift(phone: np.ndarray, other: np.ndarray) -> np.ndarray:
    """s such that other(x) ~ phone(x - s), by phase correlation."""
    win = cv2.createHanningWindow(phone.shape[::-1], cv2.CV_64F)
    blur = lambda a: cv2.GaussianBlur(a, (0, 0), 1.0).astype(np.float64)  # noqa: E731
    (sx, sy), _ = cv2.phaseCorrelate(blur(phone), blur(other), win)
    return np.array([sx, sy])


def _clear_of_motions(gt, x: int, y: int, size: int) -> bool:
    """No local motion reaches into the square (x, y, size)."""
    for m in gt.motions():
        cx, cy = m.centre
        dx = max(x - cx, 0.0, cx - (x + size - 1))
        dy = max(y - cy, 0.0, cy - (y + size - 1))
        if np.hypot(dx, dy) <= m.reach:
            return False
    return True


def _residuals(phone, h_only, with_d, disp, x, y, ps):
    patch = (slice(y, y + ps), slice(x, x + ps))
    return (disp[patch].reshape(-1, 2).mean(0), _shift(phone[patch], h_only[patch]),
            _shift(phone[patch], with_d[patch]))


def test_homography_alone_leaves_the_displacement_as_residual(demo):
    """Where |D| is large, warping by H only leaves a shift of about D; adding D removes it: both
    for the smooth field (away from local motions) and inside a moved object."""
    out, stems, _ = demo
    ps = 48
    for stem in stems:
        gt, phone, target, xs, ys = _triplet_views(out, stem)
        h, w = phone.shape
        with_d = _warp_target(target, *gt.true_target_position(xs, ys))
        h_only = _warp_target(target, *apply_homography(np.linalg.inv(gt.homography), xs, ys))
        disp = gt.displacement(h, w)
        corners = [(x, y) for y in range(8, h - ps - 7, 8) for x in range(8, w - ps - 7, 8)
                   if _clear_of_motions(gt, x, y, ps)]
        means = [np.linalg.norm(disp[y:y + ps, x:x + ps].reshape(-1, 2).mean(0)) for x, y in corners]
        x, y = corners[int(np.argmax(means))]
        d_mean, residual_h, residual_d = _residuals(phone, h_only, with_d, disp, x, y, ps)
        assert np.linalg.norm(d_mean) > 1.2
        assert np.linalg.norm(residual_h) > 1.0 and np.linalg.norm(residual_h - d_mean) < 0.6, (residual_h, d_mean)
        assert np.linalg.norm(residual_d) < 0.35, residual_d

        # a moved object: the square inside its disc (where the soft edge has not begun) is shifted
        # by the object's amplitude (plus the smooth field), and the ground truth undoes it
        objects = [m for m in gt.motions() if m.kind == "object"]
        assert objects, "the fixture's triplets each have a moved object"
        m = max(objects, key=lambda o: o.amplitude)
        side = min(48, int((m.radius - m.edge / 2) * np.sqrt(2)) // 2 * 2)
        x, y = int(round(m.centre[0])) - side // 2, int(round(m.centre[1])) - side // 2
        d_mean, residual_h, residual_d = _residuals(phone, h_only, with_d, disp, x, y, side)
        own = m.amplitude * np.array([np.cos(m.angle), np.sin(m.angle)])
        assert np.linalg.norm(d_mean - own) < DISP_MAX + 1e-3  # the object's shift, plus the smooth field
        assert np.linalg.norm(residual_h - d_mean) < 0.6, (residual_h, d_mean)
        assert np.linalg.norm(residual_d) < 0.35, residual_d


def test_groundtruth_queries_agree_with_their_definition(demo):
    out, stems, _ = demo
    gt = load_groundtruth(out / "groundtruth" / f"{stems[0]}.npz")
    assert gt.homography.shape == (3, 3) and gt.homography.dtype == np.float64
    w, h = gt.phone_size
    disp = gt.displacement(h, w)
    assert disp.shape == (h, w, 2) and disp.dtype == np.float32
    step = gt.disp_step
    np.testing.assert_allclose(disp[::step, ::step], gt.disp_grid[: -(-h // step), : -(-w // step)], atol=1e-6)
    # the smooth field plus local motions, which do not overlap (and peak at most 3% above their amplitude)
    assert np.hypot(disp[..., 0], disp[..., 1]).max() <= DISP_MAX + 1.03 * AMPLITUDE[1] + 1e-5

    xs, ys = np.array([0.0, 100.0, 319.0]), np.array([0.0, 57.0, 239.0])
    xt, yt = gt.true_target_position(xs, ys)
    dx, dy = disp[ys.astype(int), xs.astype(int)].T
    ex, ey = apply_homography(np.linalg.inv(gt.homography), xs + dx, ys + dy)
    np.testing.assert_allclose(np.c_[xt, yt], np.c_[ex, ey], atol=1e-6)

    mags = np.hypot(disp[..., 0], disp[..., 1])
    clear = [(x, y) for y in range(0, h - 31, 8) for x in range(0, w - 31, 8) if _clear_of_motions(gt, x, y, 32)]
    x0, y0 = max(clear, key=lambda c: float(mags[c[1]:c[1] + 32, c[0]:c[0] + 32].mean()))
    perfect_h = gt.true_misalignment(x0, y0, 32, gt.homography, 0.0, 0.0)
    assert perfect_h == pytest.approx(float(mags[y0:y0 + 32, x0:x0 + 32].mean()), abs=1e-5)
    assert perfect_h == pytest.approx(gt.mean_displacement(x0, y0, 32), abs=1e-6)
    # the patch's own mean shift removes most of it
    c = disp[y0:y0 + 32, x0:x0 + 32].reshape(-1, 2).mean(0)
    assert gt.true_misalignment(x0, y0, 32, gt.homography, *c) < 0.5 * perfect_h
    # a homography off by a translation t, corrected by a patch offset of t, is as good as the truth
    t = np.array([3.0, -2.0])
    shifted = np.array([[1, 0, t[0]], [0, 1, t[1]], [0, 0, 1]]) @ gt.homography
    assert gt.true_misalignment(x0, y0, 32, shifted, *t) == pytest.approx(perfect_h, abs=1e-6)
    assert gt.true_misalignment(x0, y0, 32, shifted, 0.0, 0.0) > 2.0


def test_groundtruth_errors_name_the_file(tmp_path):
    missing = tmp_path / "none.npz"
    with pytest.raises(GroundTruthError, match="does not exist") as err:
        load_groundtruth(missing)
    assert str(missing) in str(err.value)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(GroundTruthError, match="unreadable"):
        load_groundtruth(junk)
    other = tmp_path / "other.npz"
    np.savez(other, homography=np.eye(3))
    with pytest.raises(GroundTruthError, match="missing"):
        load_groundtruth(other)


# --------------------------------------------------------------------------- content


def test_target_has_texture_nearly_everywhere(demo):
    """The aligner needs texture: almost every 32-px block of the target has fine detail."""
    out, stems, _ = demo
    for stem in stems:
        target = _luma(load_rgb(out / "target" / f"{stem}.jpg"))
        detail = target - cv2.GaussianBlur(target, (0, 0), 2.0)
        h, w = detail.shape
        blocks = detail[: h // 32 * 32, : w // 32 * 32].reshape(h // 32, 32, w // 32, 32).std(axis=(1, 3))
        assert (blocks > 2.0).mean() > 0.9


def test_demo_sources_import_as_a_dataset(demo, tmp_path):
    from ispviewer.dataset.importer import import_sources
    from ispviewer.dataset.manifest import Manifest

    out, stems, _ = demo
    report = import_sources(out, tmp_path / "dataset")
    assert report.ok and sorted(report.added) == stems
    with Manifest.open(tmp_path / "dataset", readonly=True) as manifest:
        models = {t.name: (t.phone_model, t.raw.cfa_pattern) for t in manifest.triplets()}
    assert models == {"demo_000": ("Apple iPhone 6s", "RGGB"), "demo_001": ("Xiaomi Mi 9", "BGGR")}
