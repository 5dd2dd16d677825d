"""The aligned target as a display cache: the Nikon JPEG resampled into the phone frame, on disk.

The viewer would otherwise decode the 24 MP Nikon JPEG and warp it through the homography every
time a triplet is opened.  The aligner renders the aligned target once (the same anti-aliased warp
the viewer uses, :func:`warp_target_to_phone`) and stores it as ``DATASET/aligned/<name>.<token>.jpg``
(a fresh versioned name per alignment, see :mod:`ispviewer.dataset.alignment_files`),
a JPEG the size of the phone frame, so the viewer decodes two phone-sized JPEGs instead.

It is a cache: a missing or unreadable file only costs the viewer the warp it did before.  The
file is written atomically (:mod:`ispviewer.dataset.atomic`), so a reader never sees half of it
and an interrupted batch leaves the previous file or none.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ispviewer.align.warp import warp_target_to_phone
from ispviewer.dataset.alignment_files import ALIGNED_DIR
from ispviewer.dataset.atomic import write_atomically

#: High enough that the cache is visually the warp itself (checked by the tests).
JPEG_QUALITY = 95
#: 4:4:4 chroma: no colour subsampling, so colour edges stay where the warp put them.
_SAMPLING_444 = getattr(cv2, "IMWRITE_JPEG_SAMPLING_FACTOR_444", 0x111111)


class AlignedTargetError(Exception):
    """The aligned target could not be written (disk full, permissions...)."""


def aligned_target_relpath(name: str) -> str:
    """The unversioned name of a triplet's aligned target (datasets written before versioned names;
    new alignments use :func:`ispviewer.dataset.alignment_files.alignment_paths`)."""
    return f"{ALIGNED_DIR}/{name}.jpg"


def render_aligned_target(target_rgb: np.ndarray, homography: np.ndarray,
                          phone_size: tuple[int, int]) -> np.ndarray:
    """The whole aligned target: uint8 RGB of the phone frame's size ((w, h) = ``phone_size``)."""
    return np.ascontiguousarray(warp_target_to_phone(target_rgb, np.asarray(homography, np.float64), phone_size))


def encode_jpeg(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """JPEG bytes of a uint8 RGB image, 4:4:4 chroma."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected a uint8 RGB (h, w, 3) image, got {rgb.dtype} {rgb.shape}")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    if hasattr(cv2, "IMWRITE_JPEG_SAMPLING_FACTOR"):
        params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, _SAMPLING_444]
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ValueError("OpenCV could not encode the aligned target as JPEG")
    return buf.tobytes()


def save_aligned_target(path: str | os.PathLike, rgb: np.ndarray, quality: int = JPEG_QUALITY) -> None:
    """Store an aligned target image as a JPEG at ``path``; :class:`AlignedTargetError` on failure."""
    path = Path(path)
    try:
        write_atomically(path, encode_jpeg(rgb, quality))
    except OSError as exc:
        raise AlignedTargetError(f"{path}: cannot write the aligned target ({exc.strerror or exc})") from None


def write_aligned_target(path: str | os.PathLike, target_rgb: np.ndarray, homography: np.ndarray,
                         phone_size: tuple[int, int], quality: int = JPEG_QUALITY) -> np.ndarray:
    """Render the aligned target and store it at ``path``; returns the rendered image."""
    aligned = render_aligned_target(target_rgb, homography, phone_size)
    save_aligned_target(path, aligned, quality)
    return aligned
