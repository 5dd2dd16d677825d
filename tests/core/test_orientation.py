"""The eight orientations: the same turn as LibRaw's postprocess, OpenCV's EXIF handling and
pillow-heif's transforms; raws keep each sample's colour through a turn and a crop."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from ispviewer.dataset import orientation as ori
from ispviewer.dataset.demo.cameras import CaptureSettings, PhoneModel
from ispviewer.dataset.demo.capture_frames import CaptureFrame, jpeg_with_orientation, stored_image, stored_mosaic
from ispviewer.dataset.demo.dng_writer import dng_bytes
from ispviewer.dataset.heif import heif_bytes
from ispviewer.dataset.images import (
    ImageReadError,
    image_orientation,
    load_packed_raw,
    load_rgb,
    raw_frames,
    read_raw_info,
    verify_image,
)

SETTINGS = CaptureSettings(red_gain=1.0, blue_gain=1.0, shot_noise=0.0, read_noise=0.0)


def _phone(cfa: str) -> PhoneModel:
    return PhoneModel(make="T", model="P", cfa=cfa, bits=12, black=64, filter_overlap=((1, 0, 0), (0, 1, 0), (0, 0, 1)),
                      shot_noise=(0, 0), red_gain=(1, 1), blue_gain=(1, 1))


def _marker(h=40, w=64) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[:16, :24] = 255  # a wide block in the top-left corner tells all 8 turns apart
    img[-6:, w // 2:] = 128
    return img


@pytest.mark.parametrize("o", ori.ORIENTATIONS)
def test_orient_is_what_libraw_postprocess_shows(tmp_path, o):
    import rawpy

    mosaic = np.full((40, 64), 100, np.uint16)
    mosaic[:16, :24] = 4000
    path = tmp_path / "o.dng"
    path.write_bytes(dng_bytes(mosaic, _phone("RGGB"), SETTINGS, orientation=o))
    with rawpy.imread(str(path)) as raw:
        shown = raw.postprocess(half_size=True, no_auto_bright=True, gamma=(1, 1), output_bps=8,
                                user_wb=[1, 1, 1, 1]).mean(axis=2) > 50
        assert ori.FLIP_TO_ORIENTATION[raw.sizes.flip] == o
    expected = ori.orient(mosaic[::2, ::2] > 1000, o)
    assert shown.shape == expected.shape and np.array_equal(shown, expected)


@pytest.mark.parametrize("o", ori.ORIENTATIONS)
def test_jpeg_and_heif_orientation_round_trip(tmp_path, o):
    img = _marker()
    jpg = tmp_path / "a.jpg"
    jpg.write_bytes(jpeg_with_orientation(cv2.imencode(".jpg", stored_image(img, o))[1].tobytes(), o))
    heic = tmp_path / "a.heic"
    heic.write_bytes(heif_bytes(img, 90, o))
    for path in (jpg, heic):
        shown = load_rgb(path)
        assert shown.shape == img.shape, path
        assert np.abs(shown.astype(int) - img).mean() < 3, path
        assert verify_image(path) == (64, 40)
        assert load_rgb(path, reduce=2).shape == (20, 32, 3)
    assert image_orientation(jpg) == o and image_orientation(heic) == o


def test_group_laws():
    a = np.arange(12).reshape(3, 4)
    for o in ori.ORIENTATIONS:
        assert np.array_equal(ori.unorient(ori.orient(a, o), o), a)
        pts = np.array([[x, y, 1.0] for y in range(3) for x in range(4)]).T
        moved = ori.matrix(o, (4, 3)) @ pts
        turned = ori.orient(a, o)
        for (x, y, _), (u, v, _) in zip(pts.T, moved.T):
            assert turned[int(v), int(u)] == a[int(y), int(x)]
        for p in ori.ORIENTATIONS:
            assert np.array_equal(ori.orient(ori.orient(a, o), p), ori.orient(a, ori.compose(o, p)))


@pytest.mark.parametrize("cfa,o,margin", list(itertools.product(("RGGB", "BGGR", "GRBG", "GBRG"), ori.ORIENTATIONS,
                                                                  (0, 4))))
def test_packed_raw_in_the_phone_frame_keeps_every_colour(tmp_path, cfa, o, margin):
    """The packed planes of a turned, cropped DNG are exactly the phone-frame mosaic's colours."""
    h, w = 24, 36
    shown = np.random.default_rng(1).integers(64, 4000, (h, w)).astype(np.uint16)
    stored, stored_cfa, origin = stored_mosaic(shown, cfa, CaptureFrame(raw_orientation=o, crop_margin=margin))
    crop = None if origin is None else (*origin, stored.shape[1] - 2 * margin, stored.shape[0] - 2 * margin)
    path = tmp_path / "x.dng"
    path.write_bytes(dng_bytes(stored, _phone(cfa), SETTINGS, orientation=o, cfa=stored_cfa, default_crop=crop))
    info = read_raw_info(path)
    assert (info.width, info.height, info.cfa_pattern, info.orientation) == (w, h, cfa, o)
    packed = load_packed_raw(path)
    ry, rx = -packed.origin[0], -packed.origin[1]
    assert cfa[2 * ry + rx] == "R"
    grid = np.pad(shown.astype(np.float32), ((ry, ry), (rx, rx)), mode="reflect")[:h, :w]
    for c, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        expected = np.clip((grid[dy::2, dx::2] - 64) / (4095 - 64), 0, 1)
        np.testing.assert_allclose(packed.data[..., c], expected, atol=1e-5)
    if margin:  # the whole visible area is the other frame the raw offers
        frames = raw_frames(path)
        whole = ori.oriented_size((stored.shape[1], stored.shape[0]), o)
        assert [(f.width, f.height) for f in frames] == [(w, h), whole]
        assert load_packed_raw(path, (frames[1].width, frames[1].height)).data.shape[:2] == (
            frames[1].height // 2, frames[1].width // 2)


def test_real_dng_default_crop(real_data):
    path = real_data / "blackmagic_pocket4k.dng"
    frames = raw_frames(path)
    assert [(f.width, f.height, f.crop) for f in frames] == [(4096, 2160, (16, 8, 4096, 2160)), (4128, 2176, None)]
    assert frames[0].cfa_pattern == "RGGB"  # an even crop origin keeps the phase
    assert load_packed_raw(path).data.shape == (1080, 2048, 4)
    assert load_packed_raw(path, (4128, 2176)).data.shape == (1088, 2064, 4)
    with pytest.raises(ImageReadError, match="no 4000x2000 phone frame"):
        load_packed_raw(path, (4000, 2000))  # never another frame than the one asked for


@pytest.mark.parametrize("o", ori.ORIENTATIONS)
def test_real_grbg_raw_turned_keeps_its_colours(real_data, o, tmp_path):
    """The Kodak GRBG mosaic, rewritten as a DNG turned by ``o``, packs to the same planes turned."""
    import rawpy

    with rawpy.imread(str(real_data / "kodak_dc50.kdc")) as raw:
        mosaic = raw.raw_image_visible.copy()
        pattern = "".join(raw.color_desc.decode()[int(i)] for i in raw.raw_pattern.flatten())
    assert pattern == "GRBG"
    h, w = (s - s % 2 for s in mosaic.shape)
    mosaic = np.clip(mosaic[:h, :w], 64, 4000).astype(np.uint16)
    stored, stored_cfa, _ = stored_mosaic(mosaic, pattern, CaptureFrame(raw_orientation=o))
    path = tmp_path / "k.dng"
    path.write_bytes(dng_bytes(stored, _phone(pattern), SETTINGS, orientation=o, cfa=stored_cfa))
    upright = tmp_path / "u.dng"
    upright.write_bytes(dng_bytes(mosaic, _phone(pattern), SETTINGS))
    a, b = load_packed_raw(path), load_packed_raw(upright)
    assert a.info.cfa_pattern == "GRBG" and a.origin == b.origin
    np.testing.assert_array_equal(a.data, b.data)


def test_real_exif_orientation_jpeg(real_data):
    from ispviewer.dataset.images import jpeg_size

    six = real_data / "exif_orientation_6.jpg"
    w, h = jpeg_size(six)
    assert image_orientation(six) == 6 and verify_image(six) == (h, w)
    assert load_rgb(six).shape[:2] == (w, h)
    assert image_orientation(real_data / "exif_orientation_1.jpg") == 1


@pytest.mark.parametrize("o", ori.ORIENTATIONS)
def test_orient_image_is_orient_as_a_copy(o):
    rng = np.random.default_rng(o)
    for a in (rng.integers(0, 255, (5, 7, 3), np.uint8), rng.integers(0, 255, (5, 7), np.uint8)):
        turned = ori.orient_image(a, o)
        assert np.array_equal(turned, ori.orient(a, o)) and turned.flags.c_contiguous


@pytest.mark.parametrize("o", ori.ORIENTATIONS)
def test_jpeg_decode_is_opencvs_bit_for_bit(tmp_path, o):
    """The fast full-size decode gives OpenCV's pixels and OpenCV's EXIF turn, in either channel order."""
    from ispviewer.dataset.images import load_bgr

    img = cv2.GaussianBlur(np.random.default_rng(1).integers(0, 255, (45, 70, 3), np.uint8), (5, 5), 0)
    img[:16, :24] = 255
    jpg = tmp_path / "a.jpg"
    jpg.write_bytes(jpeg_with_orientation(cv2.imencode(".jpg", stored_image(img, o))[1].tobytes(), o))
    opencv = cv2.imread(str(jpg), cv2.IMREAD_COLOR)  # applies the EXIF orientation
    bgr = load_bgr(jpg)
    assert bgr.shape == opencv.shape == img.shape and np.array_equal(bgr, opencv)
    rgb = load_rgb(jpg)
    assert np.array_equal(rgb, opencv[..., ::-1]) and rgb.flags.c_contiguous and bgr.flags.c_contiguous
