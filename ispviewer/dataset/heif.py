"""HEIC/HEIF images (what iPhones write by default), decoded by pillow-heif.

HEIF stores orientation as transform properties (``irot``/``imir``) that libheif applies while
decoding, so the pixels come out as displayed.  An EXIF orientation inside a HEIF only repeats
what those transforms already did (the HEIF standard says to ignore it; iPhones write both), so
it is not applied a second time.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ispviewer.dataset.image_files import MAX_PIXELS, ImageReadError


def _open(path: Path):
    try:
        import pillow_heif
    except ImportError:
        raise ImageReadError(path, "HEIC/HEIF image, but pillow-heif is not installed "
                                   "(pip install pillow-heif)") from None
    try:
        heif = pillow_heif.open_heif(str(path), convert_hdr_to_8bit=True)
    except (ValueError, RuntimeError, OSError, EOFError, SyntaxError) as exc:
        raise ImageReadError(path, f"HEIC/HEIF data is corrupt or unsupported ({exc})") from None
    w, h = heif.size
    if w * h > MAX_PIXELS:
        raise ImageReadError(path, f"HEIF header claims {w}x{h}, above the {MAX_PIXELS:,}-pixel limit")
    if w == 0 or h == 0:
        raise ImageReadError(path, f"HEIF header claims an empty image ({w}x{h})")
    return heif


def verify_heif(path: str | os.PathLike) -> tuple[int, int]:
    """Displayed (width, height) of a HEIC/HEIF image, from its header."""
    w, h = _open(Path(path)).size
    return int(w), int(h)


def heif_exif_orientation(path: str | os.PathLike) -> int:
    """The EXIF orientation a HEIF carries (what its transforms did; 1 when it has none)."""
    from PIL import Image

    heif = _open(Path(path))
    exif = heif.info.get("exif")
    if not exif:
        return 1
    try:
        tags = Image.Exif()
        tags.load(exif)
        o = int(tags.get(0x0112, 1))
    except Exception:  # noqa: BLE001 - an unreadable EXIF block: no recorded orientation
        return 1
    return o if 1 <= o <= 8 else 1


def load_heif_rgb(path: str | os.PathLike, reduce: int = 1) -> np.ndarray:
    """Decode a HEIC/HEIF image to uint8 RGB (H, W, 3) as displayed; ``reduce`` area-downscales."""
    if reduce not in (1, 2, 4, 8):
        raise ValueError(f"reduce must be 1, 2, 4 or 8, got {reduce}")
    path = Path(path)
    heif = _open(path)
    if heif.mode not in ("RGB", "RGBA"):
        raise ImageReadError(path, f"HEIF colour mode {heif.mode} is not supported")
    try:
        rgb = np.asarray(heif)[..., :3]
    except (ValueError, RuntimeError, OSError) as exc:
        raise ImageReadError(path, f"HEIC/HEIF data is corrupt and could not be decoded ({exc})") from None
    if reduce > 1:
        h, w = rgb.shape[:2]
        rgb = cv2.resize(np.ascontiguousarray(rgb), ((w + reduce - 1) // reduce, (h + reduce - 1) // reduce),
                         interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def heif_bytes(rgb: np.ndarray, quality: int = 85, orientation: int = 1) -> bytes:
    """Encode uint8 RGB as HEIC; with ``orientation`` != 1 the pixels are stored turned back and
    the file says how to show them (as a phone held that way writes it)."""
    import pillow_heif

    from ispviewer.dataset.orientation import unorient

    stored = np.ascontiguousarray(unorient(rgb, orientation))
    heif = pillow_heif.from_bytes(mode="RGB", size=(stored.shape[1], stored.shape[0]), data=stored.tobytes())
    import io

    from PIL import Image

    kwargs = {}
    if orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = int(orientation)
        kwargs["exif"] = exif.tobytes()
    buf = io.BytesIO()
    # x265's "ultrafast" preset: ~10x faster than its default at about the same size and quality
    heif.save(buf, format="HEIF", quality=quality, enc_params={"preset": "ultrafast"}, **kwargs)
    return buf.getvalue()
