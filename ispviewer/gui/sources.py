"""Where the panes get their pixels: the one adapter between the GUI and the dataset/aligner code.

Everything here is Qt-free and safe to run in a worker thread.  A :class:`LoadRequest` is frozen
on the GUI thread (paths resolved through the manifest there), then :func:`load_sources` reads it
in the background.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import reduce
from pathlib import Path

import numpy as np

from ispviewer.dataset.images import ImageReadError, load_rgb
from ispviewer.dataset.records import AlignState, PatchRecord, TripletRecord
from ispviewer.gui.heatmap_style import DEFAULT_FLOOR_PX

PHONE, TARGET, OUTPUT = "phone", "target", "output"
OUTPUT_PLACEHOLDER = "network output: not rendered yet"


@dataclass(frozen=True)
class Heatmap:
    """Misalignment per heatmap pixel (px, NaN where unknown); ``scale`` phone px per heatmap px."""

    values: np.ndarray
    scale: float


@dataclass(frozen=True)
class LoadRequest:
    """Everything a worker needs to load one triplet, decided on the GUI thread."""

    name: str
    phone_path: Path
    target_path: Path
    phone_size: tuple[int, int]  # (width, height) of the phone frame
    target_size: tuple[int, int]  # (width, height) of the Nikon target
    homography: tuple[tuple[float, ...], ...] | None
    heatmap_path: Path | None
    align_state: AlignState
    align_error: str | None
    heatmap_vmax: float = 2.4  # misalignment (px) at the top of the colour map
    heatmap_floor: float = DEFAULT_FLOOR_PX  # misalignment (px) below which the heatmap is transparent
    root: Path | None = None  # the dataset, for reading the triplet's patches in the worker
    triplet_id: int | None = None
    aligned_path: Path | None = None  # the aligner's aligned target JPEG (display cache), if any

    @property
    def key(self) -> tuple:
        """Cache key (name first): another dataset or a re-aligned triplet is a different request."""
        return (self.name, str(self.phone_path), self.homography, str(self.heatmap_path), self.heatmap_vmax,
                str(self.aligned_path))  # not the floor: the viewer re-colours a heatmap of another floor


def make_request(record: TripletRecord, resolve, heatmap_vmax: float = 2.4,
                 root: Path | None = None, heatmap_floor: float = DEFAULT_FLOOR_PX) -> LoadRequest:
    """Freeze a request for ``record``; ``resolve`` maps manifest-relative paths to files.

    With ``root`` the worker also reads the triplet's patches (through its own read-only manifest).
    """
    heatmap = _resolve_optional(resolve, record.heatmap)
    aligned = _resolve_optional(resolve, getattr(record, "aligned_target", None))
    return LoadRequest(
        name=record.name, phone_path=resolve(record.files.phone), target_path=resolve(record.files.target),
        phone_size=(record.raw.width, record.raw.height), target_size=(record.target_width, record.target_height),
        homography=record.homography, heatmap_path=heatmap, align_state=record.align_state,
        align_error=record.align_error, heatmap_vmax=heatmap_vmax, heatmap_floor=heatmap_floor, root=root,
        triplet_id=record.id, aligned_path=aligned)


def _resolve_optional(resolve, relpath: str | None) -> Path | None:
    """An optional file of the triplet; an unsafe path in the manifest counts as none."""
    if not relpath:
        return None
    try:
        return resolve(relpath)
    except Exception:  # noqa: BLE001
        return None


# --------------------------------------------------------------------------- loading


def load_phone(request: LoadRequest, reduce: int = 1) -> np.ndarray:
    """The phone's own ISP JPEG (it defines the phone frame), optionally decoded at 1/reduce size."""
    return load_rgb(request.phone_path, reduce=reduce)


def _to_reduced(f: float) -> np.ndarray:
    """Full-resolution pixel coordinates -> coordinates in an image reduced f times (centres at integers)."""
    return np.array([[1 / f, 0, 0.5 / f - 0.5], [0, 1 / f, 0.5 / f - 0.5], [0, 0, 1]], dtype=np.float64)


def read_aligned_cache(request: LoadRequest, reduce: int = 1) -> np.ndarray:
    """The aligner's aligned target file, decoded at 1/reduce size; ImageReadError if it is missing,
    unreadable, or not the size of the phone frame (reduced by ``reduce``)."""
    if request.aligned_path is None:
        raise ValueError("no aligned target file")
    image = load_rgb(request.aligned_path, reduce=reduce)
    w, h = request.phone_size
    expected = (-(-w // reduce), -(-h // reduce))  # JPEG DCT scaling rounds up
    if (image.shape[1], image.shape[0]) != expected:
        raise ImageReadError(request.aligned_path, f"is {image.shape[1] * reduce}x{image.shape[0] * reduce}, "
                                                   f"not the phone frame's {w}x{h}")
    return image


def load_aligned_target(request: LoadRequest, reduce: int = 1, notes: list[str] | None = None) -> np.ndarray:
    """The Nikon target in the phone frame; ValueError with a user message if impossible.

    The aligner's aligned target file is decoded when it is usable; otherwise (older datasets, a
    missing or corrupt file) the Nikon target is warped here, and why is appended to ``notes``.
    With ``reduce`` > 1 the image is decoded at 1/reduce size (and warped into a phone frame
    reduced by the same factor): a quick preview.
    """
    if request.homography is None:
        if request.align_state == AlignState.FAILED:
            raise ValueError(f"alignment failed: {request.align_error or 'unknown reason'}")
        raise ValueError("target not aligned yet (run: ispviewer align DATASET)")
    if request.aligned_path is not None:
        try:
            return read_aligned_cache(request, reduce)
        except Exception as exc:  # noqa: BLE001 - only a cache: warp the target instead
            if notes is not None:
                reason = f"{exc.path}: {exc.reason}" if isinstance(exc, ImageReadError) else str(exc)
                notes.append(f"aligned target unusable ({reason}); warped the Nikon target instead "
                             "(ispviewer align --force rebuilds it)")
    target = load_rgb(request.target_path, reduce=reduce)
    H = np.asarray(request.homography, dtype=np.float64)
    phone_w, phone_h = request.phone_size
    if reduce == 1:
        return warp_to_phone(target, H, (phone_w, phone_h))
    out_w, out_h = -(-phone_w // reduce), -(-phone_h // reduce)
    f_target = request.target_size[0] / target.shape[1] if request.target_size[0] else reduce
    H_small = _to_reduced(phone_w / out_w) @ H @ np.linalg.inv(_to_reduced(f_target))
    return warp_to_phone(target, H_small, (out_w, out_h))


def load_patches(request: LoadRequest) -> list[PatchRecord]:
    """The triplet's patches, read through a read-only manifest connection of this thread."""
    from ispviewer.dataset.manifest import Manifest

    with Manifest.open(request.root, readonly=True) as manifest:
        return manifest.patches(request.triplet_id)


def warp_to_phone(target: np.ndarray, H: np.ndarray, phone_size: tuple[int, int]) -> np.ndarray:
    """The aligner's anti-aliased warp of the whole target into the phone frame."""
    from ispviewer.align.warp import warp_target_to_phone

    return np.ascontiguousarray(warp_target_to_phone(target, H, phone_size))


def load_heatmap_file(path: Path, phone_size: tuple[int, int]) -> Heatmap:
    """The aligner's heatmap file; it covers the whole phone frame at a reduced scale."""
    from ispviewer.dataset.heatmap_file import HeatmapError, load_heatmap

    try:
        values, _fraction = load_heatmap(path)
    except HeatmapError as exc:
        raise ImageReadError(exc.path, exc.reason) from None
    return Heatmap(np.ascontiguousarray(values, dtype=np.float32), phone_size[0] / values.shape[1])


def heatmap_from_patches(patches: list[PatchRecord]) -> Heatmap | None:
    """A heatmap with one value per patch, on the coarsest grid that holds every patch exactly."""
    placed = [p for p in patches if p.size > 0]
    if not placed:
        return None
    step = reduce(math.gcd, [p.size for p in placed] + [p.x for p in placed] + [p.y for p in placed])
    step = max(step, 1)
    w = max(p.x + p.size for p in placed) // step
    h = max(p.y + p.size for p in placed) // step
    values = np.full((h, w), np.nan, np.float32)
    for p in placed:
        if p.misalignment_px is not None:
            n = p.size // step
            values[p.y // step:p.y // step + n, p.x // step:p.x // step + n] = p.misalignment_px
    return Heatmap(values, float(step))
