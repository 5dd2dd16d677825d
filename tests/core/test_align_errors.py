"""Bad input raises a clear AlignmentError (the batch records it per triplet), never a traceback."""

from __future__ import annotations

import numpy as np
import pytest

from ispviewer.align import AlignmentError, AlignParams, align_triplet
from ispviewer.align.homography import check_homography
from ispviewer.align.synthetic import make_pair


@pytest.fixture(scope="module")
def pair():
    return make_pair((640, 480), seed=4)


def test_blank_phone_image_has_no_sift_matches(pair):
    blank = np.full_like(pair.phone, 128)
    with pytest.raises(AlignmentError, match="SIFT"):
        align_triplet(blank, pair.target)


def test_blank_target_has_no_sift_matches(pair):
    with pytest.raises(AlignmentError, match="SIFT"):
        align_triplet(pair.phone, np.zeros_like(pair.target))


def _photo_scene(name: str, size: tuple[int, int], seed: int) -> np.ndarray:
    """One photo upscaled plus non-repeating fine texture: no content shared with other photos."""
    import cv2

    from ispviewer.align.synthetic import photo_asset

    base = cv2.resize(photo_asset(name), size, interpolation=cv2.INTER_CUBIC)
    noise = np.random.default_rng(seed).normal(size=(size[1], size[0])).astype(np.float32)
    grain = cv2.GaussianBlur(noise, (0, 0), 1.5)
    return np.clip((base + 0.15 * grain[..., None]) * 255, 0, 255).astype(np.uint8)


def test_unrelated_images_are_refused():
    phone = _photo_scene("astronaut.png", (640, 480), 1)
    target = _photo_scene("coffee.png", (960, 720), 2)
    with pytest.raises(AlignmentError) as info:
        align_triplet(phone, target)
    assert "SIFT" in info.value.reason or "implausible" in info.value.reason


def test_upside_down_target_is_refused(pair):
    with pytest.raises(AlignmentError, match="rotated"):
        align_triplet(pair.phone, np.ascontiguousarray(pair.target[::-1, ::-1]))


def test_target_of_another_part_of_the_scene_has_no_overlap():
    scene = _photo_scene("chelsea.png", (1600, 600), 3)
    phone, target = scene[:, :640].copy(), scene[:, 800:].copy()
    with pytest.raises(AlignmentError):
        align_triplet(phone, target)


def test_phone_smaller_than_a_patch(pair):
    with pytest.raises(AlignmentError, match="smaller than one"):
        align_triplet(pair.phone[:100, :100].copy(), pair.target, AlignParams(patch_size=128))


def test_wrong_image_shape_or_type_is_a_value_error(pair):
    with pytest.raises(ValueError):
        align_triplet(pair.phone[..., :2].copy(), pair.target)
    with pytest.raises(ValueError, match="uint8"):
        align_triplet(pair.phone.astype(np.float32), pair.target)


PHONE, TARGET = (800, 600), (1200, 900)


def scaled(s: float, tx: float = 0.0, ty: float = 0.0) -> np.ndarray:
    return np.array([[s, 0, tx], [0, s, ty], [0, 0, 1.0]])


@pytest.mark.parametrize("H, reason", [
    (np.zeros((3, 3)), "degenerate"),
    (np.full((3, 3), np.nan), "degenerate"),
    (scaled(0.7, 5000, 0), "no overlap"),
    (scaled(0.7, 700, 0), "too little overlap"),
    (np.array([[-0.7, 0, 820], [0, 0.7, -10], [0, 0, 1.0]]), "mirrored"),
    (scaled(2.5, -400, -300), "target too small"),
    (np.array([[0.7, 0.6, -200], [0, 0.7, -10], [0, 0, 1.0]]), "shear"),
    (np.array([[0.7, 0, -20], [0, 0.7, -15], [0.00105, 0, 1.0]]), "behind the target camera"),
    (np.array([[0.7, 0, -20], [0, 0.7, -15], [0.00035, 0, 1.0]]), "stretch"),
    (scaled(0.7) @ np.array([[0, -1, 900], [1, 0, 0], [0, 0, 1.0]]), "rotated -?90 degrees"),
])
def test_implausible_homographies(H, reason):
    with pytest.raises(AlignmentError, match=reason):
        check_homography(H, PHONE, TARGET)


def test_a_plausible_homography_passes():
    coverage = check_homography(scaled(0.72, -30, -25), PHONE, TARGET)
    assert coverage == pytest.approx(1.0)


def test_error_message_is_the_reason():
    err = AlignmentError("no overlap: the target does not cover any of the phone frame")
    assert str(err) == err.reason
