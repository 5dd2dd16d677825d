"""Qt-free image I/O: phone raw -> packed RGGB, JPEG -> RGB with EXIF orientation.

Every failure is an :class:`ImageReadError` that names the file and the reason, so that the CLI
and the GUI can report it without a traceback.
"""

from __future__ import annotations

import os
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ispviewer.dataset.records import RawInfo

#: Largest image (pixels) any loader decodes; checked from the header, before decoding.
MAX_PIXELS = int(os.environ.get("ISPVIEWER_MAX_PIXELS", 120_000_000))

RAW_EXTENSIONS = frozenset(
    ".dng .nef .nrw .arw .srf .sr2 .cr2 .cr3 .crw .raf .orf .rw2 .pef .srw .x3f .3fr .fff .iiq "
    ".mos .mef .mrw .erf .kdc .dcr .k25 .raw .rwl .gpr".split()
)
JPEG_EXTENSIONS = frozenset({".jpg", ".jpeg"})


class ImageReadError(Exception):
    """A file could not be read as the image it should be."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class PackedRaw:
    """A Bayer raw packed to canonical RGGB planes.

    ``data[i, j] = (R, G_on_R_row, G_on_B_row, B)`` normalized to [0, 1] with the file's own black
    and white levels.  ``origin`` is the phone-frame position of the R sample of packed pixel
    (0, 0): (0, 0) for an RGGB sensor, (-1, 0), (0, -1) or (-1, -1) when the sensor's pattern
    starts elsewhere (the missing first row/column is filled by its same-colour neighbour).
    """

    data: np.ndarray  # float32, (H/2, W/2, 4)
    info: RawInfo
    origin: tuple[int, int]  # (oy, ox)
    #: As-shot white-balance multipliers (R, G, B), green = 1; (1, 1, 1) when the file has none.
    wb_gains: tuple[float, float, float] = (1.0, 1.0, 1.0)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise ImageReadError(path, "file does not exist")
    if path.is_dir():
        raise ImageReadError(path, "is a folder, not a file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImageReadError(path, f"cannot stat file ({exc.strerror})") from None
    if size == 0:
        raise ImageReadError(path, "file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise ImageReadError(path, "file is not readable (permission denied)")


# --------------------------------------------------------------------------- raw


def _open_raw(path: Path):
    import rawpy

    _check_file(path)
    try:
        raw = rawpy.imread(str(path))
    except rawpy.LibRawFileUnsupportedError:
        raise ImageReadError(path, "not a raw format LibRaw can read") from None
    except rawpy.LibRawIOError:
        raise ImageReadError(path, "raw file is truncated or unreadable") from None
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        raise ImageReadError(path, f"corrupt raw file ({type(exc).__name__}: {exc})") from None
    return raw


def _bayer_pattern(path: Path, raw) -> str:
    """The 2x2 CFA as a 4-letter string, or an error for anything that is not a Bayer mosaic."""
    import rawpy

    if raw.raw_type != rawpy.RawType.Flat:
        raise ImageReadError(path, "not a mosaiced sensor raw (linear/demosaiced data, e.g. a film scan)")
    try:
        pattern = raw.raw_pattern
    except NotImplementedError as exc:  # rawpy: a CFA description it cannot express (corrupt or exotic)
        raise ImageReadError(path, f"unsupported colour filter array ({exc})") from None
    if pattern is None or pattern.shape != (2, 2):
        shape = "none" if pattern is None else f"{pattern.shape[0]}x{pattern.shape[1]}"
        raise ImageReadError(path, f"unsupported colour filter array ({shape}, e.g. X-Trans); "
                                   "only 2x2 Bayer is supported")
    desc = raw.color_desc.decode("ascii", "replace")
    letters = "".join(desc[int(i)] for i in pattern.flatten())
    if sorted(letters) != ["B", "G", "G", "R"]:
        raise ImageReadError(path, f"unsupported colour filter array {letters!r}; only R/G/G/B Bayer is supported")
    return letters


def _raw_info(path: Path, raw) -> RawInfo:
    import rawpy

    sizes = raw.sizes  # the header only: refuse a gigantic claim before LibRaw allocates and unpacks
    if sizes.raw_width * sizes.raw_height > MAX_PIXELS:
        raise ImageReadError(path, f"raw header claims {sizes.raw_width}x{sizes.raw_height}, above the "
                                   f"{MAX_PIXELS:,}-pixel limit")
    try:  # the pixel data is unpacked from here on: truncated or corrupt data fails here
        pattern = _bayer_pattern(path, raw)
        h, w = raw.raw_image_visible.shape
    except rawpy.LibRawError as exc:
        raise ImageReadError(path, f"raw pixel data is truncated or corrupt ({type(exc).__name__})") from None
    if h * w > MAX_PIXELS:
        raise ImageReadError(path, f"raw is {w}x{h}, above the {MAX_PIXELS:,}-pixel limit")
    if h < 2 or w < 2:
        raise ImageReadError(path, f"raw is {w}x{h}, too small")
    make, model = _raw_make_model(path)
    black = float(np.mean(raw.black_level_per_channel))
    white = float(raw.white_level)
    if white <= black:
        raise ImageReadError(path, f"white level {white:g} is not above black level {black:g}")
    return RawInfo(width=w, height=h, make=make, model=model, cfa_pattern=pattern,
                   black_level=black, white_level=white)


def _raw_make_model(path: Path) -> tuple[str, str]:
    """Camera make and model from the file's TIFF/EXIF tags (rawpy does not expose them)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 20)
    except OSError:
        return "", ""
    return _tiff_make_model(head)


def _tiff_make_model(buf: bytes) -> tuple[str, str]:
    if len(buf) < 8 or buf[:2] not in (b"II", b"MM"):
        return "", ""
    end = "<" if buf[:2] == b"II" else ">"
    try:
        (offset,) = struct.unpack(end + "I", buf[4:8])
        (count,) = struct.unpack(end + "H", buf[offset:offset + 2])
    except struct.error:
        return "", ""
    found: dict[int, str] = {}
    for k in range(min(count, 512)):
        entry = buf[offset + 2 + 12 * k: offset + 14 + 12 * k]
        if len(entry) < 12:
            break
        tag, typ, n = struct.unpack(end + "HHI", entry[:8])
        if tag in (0x010F, 0x0110, 0xC614) and typ == 2:
            if n <= 4:
                data = entry[8:8 + n]
            else:
                (ptr,) = struct.unpack(end + "I", entry[8:12])
                data = buf[ptr:ptr + n]
            found[tag] = data.split(b"\0", 1)[0].decode("latin-1").strip()
    make = found.get(0x010F, "")
    model = found.get(0x0110, "") or found.get(0xC614, "")
    if make and model.lower().startswith(make.lower()):
        model = model[len(make):].strip()
    return make, model


def read_raw_info(path: str | os.PathLike) -> RawInfo:
    """Size, make/model, CFA pattern and levels of a raw, without unpacking the pixels."""
    path = Path(path)
    with _open_raw(path) as raw:
        return _raw_info(path, raw)


def load_packed_raw(path: str | os.PathLike) -> PackedRaw:
    """Load a Bayer raw as float32 RGGB planes (H/2, W/2, 4) normalized to [0, 1]."""
    path = Path(path)
    with _open_raw(path) as raw:
        info = _raw_info(path, raw)
        try:
            mosaic = raw.raw_image_visible.astype(np.float32)
        except Exception as exc:  # noqa: BLE001 - LibRaw's unpack errors (truncated data) have no common base
            raise ImageReadError(path, f"raw pixel data is truncated or corrupt ({exc})") from None
        colors = raw.raw_colors_visible[:2, :2]
        black_per_colour = np.asarray(raw.black_level_per_channel, dtype=np.float32)
        wb_gains = _as_shot_gains(raw)
    h, w = mosaic.shape
    h2, w2 = h - h % 2, w - w % 2
    mosaic = mosaic[:h2, :w2]
    ry, rx = (int(v) for v in np.argwhere(np.array(list(info.cfa_pattern)).reshape(2, 2) == "R")[0])
    if ry or rx:
        # Reflect-padding by one keeps the Bayer phase (row -1 has the colours of row 1).
        mosaic = np.pad(mosaic, ((ry, ry), (rx, rx)), mode="reflect")[:h2, :w2]
        colors = np.roll(colors, (ry, rx), axis=(0, 1))
    black = black_per_colour[colors]  # (2, 2) black level of each tile position
    scale = np.float32(1.0 / (info.white_level - black.mean()))
    planes = np.empty((h2 // 2, w2 // 2, 4), np.float32)
    for c, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        plane = mosaic[dy::2, dx::2]
        np.subtract(plane, black[dy, dx], out=planes[..., c])
    planes *= scale
    np.clip(planes, 0.0, 1.0, out=planes)
    return PackedRaw(data=planes, info=info, origin=(-ry, -rx), wb_gains=wb_gains)


def _as_shot_gains(raw) -> tuple[float, float, float]:
    """The camera's as-shot white balance as (R, G, B) multipliers with G = 1.

    LibRaw reports (R, G, B, G2) multipliers (G2 = 0 when it equals G); files without a usable
    white balance (zeros, NaN, absurd ratios) give (1, 1, 1), i.e. no white balance.
    """
    try:
        r, g, b = (float(v) for v in list(raw.camera_whitebalance)[:3])
    except Exception:  # noqa: BLE001 - a missing tag is not an error, just no white balance
        return (1.0, 1.0, 1.0)
    if not all(np.isfinite((r, g, b))) or min(r, g, b) <= 0:
        return (1.0, 1.0, 1.0)
    r, b = r / g, b / g
    if not (0.1 <= r <= 10 and 0.1 <= b <= 10):
        return (1.0, 1.0, 1.0)
    return (r, 1.0, b)


# --------------------------------------------------------------------------- JPEG


def _jpeg_header_size(path: Path, head: bytes) -> tuple[int, int]:
    """(width, height) from the JPEG's SOF marker, or an error for anything that is not a JPEG."""
    if head[:3] != b"\xff\xd8\xff":
        raise ImageReadError(path, "not a JPEG file (bad signature)")
    pos = 2
    while pos + 4 <= len(head):
        if head[pos] != 0xFF:
            raise ImageReadError(path, "corrupt JPEG header (marker expected)")
        marker = head[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", head[pos + 2:pos + 4])
        if length < 2:
            raise ImageReadError(path, "corrupt JPEG header (bad segment length)")
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if pos + 9 > len(head):
                break
            height, width = struct.unpack(">HH", head[pos + 5:pos + 9])
            if width == 0 or height == 0:
                raise ImageReadError(path, f"JPEG header claims an empty image ({width}x{height})")
            return width, height
        if marker == 0xDA:
            break
        pos += 2 + length
    raise ImageReadError(path, "JPEG header has no frame size (truncated or corrupt)")


def jpeg_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of a JPEG as stored (before EXIF orientation), read from its header only."""
    path = Path(path)
    _check_file(path)
    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
    return _jpeg_header_size(path, head)


def jpeg_oriented_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of a JPEG as displayed, i.e. after its EXIF orientation."""
    w, h = jpeg_size(path)
    return (h, w) if _exif_orientation(Path(path)) in (5, 6, 7, 8) else (w, h)


def verify_jpeg(path: str | os.PathLike) -> tuple[int, int]:
    """Displayed (width, height) of a JPEG after checking its header, size limit and end marker."""
    path = Path(path)
    width, height = jpeg_oriented_size(path)
    if width * height > MAX_PIXELS:
        raise ImageReadError(path, f"JPEG header claims {width}x{height}, above the {MAX_PIXELS:,}-pixel limit")
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 64))
        if b"\xff\xd9" not in fh.read():
            raise ImageReadError(path, "JPEG is truncated (no end-of-image marker)")
    return width, height


def _exif_orientation(path: Path) -> int:
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return 1
    pos = 2
    while pos + 4 <= len(head) and head[pos] == 0xFF:
        marker = head[pos + 1]
        (length,) = struct.unpack(">H", head[pos + 2:pos + 4])
        if marker == 0xE1 and head[pos + 4:pos + 10] == b"Exif\0\0":
            tiff = head[pos + 10:pos + 2 + length]
            end = "<" if tiff[:2] == b"II" else ">"
            try:
                (ifd,) = struct.unpack(end + "I", tiff[4:8])
                (count,) = struct.unpack(end + "H", tiff[ifd:ifd + 2])
                for k in range(count):
                    tag, _typ, _n, value = struct.unpack(end + "HHIH", tiff[ifd + 2 + 12 * k: ifd + 12 + 12 * k])
                    if tag == 0x0112:
                        return value if 1 <= value <= 8 else 1
            except struct.error:
                return 1
            return 1
        if marker == 0xDA:
            break
        pos += 2 + length
    return 1


def load_rgb(path: str | os.PathLike, reduce: int = 1) -> np.ndarray:
    """Decode a JPEG to a C-contiguous uint8 RGB array (H, W, 3), EXIF orientation applied.

    ``reduce`` in {1, 2, 4, 8} decodes at 1/reduce size using the JPEG's own DCT scaling (fast).
    """
    path = Path(path)
    _check_file(path)
    with open(path, "rb") as fh:
        data = fh.read()
    width, height = _jpeg_header_size(path, data[: 1 << 20])
    if width * height > MAX_PIXELS:
        raise ImageReadError(path, f"JPEG header claims {width}x{height}, above the {MAX_PIXELS:,}-pixel limit")
    if b"\xff\xd9" not in data[-64:]:
        raise ImageReadError(path, "JPEG is truncated (no end-of-image marker)")
    flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2,
             4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}[reduce]
    with warnings.catch_warnings():
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if bgr is None:
        raise ImageReadError(path, "JPEG data is corrupt and could not be decoded")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(rgb)
