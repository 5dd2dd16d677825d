"""Qt-free image I/O: phone raw -> packed RGGB, any phone or target image -> RGB with its orientation.

JPEG specifics live in :mod:`ispviewer.dataset.jpeg_files`, HEIC/HEIF in :mod:`.heif`, what every
loader shares in :mod:`ispviewer.dataset.image_files`; the names callers need are all here.

Every failure is an :class:`ImageReadError` that names the file and the reason, so that the CLI
and the GUI can report it without a traceback.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ispviewer.dataset.image_files import (  # noqa: F401 - re-exported: callers import them from here
    HEIF_EXTENSIONS,
    JPEG_EXTENSIONS,
    MAX_PIXELS,
    PHONE_IMAGE_EXTENSIONS,
    RAW_EXTENSIONS,
    ImageReadError,
)
from ispviewer.dataset.image_files import check_file as _check_file
from ispviewer.dataset.jpeg_files import decode_jpeg, exif_orientation, jpeg_oriented_size, jpeg_size, verify_jpeg  # noqa: F401 - re-exported
from ispviewer.dataset.orientation import FLIP_TO_ORIENTATION, check_code, orient, oriented_size
from ispviewer.dataset.records import RawInfo


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
    return decode_jpeg(path, reduce, "RGB")


def load_bgr(path: str | os.PathLike, reduce: int = 1) -> np.ndarray:
    """:func:`load_rgb` with the channels in OpenCV's order (B, G, R): a JPEG as its decoder gives it,
    without a conversion pass over the pixels (for code that hands the image to OpenCV)."""
    path = Path(path)
    if is_heif(path):
        return np.ascontiguousarray(cv2.cvtColor(load_rgb(path, reduce), cv2.COLOR_RGB2BGR))
    return decode_jpeg(path, reduce)


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
    return exif_orientation(path)
