"""JPEG files: the frame size and EXIF orientation from the header, checks, and the decode.

Failures are :class:`~ispviewer.dataset.image_files.ImageReadError` naming the file and the
reason.  Qt-free; :mod:`ispviewer.dataset.images` is where callers load any phone or target image.
"""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path

import cv2
import numpy as np
import simplejpeg

from ispviewer.dataset.image_files import MAX_PIXELS, ImageReadError, check_file
from ispviewer.dataset.orientation import orient_image


def header_size(path: Path, head: bytes) -> tuple[int, int]:
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
    check_file(path)
    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
    return header_size(path, head)


def jpeg_oriented_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of a JPEG as displayed, i.e. after its EXIF orientation."""
    w, h = jpeg_size(path)
    return (h, w) if exif_orientation(Path(path)) in (5, 6, 7, 8) else (w, h)


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


def exif_orientation(path: Path) -> int:
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return 1
    return orientation_in(head)


def orientation_in(head: bytes) -> int:
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


def decode_jpeg(path: Path, reduce: int, channels: str = "BGR") -> np.ndarray:
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
    check_file(path)
    with open(path, "rb") as fh:
        data = fh.read()
    width, height = header_size(path, data[: 1 << 20])
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
            return orient_image(image, orientation_in(data[:1 << 16]))
    flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2,
             4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}[reduce]
    with warnings.catch_warnings():
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flags)  # applies the EXIF orientation itself
    if bgr is None:
        raise ImageReadError(path, "JPEG data is corrupt and could not be decoded")
    return bgr if channels == "BGR" else np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
