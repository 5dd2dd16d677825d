"""The patch-tile cache: every patch's phone square and matched aligned-target square, each a small JPEG.

The gallery shows dozens of patches from dozens of triplets at once.  Cutting them from the full
images means decoding a 12 MP phone JPEG and a phone-frame aligned target per triplet; with this
file it reads a few kilobytes per tile instead.  The aligner writes it next to the heatmap, from
the phone image and aligned target it already has in memory, named by the alignment's version token
(``tiles/<name>.<token>.tiles``, see :mod:`ispviewer.dataset.alignment_files`).

Layout (little-endian)::

    header  8s magic b"ISPTILES", u16 format version, u16 JPEG quality, u32 entry count
    index   per entry: i32 x, y, size, target x, target y; u32 phone length, target length,
            phone CRC-32, target CRC-32
    data    per entry, in index order: the phone JPEG then the target JPEG

(x, y) is the patch's corner in the phone frame and (target x, target y) the corner of its square
in the aligned target (:func:`target_origin`).  Each crop is its own 4:4:4 JPEG, decodable alone;
the file is written atomically.  A truncated or damaged file raises :class:`PatchTilesError`
naming the file and the reason (the gallery then cuts tiles from the images and says so).

Qt-free; OpenCV encodes and decodes.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from ispviewer.dataset.atomic import atomic_file

MAGIC = b"ISPTILES"
FORMAT_VERSION = 1
#: Crops are compared at 1:1 in the gallery: q95 4:4:4 (as the aligned target) keeps real photos within
#: ~1 level of the source (q90: ~1.5, and twice that on per-pixel sensor noise), for ~25% more bytes.
JPEG_QUALITY = 95
_HEADER = struct.Struct("<8sHHI")
_ENTRY = np.dtype([("x", "<i4"), ("y", "<i4"), ("size", "<i4"), ("tx", "<i4"), ("ty", "<i4"),
                   ("phone_len", "<u4"), ("target_len", "<u4"), ("phone_crc", "<u4"), ("target_crc", "<u4")])
#: More entries than any phone frame holds patches: a count beyond it is a damaged header.
_MAX_ENTRIES = 4_000_000
_SAMPLING_444 = getattr(cv2, "IMWRITE_JPEG_SAMPLING_FACTOR_444", 0x111111)

#: (x, y, size) of a patch in the phone frame: how tiles are looked up.
TileKey = tuple[int, int, int]


class PatchTilesError(Exception):
    """A patch-tile cache file cannot be read (truncated, damaged, or of a newer format)."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class TileSpec:
    """Where one patch's two squares are: phone corner (x, y), side ``size``, aligned-target corner."""

    x: int
    y: int
    size: int
    tx: int
    ty: int

    @property
    def key(self) -> TileKey:
        return (self.x, self.y, self.size)


def target_origin(x: int, y: int, dx: float, dy: float) -> tuple[int, int]:
    """The corner of a patch's matched square in the aligned target (the nearest pixel)."""
    return int(round(x + dx)), int(round(y + dy))


def spec_of(patch) -> TileSpec:
    """The squares of a patch (anything with x, y, size, dx, dy: a measurement or a manifest record)."""
    return TileSpec(int(patch.x), int(patch.y), int(patch.size), *target_origin(patch.x, patch.y, patch.dx, patch.dy))


def crop(image: np.ndarray, x: int, y: int, size: int) -> np.ndarray:
    """The ``size`` square at (x, y) of an RGB ``image``, black where it leaves the image."""
    out = np.zeros((size, size, 3), np.uint8)
    h, w = image.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + size, w), min(y + size, h)
    if x1 > x0 and y1 > y0:
        out[y0 - y:y1 - y, x0 - x:x1 - x] = image[y0:y1, x0:x1, :3]
    return out


def _square(image: np.ndarray, x: int, y: int, size: int) -> np.ndarray:
    """:func:`crop` without the copy where the square lies inside the image (the encoder reads a view)."""
    h, w = image.shape[:2]
    if x >= 0 and y >= 0 and x + size <= w and y + size <= h and image.shape[2] == 3:
        return image[y:y + size, x:x + size]
    return crop(image, x, y, size)


def encode_jpeg_444(image: np.ndarray, quality: int, channels: str = "rgb") -> bytes:
    """JPEG bytes of a uint8 three-channel image with full-resolution chroma (4:4:4), the encoding of
    the aligner's display caches (this file's crops and the aligned target); ``channels``: "rgb" or
    OpenCV's "bgr" order."""
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    if hasattr(cv2, "IMWRITE_JPEG_SAMPLING_FACTOR"):
        params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, _SAMPLING_444]
    ok, buf = cv2.imencode(".jpg", image if channels == "bgr" else cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ValueError("OpenCV could not encode the image as JPEG")
    return buf.tobytes()


def encode_patch_tiles(phone: np.ndarray, aligned_target: np.ndarray, specs: Iterable[TileSpec],
                       quality: int = JPEG_QUALITY, *, channels: str = "rgb") -> bytes:
    """The cache file's bytes for the patches ``specs`` of a phone image and its aligned target
    (uint8, both of the phone frame's size; R, G, B order, or B, G, R with ``channels="bgr"`` as
    OpenCV decodes — the file holds the same JPEGs either way)."""
    if channels not in ("rgb", "bgr"):
        raise ValueError(f"channels must be 'rgb' or 'bgr', got {channels!r}")
    for what, image in (("phone image", phone), ("aligned target", aligned_target)):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] < 3:
            raise ValueError(f"{what}: expected a uint8 RGB (h, w, 3) image, got {image.dtype} {image.shape}")
    specs = list(dict.fromkeys(specs))
    index = np.zeros(len(specs), _ENTRY)
    blobs = []
    for i, s in enumerate(specs):
        if s.size <= 0:
            raise ValueError(f"patch at {s.x},{s.y} has size {s.size}")
        p = encode_jpeg_444(_square(phone, s.x, s.y, s.size), quality, channels)
        t = encode_jpeg_444(_square(aligned_target, s.tx, s.ty, s.size), quality, channels)
        index[i] = (s.x, s.y, s.size, s.tx, s.ty, len(p), len(t), zlib.crc32(p), zlib.crc32(t))
        blobs += (p, t)
    return b"".join([_HEADER.pack(MAGIC, FORMAT_VERSION, int(quality), len(specs)), index.tobytes(), *blobs])


def write_patch_tiles(path: str | os.PathLike, phone: np.ndarray, aligned_target: np.ndarray,
                      specs: Iterable[TileSpec], quality: int = JPEG_QUALITY, *, channels: str = "rgb") -> int:
    """Write the cache file atomically (the folder is created); its size in bytes."""
    data = encode_patch_tiles(phone, aligned_target, specs, quality, channels=channels)
    with atomic_file(path) as fh:
        fh.write(data)
    return len(data)


def read_index(path: str | os.PathLike) -> np.ndarray:
    """The file's index (a structured array, see the module's layout), checked against the file's
    length; :class:`PatchTilesError` when the file cannot be what it claims."""
    with _open(path) as fh:
        return _index(fh, path)[0]


def read_patch_tiles(path: str | os.PathLike,
                     specs: Iterable[TileSpec]) -> dict[TileKey, tuple[np.ndarray, np.ndarray]]:
    """(phone, aligned-target) RGB crops of the ``specs`` the file holds, by (x, y, size).

    A spec whose patch is not in the file, or whose stored target corner differs (the patch was
    measured again since), is left out: the caller cuts it from the images.
    """
    wanted = {s.key: s for s in specs}
    out: dict[TileKey, tuple[np.ndarray, np.ndarray]] = {}
    with _open(path) as fh:
        index, data_start = _index(fh, path)
        ends = data_start + np.cumsum(index["phone_len"].astype(np.int64) + index["target_len"])
        for i, e in enumerate(index):
            key = (int(e["x"]), int(e["y"]), int(e["size"]))
            spec = wanted.get(key)
            if spec is None or (spec.tx, spec.ty) != (int(e["tx"]), int(e["ty"])):
                continue
            start = int(ends[i - 1]) if i else data_start
            fh.seek(start)
            blob = fh.read(int(e["phone_len"]) + int(e["target_len"]))
            split = int(e["phone_len"])
            out[key] = (_decode(path, blob[:split], int(e["phone_crc"]), spec, "phone"),
                        _decode(path, blob[split:], int(e["target_crc"]), spec, "target"))
    return out


def _open(path: str | os.PathLike):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise PatchTilesError(path, "patch-tile cache does not exist") from None
    except OSError as exc:
        raise PatchTilesError(path, f"patch-tile cache is not readable ({exc.strerror or exc})") from None


def _index(fh, path) -> tuple[np.ndarray, int]:
    try:
        head = fh.read(_HEADER.size)
        if len(head) < _HEADER.size or head[:len(MAGIC)] != MAGIC:
            raise PatchTilesError(path, "not a patch-tile cache (no ISPTILES header)" if len(head) >= len(MAGIC)
                                  else "patch-tile cache is truncated (no header)")
        _magic, version, _quality, count = _HEADER.unpack(head)
        if version > FORMAT_VERSION:
            raise PatchTilesError(path, f"patch-tile cache format {version} is newer than this ispviewer reads")
        if count > _MAX_ENTRIES:
            raise PatchTilesError(path, f"patch-tile cache is damaged (claims {count} tiles)")
        raw = fh.read(count * _ENTRY.itemsize)
        if len(raw) < count * _ENTRY.itemsize:
            raise PatchTilesError(path, f"patch-tile cache is truncated (index of {count} tiles incomplete)")
        index = np.frombuffer(raw, _ENTRY)
        data_start = _HEADER.size + len(raw)
        expected = data_start + int(index["phone_len"].sum(dtype=np.int64) + index["target_len"].sum(dtype=np.int64))
        actual = os.fstat(fh.fileno()).st_size
    except OSError as exc:
        raise PatchTilesError(path, f"patch-tile cache could not be read ({exc.strerror or exc})") from None
    if actual != expected:
        state = "truncated" if actual < expected else "damaged"
        raise PatchTilesError(path, f"patch-tile cache is {state} ({actual} bytes, its index says {expected})")
    if count and (index["size"] <= 0).any():
        raise PatchTilesError(path, "patch-tile cache is damaged (a tile of size 0 or less)")
    return index, data_start


def _decode(path, blob: bytes, crc: int, spec: TileSpec, role: str) -> np.ndarray:
    where = f"{role} tile of the patch at {spec.x},{spec.y}"
    if zlib.crc32(blob) != crc:
        raise PatchTilesError(path, f"patch-tile cache is damaged ({where}: checksum mismatch)")
    image = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.shape[:2] != (spec.size, spec.size):
        raise PatchTilesError(path, f"patch-tile cache is damaged ({where} does not decode to "
                                    f"{spec.size}x{spec.size})")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

