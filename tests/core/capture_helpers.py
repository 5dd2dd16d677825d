"""Captures written the way phones write them, for the phone-frame tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np

from ispviewer.dataset.demo.build import build_triplet, phone_image_path
from ispviewer.dataset.demo.cameras import IPHONE_6S, XIAOMI_MI9
from ispviewer.dataset.demo.capture_frames import CaptureFrame
from ispviewer.dataset.orientation import oriented_size
from ispviewer.workflows.capture_guard import luminance, quick_demosaic, structure, structure_correlation, thumbnail

#: an RGGB phone and a non-RGGB one (GRBG, like the real Kodak raw)
RGGB_PHONE = IPHONE_6S
GRBG_PHONE = dataclasses.replace(XIAOMI_MI9, cfa="GRBG", model="Mi 9 (GRBG)")
SENSOR = (320, 240)


def write_capture(out: Path, index: int, phone, frame: CaptureFrame, sensor=SENSOR, seed: int = 3) -> str:
    """One demo capture stored as ``frame`` says, in the by-role layout under ``out``; its stem."""
    for role in ("raw", "phone", "target", "groundtruth"):
        (out / role).mkdir(parents=True, exist_ok=True)
    return build_triplet(out, index, seed, oriented_size(sensor, frame.raw_orientation), phone, frame)


def agreement(a_gray: np.ndarray, b_gray: np.ndarray, side: int = 96) -> float:
    """Structure correlation of two luminance images at low resolution (b resized to a)."""
    a = thumbnail(a_gray, side)
    b = thumbnail(b_gray, size=(a.shape[1], a.shape[0]))
    return structure_correlation(structure(a, 3.0), structure(b, 3.0))


def raw_luminance(packed) -> np.ndarray:
    return quick_demosaic(packed)


def rgb_luminance(rgb: np.ndarray) -> np.ndarray:
    return luminance(np.ascontiguousarray(rgb))


def jpeg_bytes(rgb: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


__all__ = ["GRBG_PHONE", "RGGB_PHONE", "SENSOR", "agreement", "jpeg_bytes", "phone_image_path", "raw_luminance",
           "rgb_luminance", "write_capture"]


def retag_orientation(dng: Path, orientation: int) -> None:
    """Overwrite the Orientation tag (0x0112) of a DNG's first IFD: a capture whose tag is wrong."""
    import struct

    data = bytearray(dng.read_bytes())
    end = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack(end + "I", data[4:8])
    (count,) = struct.unpack(end + "H", data[ifd:ifd + 2])
    for k in range(count):
        at = ifd + 2 + 12 * k
        tag, typ = struct.unpack(end + "HH", data[at:at + 4])
        if tag == 0x0112:
            assert typ == 3
            data[at + 8:at + 10] = struct.pack(end + "H", orientation)
            dng.write_bytes(bytes(data))
            return
    raise AssertionError(f"{dng} has no Orientation tag")
