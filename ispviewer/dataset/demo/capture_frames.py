"""Demo captures written the way phones write them: held turned, cropped, saved as HEIC.

The demo renders every scene upright in the phone frame.  This module stores it as a device held
another way would: the raw mosaic turned back into sensor orientation with a DNG ``Orientation``
tag (and its CFA pattern following the turn), the phone JPEG stored turned back with an EXIF
orientation (or already upright, as some phones write), the target likewise, a DNG that carries a
few pixels of margin outside its ``DefaultCrop``, and phone images saved as HEIC.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ispviewer.dataset.orientation import unorient


@dataclass(frozen=True)
class CaptureFrame:
    """How one demo capture is stored (all 1 / 0 / "jpg": an upright plain capture)."""

    raw_orientation: int = 1  # DNG Orientation tag
    phone_orientation: int = 1  # EXIF orientation of the phone image (1: stored upright)
    target_orientation: int = 1  # EXIF orientation of the target JPEG
    crop_margin: int = 0  # even number of raw pixels around the phone frame, outside DefaultCrop
    phone_format: str = "jpg"  # "jpg" or "heic"

    @property
    def plain(self) -> bool:
        return self == CaptureFrame()


#: The default demo's captures in order (the index picks one, cycling): upright; upside down
#: (raw and phone JPEG tagged 3, target upright); portrait (raw tagged 6, phone JPEG written
#: upright, target tagged 6); a DNG with 8 px of margin outside its DefaultCrop; portrait the other
#: way (raw tagged 8, HEIC phone image turned by its own transform, target upright); an upright
#: HEIC capture whose DNG has a 4 px crop margin and whose target is tagged 3.
DEMO_FRAMES = (
    CaptureFrame(),
    CaptureFrame(raw_orientation=3, phone_orientation=3, target_orientation=1),
    CaptureFrame(raw_orientation=6, phone_orientation=1, target_orientation=6),
    CaptureFrame(crop_margin=8),
    CaptureFrame(raw_orientation=8, phone_orientation=8, target_orientation=1, phone_format="heic"),
    CaptureFrame(crop_margin=4, target_orientation=3, phone_format="heic"),
)


def stored_mosaic(displayed: np.ndarray, cfa: str,
                  frame: CaptureFrame) -> tuple[np.ndarray, str, tuple[int, int] | None]:
    """The sensor mosaic to write for a phone-frame mosaic ``displayed`` of pattern ``cfa``.

    Returns (mosaic in sensor orientation, its CFA pattern, DefaultCropOrigin (x, y) or None).
    A crop margin adds that many pixels of extra sensor data (mirrored, so Bayer colours stay
    consistent) around the frame; the DNG's DefaultCrop then names the frame.
    """
    m = frame.crop_margin
    if m % 2:
        raise ValueError("crop margin must be even (keeps the Bayer phase)")
    mosaic = np.pad(displayed, m, mode="symmetric") if m else displayed
    if m:  # the margin is sensor noise around a mirror of the scene: darker, so it is not mistaken for it
        mosaic = mosaic.copy()
        mosaic[:m], mosaic[-m:], mosaic[:, :m], mosaic[:, -m:] = (mosaic[:m] // 2, mosaic[-m:] // 2,
                                                                   mosaic[:, :m] // 2, mosaic[:, -m:] // 2)
    tile = np.array(list(cfa)).reshape(2, 2)
    stored = np.ascontiguousarray(unorient(mosaic, frame.raw_orientation))
    stored_tile = _stored_tile(tile, mosaic.shape, frame.raw_orientation)
    return stored, "".join(stored_tile.flatten()), ((m, m) if m else None)


def _stored_tile(tile: np.ndarray, shape: tuple[int, int], o: int) -> np.ndarray:
    """The top-left 2x2 colours of the stored mosaic whose display under ``o`` has ``tile`` first."""
    h, w = shape
    sub = np.tile(tile, (2, 2))[: 2 + h % 2, : 2 + w % 2]
    return unorient(sub, o)[:2, :2]


def stored_image(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """A displayed image as a file tagged ``orientation`` stores it."""
    return np.ascontiguousarray(unorient(rgb, orientation))


def jpeg_with_orientation(jpeg: bytes, orientation: int) -> bytes:
    """``jpeg`` with an EXIF APP1 segment whose IFD0 holds only the Orientation tag."""
    if orientation == 1:
        return jpeg
    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, int(orientation), 0) + struct.pack(">I", 0)
    tiff = b"MM" + struct.pack(">HI", 42, 8) + ifd
    payload = b"Exif\0\0" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]
