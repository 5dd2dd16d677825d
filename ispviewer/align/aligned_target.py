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

from ispviewer.align.geometry import resize_matrix
from ispviewer.align.warp import PrefilteredTarget, warp_prefiltered, warp_target_to_phone
from ispviewer.dataset.alignment_files import ALIGNED_DIR
from ispviewer.dataset.atomic import write_atomically
from ispviewer.dataset.patch_tiles import encode_jpeg_444

#: High enough that the cache is visually the warp itself (checked by the tests).
JPEG_QUALITY = 95
#: 4:4:4 chroma: no colour subsampling, so colour edges stay where the warp put them.


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


def render_aligned_target_from(target_bgr: np.ndarray, luminance: PrefilteredTarget, homography: np.ndarray,
                               phone_size: tuple[int, int]) -> np.ndarray:
    """The whole aligned target, as :func:`render_aligned_target` draws it, for about a third of the
    work; channels in OpenCV's order (B, G, R) in and out.

    ``luminance`` is the target's luminance already area-averaged to about the phone scale (what
    the aligner warps, :attr:`TripletAlignment.prefiltered`): the luma is that image warped at
    full resolution.  The chroma (Cr, Cb), which carries little detail, comes from the target
    halved by 2x2 blocks, warped at half the phone resolution and interpolated back (the halving
    already removes what a warp to half the phone scale could alias).  uint8 BGR of the phone
    frame's size.
    """
    H = np.asarray(homography, np.float64)
    w, h = (int(v) for v in phone_size)
    th, tw = target_bgr.shape[:2]
    halved = (tw // 2, th // 2)
    small = cv2.resize(target_bgr[:halved[1] * 2, :halved[0] * 2], halved, interpolation=cv2.INTER_AREA)
    ycc = PrefilteredTarget(cv2.cvtColor(small, cv2.COLOR_BGR2YCrCb),
                            resize_matrix((halved[0] * 2, halved[1] * 2), halved))
    # half-frame pixel j is centred on phone px 2j + 0.5; all three channels are warped (OpenCV's
    # fast path), then the luma is replaced by the full-resolution one
    half_H = np.array([[0.5, 0, -0.25], [0, 0.5, -0.25], [0, 0, 1]]) @ H  # target px -> half-frame px
    half = warp_prefiltered(ycc, half_H, (0, 0, (w + 1) // 2, (h + 1) // 2), border_value=128)
    full = cv2.resize(half, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
    if full.shape[:2] != (h, w):  # an odd frame size
        full = np.ascontiguousarray(full[:h, :w])
    cv2.mixChannels([warp_prefiltered(luminance, H, (0, 0, w, h))], [full], [0, 0])
    return cv2.cvtColor(full, cv2.COLOR_YCrCb2BGR)


def encode_jpeg(rgb: np.ndarray, quality: int = JPEG_QUALITY, *, channels: str = "rgb") -> bytes:
    """JPEG bytes of a uint8 RGB image (``channels="bgr"``: B, G, R order), 4:4:4 chroma."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected a uint8 RGB (h, w, 3) image, got {rgb.dtype} {rgb.shape}")
    if channels not in ("rgb", "bgr"):
        raise ValueError(f"channels must be 'rgb' or 'bgr', got {channels!r}")
    return encode_jpeg_444(rgb, quality, channels)


def save_aligned_target(path: str | os.PathLike, rgb: np.ndarray, quality: int = JPEG_QUALITY, *,
                        channels: str = "rgb") -> None:
    """Store an aligned target image (``channels``: 'rgb', or 'bgr' for OpenCV's order) as a JPEG at
    ``path``; :class:`AlignedTargetError` on failure."""
    path = Path(path)
    try:
        write_atomically(path, encode_jpeg(rgb, quality, channels=channels))
    except OSError as exc:
        raise AlignedTargetError(f"{path}: cannot write the aligned target ({exc.strerror or exc})") from None


def write_aligned_target(path: str | os.PathLike, target_rgb: np.ndarray, homography: np.ndarray,
                         phone_size: tuple[int, int], quality: int = JPEG_QUALITY) -> np.ndarray:
    """Render the aligned target and store it at ``path``; returns the rendered image."""
    aligned = render_aligned_target(target_rgb, homography, phone_size)
    save_aligned_target(path, aligned, quality)
    return aligned
