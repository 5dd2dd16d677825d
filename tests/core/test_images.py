import numpy as np
import pytest

from helpers import write_dng, write_jpeg
from ispviewer.dataset.images import ImageReadError, jpeg_oriented_size, load_packed_raw, load_rgb, read_raw_info


@pytest.mark.parametrize("cfa", ["RGGB", "BGGR", "GRBG", "GBRG"])
def test_packing_puts_red_first_whatever_the_cfa(tmp_path, cfa):
    data = write_dng(tmp_path / "r.dng", 64, 48, cfa, bits=12, black=64)
    packed = load_packed_raw(tmp_path / "r.dng")
    assert packed.info.cfa_pattern == cfa
    ry, rx = divmod(cfa.index("R"), 2)
    oy, ox = packed.origin
    assert (oy, ox) == (-ry, -rx)
    norm = (data.astype(np.float32) - 64) / (4095 - 64)
    h, w = packed.data.shape[:2]
    # plane k of packed pixel (i, j) is raw (2i + oy + dy, 2j + ox + dx), (dy, dx) = divmod(k, 2): R, Gr, Gb, B.
    # Every plane, every interior pixel (the outermost row/column may be reflect-padded).
    rows, cols = np.arange(1, h - 1)[:, None], np.arange(1, w - 1)[None, :]
    for k, colour in enumerate("RGGB"):
        dy, dx = divmod(k, 2)
        assert cfa[2 * ((oy + dy) % 2) + (ox + dx) % 2] == colour, f"plane {k} is not {colour} in a {cfa} raw"
        expected = norm[2 * rows + oy + dy, 2 * cols + ox + dx]
        assert np.allclose(packed.data[1:h - 1, 1:w - 1, k], expected, atol=1e-6), f"plane {k} ({colour})"
    assert not np.allclose(packed.data[..., 1], packed.data[..., 2])  # two distinct greens (random data)


def test_real_dng(real_data):
    packed = load_packed_raw(real_data / "blackmagic_pocket4k.dng")
    assert packed.info.cfa_pattern == "RGGB" and packed.origin == (0, 0)
    # the phone frame is the DNG's default crop (16, 8, 4096x2160) of its 4128x2176 visible area
    assert packed.info.black_level == 512 and (packed.info.width, packed.info.height) == (4096, 2160)
    assert packed.info.crop == (16, 8, 4096, 2160) and packed.data.shape == (1080, 2048, 4)
    mean = packed.data.reshape(-1, 4).mean(0)
    assert mean.min() > 0.01 and mean.max() < 0.9
    assert abs(mean[1] - mean[2]) < 0.02  # both greens agree: the planes are in the right order


def test_real_kodak_grbg(real_data):
    info = read_raw_info(real_data / "kodak_dc50.kdc")
    assert info.cfa_pattern == "GRBG" and (info.width, info.height) == (768, 512)
    packed = load_packed_raw(real_data / "kodak_dc50.kdc")
    assert packed.origin == (0, -1) and packed.data.shape == (256, 384, 4)
    m = packed.data.reshape(-1, 4).mean(0)
    assert abs(m[1] - m[2]) < 0.03


def test_real_exif_orientation(real_data):
    upright = load_rgb(real_data / "exif_orientation_1.jpg")
    rotated = load_rgb(real_data / "exif_orientation_6.jpg")
    assert upright.shape == rotated.shape == (450, 600, 3)
    assert jpeg_oriented_size(real_data / "exif_orientation_6.jpg") == (600, 450)
    assert rotated.flags.c_contiguous


def test_bad_files(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty"):
        load_rgb(empty)
    write_jpeg(tmp_path / "ok.jpg", 64, 48)
    truncated = tmp_path / "trunc.jpg"
    truncated.write_bytes((tmp_path / "ok.jpg").read_bytes()[:700])
    with pytest.raises(ImageReadError, match="truncated"):
        load_rgb(truncated)
    notjpeg = tmp_path / "text.jpg"
    notjpeg.write_text("hello world" * 10)
    with pytest.raises(ImageReadError, match="not a JPEG"):
        load_rgb(notjpeg)
    garbage = tmp_path / "garbage.dng"
    garbage.write_bytes(b"\x00\x01garbage" * 1000)
    with pytest.raises(ImageReadError, match="garbage.dng"):
        read_raw_info(garbage)
    with pytest.raises(ImageReadError, match="does not exist"):
        read_raw_info(tmp_path / "missing.dng")


def test_gigantic_header_refused_before_decoding(tmp_path):
    write_jpeg(tmp_path / "ok.jpg", 64, 48)
    data = bytearray((tmp_path / "ok.jpg").read_bytes())
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = (60000).to_bytes(2, "big") + (60000).to_bytes(2, "big")
    (tmp_path / "huge.jpg").write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match="pixel limit"):
        load_rgb(tmp_path / "huge.jpg")
