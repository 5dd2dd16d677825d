"""Cutting one triplet's training patches: the phone raw mosaic and the target resampled onto it.

Runs in a worker process (one triplet at a time: the memory of an export is the workers' decoded
images).  For every patch it returns encoded files:

- the raw patch: a single-channel 16-bit PNG mosaic in RGGB order on the phone frame's own Bayer
  phase (the crop starts on a red sample, chosen by :mod:`ispviewer.dataset.bayer_grid`), black level
  subtracted and scaled so the white level is 1020 (loaders in the ZRR tradition divide by 4·255);
- the target patch: the ORIGINAL Nikon JPEG resampled through the homography into the phone
  frame at the crop's corner plus the patch's matched offset — area-averaged to the phone's scale
  first (no aliasing), then bicubic — encoded as JPEG (ZRR) or PNG (webdataset).
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ispviewer.align.warp import prefilter_target, target_scale, warp_prefiltered
from ispviewer.dataset.images import ImageReadError, load_packed_raw, load_rgb
from ispviewer.dataset.records import RawInfo

#: value of the white level in an exported raw patch (PyNET-style loaders divide by 4 * 255)
RAW_SCALE = 1020
#: zlib's run-length strategy: measured on exported raw patches, 2.7x faster than level 1's default
#: and 3% smaller (noisy sensor data gains little from string matching)
_PNG = (cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE)


@dataclass(frozen=True)
class PatchJob:
    index: int
    gx: int  # phone-frame corner of the RGGB crop (see ispviewer.dataset.bayer_grid)
    gy: int
    size: int
    dx: float  # the patch's matched offset in the aligned target
    dy: float
    record: dict  # what index.jsonl says about the patch


@dataclass(frozen=True)
class TripletJob:
    raw: str  # absolute paths
    target: str
    homography: tuple
    phone_size: tuple[int, int]
    origin: tuple[int, int]  # (oy, ox) the packed raw must have (from the manifest's CFA pattern)
    frame: RawInfo  # the manifest's raw geometry: the crop and orientation that make the phone frame
    patches: tuple[PatchJob, ...]
    target_format: str  # "jpg" or "png"
    jpeg_quality: int = 95
    #: ZRR: the split folder the worker writes ``huawei_raw/<i>.png`` and ``canon/<i>.jpg`` into
    #: itself (the patches come back without their bytes); None: the bytes come back
    zrr_root: str | None = None


@dataclass(frozen=True)
class CutPatch:
    index: int
    raw_png: bytes
    target: bytes
    record: dict


class CutError(Exception):
    """A triplet's patches cannot be cut (a file vanished or is corrupt); names the file."""


class PatchWriteError(Exception):
    """An output file cannot be written (full disk, permissions); names the file and the reason."""


def write_file(path: Path, data: bytes) -> None:
    """Write under a temporary name and rename when complete, so a killed export never leaves a
    file that looks finished (no fsync: the split's index, written last with one, says it is done)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        reason = "the disk is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else (exc.strerror or str(exc))
        raise PatchWriteError(f"{path}: cannot write ({reason}); files written so far are complete and are "
                              "kept, run the export again to finish") from None


def mosaic_from_packed(planes: np.ndarray) -> np.ndarray:
    """(h, w, 4) RGGB planes in [0, 1] -> (2h, 2w) uint16 RGGB mosaic scaled to 0..RAW_SCALE."""
    h, w = planes.shape[:2]
    mosaic = np.empty((2 * h, 2 * w), np.float32)
    mosaic[0::2, 0::2] = planes[..., 0]
    mosaic[0::2, 1::2] = planes[..., 1]
    mosaic[1::2, 0::2] = planes[..., 2]
    mosaic[1::2, 1::2] = planes[..., 3]
    return np.rint(np.clip(mosaic, 0.0, 1.0) * RAW_SCALE).astype(np.uint16)


def _encode(ext: str, image: np.ndarray, params=()) -> bytes:
    ok, buf = cv2.imencode(ext, image, list(params))
    if not ok:
        raise CutError(f"cannot encode a {ext} patch")
    return buf.tobytes()


def cut_triplet(job: TripletJob) -> list[CutPatch]:
    """Encode every patch of ``job``."""
    try:
        packed = load_packed_raw(job.raw, job.frame)  # in the triplet's phone frame
        target_rgb = load_rgb(job.target)
    except ImageReadError as exc:
        raise CutError(str(exc)) from None
    if tuple(packed.origin) != tuple(job.origin) or packed.data.shape[:2] != (job.phone_size[1] // 2,
                                                                               job.phone_size[0] // 2):
        raise CutError(f"{job.raw}: the raw no longer matches the manifest (CFA phase or size changed); "
                       "re-import the triplet")
    H = np.asarray(job.homography, np.float64)
    pre = prefilter_target(target_rgb, target_scale(H, job.phone_size))
    del target_rgb
    oy, ox = packed.origin
    out = []
    for p in job.patches:
        gx, gy = p.gx, p.gy
        i0, j0 = (gy - oy) // 2, (gx - ox) // 2
        half = p.size // 2
        raw = mosaic_from_packed(packed.data[i0:i0 + half, j0:j0 + half])
        target = warp_prefiltered(pre, H, (gx + p.dx, gy + p.dy, p.size, p.size), interpolation=cv2.INTER_CUBIC)
        bgr = cv2.cvtColor(target, cv2.COLOR_RGB2BGR)
        if job.target_format == "jpg":
            encoded = _encode(".jpg", bgr, (cv2.IMWRITE_JPEG_QUALITY, job.jpeg_quality))
        else:
            encoded = _encode(".png", bgr, _PNG)
        raw_png = _encode(".png", raw, _PNG)
        if job.zrr_root is not None:
            root = Path(job.zrr_root)
            write_file(root / "canon" / f"{p.index}.jpg", encoded)
            write_file(root / "huawei_raw" / f"{p.index}.png", raw_png)  # the pair is whole once this exists
            raw_png, encoded = b"", b""
        out.append(CutPatch(p.index, raw_png, encoded, dict(p.record, wb_gains=list(packed.wb_gains))))
    return out
