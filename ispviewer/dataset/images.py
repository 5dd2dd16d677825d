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
import simplejpeg

from ispviewer.dataset.orientation import FLIP_TO_ORIENTATION, check_code, orient, orient_image, oriented_size
from ispviewer.dataset.records import RawInfo

#: Largest image (pixels) any loader decodes; checked from the header, before decoding.
MAX_PIXELS = int(os.environ.get("ISPVIEWER_MAX_PIXELS", 120_000_000))

RAW_EXTENSIONS = frozenset(
    ".dng .nef .nrw .arw .srf .sr2 .cr2 .cr3 .crw .raf .orf .rw2 .pef .srw .x3f .3fr .fff .iiq "
    ".mos .mef .mrw .erf .kdc .dcr .k25 .raw .rwl .gpr".split()
)
JPEG_EXTENSIONS = frozenset({".jpg", ".jpeg"})
HEIF_EXTENSIONS = frozenset({".heic", ".heif"})
#: What a phone image may be: JPEG, or HEIC/HEIF as iPhones write by default.
PHONE_IMAGE_EXTENSIONS = JPEG_EXTENSIONS | HEIF_EXTENSIONS


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


def _bayer_pattern(path: Path, raw) -> None:
    """Refuse anything that is not a 2x2 R/G/G/B Bayer mosaic."""
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
    letters = _letters(raw, pattern)
    if sorted(letters) != ["B", "G", "G", "R"]:
        raise ImageReadError(path, f"unsupported colour filter array {letters!r}; only R/G/G/B Bayer is supported")


def _letters(raw, colors: np.ndarray) -> str:
    desc = raw.color_desc.decode("ascii", "replace")
    return "".join(desc[int(i)] for i in np.asarray(colors)[:2, :2].flatten())


def _file_crop(raw, visible: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The file's default crop (DNG DefaultCropOrigin/Size, as LibRaw reports it in ``sizes.crop_*``)
    in visible-area pixels (x, y, w, h); None when it has none or it covers the whole visible area."""
    s = raw.sizes
    cw, ch = int(getattr(s, "crop_width", 0) or 0), int(getattr(s, "crop_height", 0) or 0)
    if cw <= 0 or ch <= 0:
        return None
    x, y = int(s.crop_left_margin) - int(s.left_margin), int(s.crop_top_margin) - int(s.top_margin)
    w, h = visible
    if x < 0 or y < 0 or x + cw > w or y + ch > h or (x, y, cw, ch) == (0, 0, w, h) or cw < 2 or ch < 2:
        return None
    return (x, y, cw, ch)


#: ``crop`` argument of :func:`read_raw_info`: the file's own default crop (if any).
FILE_CROP = "file"


def _raw_info(path: Path, raw, crop=FILE_CROP, orientation: int | None = None) -> RawInfo:
    import rawpy

    sizes = raw.sizes  # the header only: refuse a gigantic claim before LibRaw allocates and unpacks
    if sizes.raw_width * sizes.raw_height > MAX_PIXELS:
        raise ImageReadError(path, f"raw header claims {sizes.raw_width}x{sizes.raw_height}, above the "
                                   f"{MAX_PIXELS:,}-pixel limit")
    try:  # the pixel data is unpacked from here on: truncated or corrupt data fails here
        _bayer_pattern(path, raw)
        h, w = raw.raw_image_visible.shape
        colors = raw.raw_colors_visible
    except rawpy.LibRawError as exc:
        raise ImageReadError(path, f"raw pixel data is truncated or corrupt ({type(exc).__name__})") from None
    if h * w > MAX_PIXELS:
        raise ImageReadError(path, f"raw is {w}x{h}, above the {MAX_PIXELS:,}-pixel limit")
    if h < 2 or w < 2:
        raise ImageReadError(path, f"raw is {w}x{h}, too small")
    if crop == FILE_CROP:
        crop = _file_crop(raw, (w, h))
    elif crop is not None:
        crop = tuple(int(v) for v in crop)
        cx, cy, cw, ch = crop
        if cx < 0 or cy < 0 or cw < 2 or ch < 2 or cx + cw > w or cy + ch > h:
            raise ImageReadError(path, f"crop {crop} lies outside the raw's {w}x{h} visible area")
        if crop == (0, 0, w, h):
            crop = None
    orientation = orientation_of(raw) if orientation is None else check_code(orientation)
    if crop is not None:
        cx, cy, w, h = crop
        colors = colors[cy:cy + 2, cx:cx + 2]
    pattern = _letters(raw, _tile_after(colors, (w, h), orientation))
    make, model = _raw_make_model(path)
    black = float(np.mean(raw.black_level_per_channel))
    white = float(raw.white_level)
    if white <= black:
        raise ImageReadError(path, f"white level {white:g} is not above black level {black:g}")
    fw, fh = oriented_size((w, h), orientation)
    return RawInfo(width=fw, height=fh, make=make, model=model, cfa_pattern=pattern,
                   black_level=black, white_level=white, orientation=orientation, crop=crop)


def _tile_after(colors: np.ndarray, size: tuple[int, int], o: int) -> np.ndarray:
    """The top-left 2x2 colours of a (w, h) mosaic whose first 2x2 colours are ``colors`` after
    orientation ``o``: the Bayer tile repeats, so a tile of the right parity stands for the mosaic."""
    w, h = size
    tile = np.asarray(colors)[:2, :2]
    full = np.tile(tile, (2, 2))
    # a stand-in mosaic of the same parities: the corner that becomes the top-left keeps its colours
    sub = full[: 2 + h % 2, : 2 + w % 2]
    return orient(sub, o)[:2, :2]


def orientation_of(raw) -> int:
    """The raw's orientation as an EXIF code (from LibRaw's ``sizes.flip``; unknown values: 1)."""
    return FLIP_TO_ORIENTATION.get(int(raw.sizes.flip), 1)


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


def read_raw_info(path: str | os.PathLike, crop=FILE_CROP) -> RawInfo:
    """Phone-frame size, make/model, CFA pattern, levels, orientation and crop of a raw.

    ``crop``: :data:`FILE_CROP` (the file's own default crop, if it has one), None (the whole
    visible area) or (x, y, w, h) in visible-area pixels.  The orientation is always the file's.
    """
    path = Path(path)
    with _open_raw(path) as raw:
        return _raw_info(path, raw, crop)


def raw_frames(path: str | os.PathLike) -> list[RawInfo]:
    """The phone frames a raw offers: its default crop (if any) first, then its whole visible area."""
    path = Path(path)
    with _open_raw(path) as raw:
        first = _raw_info(path, raw, FILE_CROP)
        return [first] if first.crop is None else [first, _raw_info(path, raw, None)]


def load_packed_raw(path: str | os.PathLike, frame: RawInfo | tuple[int, int] | None = None) -> PackedRaw:
    """Load a Bayer raw in its phone frame as float32 RGGB planes (H/2, W/2, 4) in [0, 1].

    The phone frame is the raw's visible area, cropped, then turned by its orientation (what
    LibRaw's ``postprocess`` shows).  ``frame`` chooses the crop: a :class:`RawInfo` from the
    manifest (its ``crop`` and ``orientation`` are used), a (width, height) that one of
    :func:`raw_frames` has (any other size is an :class:`ImageReadError`), or None for the file's
    default crop.  Each sample keeps its colour:
    the CFA pattern is read on the turned mosaic, and packing starts on an R sample.
    """
    path = Path(path)
    with _open_raw(path) as raw:
        if isinstance(frame, RawInfo):
            info = _raw_info(path, raw, frame.crop, frame.orientation)
        else:
            info = _raw_info(path, raw, FILE_CROP)
            if frame is not None and (info.width, info.height) != tuple(frame):
                offered = [info] if info.crop is None else [info, _raw_info(path, raw, None)]
                match = [f for f in offered if (f.width, f.height) == tuple(frame)]
                if not match:  # never hand out another frame than the one asked for
                    sizes = " or ".join(f"{f.width}x{f.height}" for f in offered)
                    raise ImageReadError(path, f"the raw has no {frame[0]}x{frame[1]} phone frame (it offers {sizes})")
                info = match[0]
        try:
            mosaic = raw.raw_image_visible
            colors = raw.raw_colors_visible
        except Exception as exc:  # noqa: BLE001 - LibRaw's unpack errors (truncated data) have no common base
            raise ImageReadError(path, f"raw pixel data is truncated or corrupt ({exc})") from None
        if info.crop is not None:
            cx, cy, cw, ch = info.crop
            mosaic, colors = mosaic[cy:cy + ch, cx:cx + cw], colors[cy:cy + ch, cx:cx + cw]
        mosaic = orient(mosaic, info.orientation).astype(np.float32)
        colors = np.ascontiguousarray(orient(colors, info.orientation)[:2, :2])
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
    return _orientation_in(head)


def _orientation_in(head: bytes) -> int:
    """The EXIF orientation code in a JPEG's first bytes (its APP1 segment), 1 when there is none."""
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
    HEIC/HEIF files (by content, whatever their name) are decoded by :mod:`.heif`, oriented too.
    """
    path = Path(path)
    if is_heif(path):
        _check_file(path)
        from ispviewer.dataset.heif import load_heif_rgb

        return load_heif_rgb(path, reduce)
    return _decode_jpeg(path, reduce, "RGB")


def load_bgr(path: str | os.PathLike, reduce: int = 1) -> np.ndarray:
    """:func:`load_rgb` with the channels in OpenCV's order (B, G, R): a JPEG as its decoder gives it,
    without a conversion pass over the pixels (for code that hands the image to OpenCV)."""
    path = Path(path)
    if is_heif(path):
        return np.ascontiguousarray(cv2.cvtColor(load_rgb(path, reduce), cv2.COLOR_RGB2BGR))
    return _decode_jpeg(path, reduce)


def _decode_jpeg(path: Path, reduce: int, channels: str = "BGR") -> np.ndarray:
    """A JPEG decoded to uint8 (H, W, 3) in ``channels``' order ("BGR" or "RGB"), EXIF orientation
    applied, checked as :func:`load_rgb` says.

    Full-size decodes go through simplejpeg (libjpeg-turbo's TurboJPEG API): the same pixels as
    OpenCV's decoder, bit for bit, straight into either channel order, and into a NumPy array,
    whose large allocations take transparent huge pages: in a plain process (the viewer, the CLI)
    a 24 MP Nikon JPEG decodes in 0.12 s instead of 0.17 s and a 12 MP phone JPEG in 0.08 s
    instead of 0.10 s (OpenCV's fresh buffer faults in page by page); in a batch worker, whose
    heap is already faulted in (:mod:`ispviewer.align.worker_memory`), 0.08-0.11 s vs 0.11 s and
    about the same.  What TurboJPEG cannot decode (CMYK, a header it rejects) and reduced
    decodes go through OpenCV.
    """
    _check_file(path)
    with open(path, "rb") as fh:
        data = fh.read()
    width, height = _jpeg_header_size(path, data[: 1 << 20])
    if width * height > MAX_PIXELS:
        raise ImageReadError(path, f"JPEG header claims {width}x{height}, above the {MAX_PIXELS:,}-pixel limit")
    if b"\xff\xd9" not in data[-64:]:
        raise ImageReadError(path, "JPEG is truncated (no end-of-image marker)")
    if reduce == 1:
        try:  # strict=False: what libjpeg only warns about (a damaged scan) decodes as OpenCV decodes it
            image = simplejpeg.decode_jpeg(data, channels, strict=False)
        except ValueError:
            pass  # OpenCV decodes it or says it is corrupt
        else:
            return orient_image(image, _orientation_in(data[:1 << 16]))
    flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2,
             4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}[reduce]
    with warnings.catch_warnings():
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flags)  # applies the EXIF orientation itself
    if bgr is None:
        raise ImageReadError(path, "JPEG data is corrupt and could not be decoded")
    return bgr if channels == "BGR" else np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


# --------------------------------------------------------------------------- any phone image


def is_heif(path: str | os.PathLike) -> bool:
    """True when the file is an ISO-BMFF HEIF/HEIC/AVIF image (``ftyp`` box first)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    return len(head) == 12 and head[4:8] == b"ftyp"


def verify_image(path: str | os.PathLike) -> tuple[int, int]:
    """Displayed (width, height) of a phone or target image (JPEG or HEIC/HEIF), after checking it."""
    path = Path(path)
    _check_file(path)
    if is_heif(path):
        from ispviewer.dataset.heif import verify_heif

        return verify_heif(path)
    return verify_jpeg(path)


def image_orientation(path: str | os.PathLike) -> int:
    """The orientation a phone or target image is stored with (EXIF code; HEIF: its EXIF copy)."""
    path = Path(path)
    if is_heif(path):
        from ispviewer.dataset.heif import heif_exif_orientation

        return heif_exif_orientation(path)
    return _exif_orientation(path)
