"""The exact geometry of a demo triplet, stored next to it, and what alignment tests ask of it.

File ``groundtruth/<stem>.npz`` (keys):

=================  ===================================================================
``format``         int, 1
``homography``     (3, 3) float64, Nikon target pixel -> phone pixel (x_phone ~ H x_target)
``disp_grid``      (rows, cols, 2) float32, D = (dx, dy) at phone pixel (j*step, i*step)
``disp_step``      int, the grid spacing in phone pixels
``phone_size``     (2,) int, (width, height) of the phone frame
``target_size``    (2,) int, (width, height) of the Nikon target
``cfa_pattern``    str, the phone raw's 2x2 pattern, e.g. "RGGB"
``make``/``model`` str, the simulated phone
``seed``/``index`` int, what the triplet was generated from
``local_motions``  (N, 6) float64, optional: the local motions already included in
                   ``disp_grid``, one row each (kind index, cx, cy, radius, amplitude,
                   angle) — see :class:`~ispviewer.dataset.demo.local_motion.LocalMotion`;
                   a description only, D is the grid
``near_objects``   (N, 10) float64, optional (the hard variant): near objects whose
                   shift is added to D inside their ellipse — see
                   :mod:`~ispviewer.dataset.demo.parallax`
=================  ===================================================================

The scene point seen at phone pixel p is seen in the target at ``H^-1(p + D(p))``; D between grid
samples is :func:`~ispviewer.dataset.demo.geometry.sample_displacement`, the very function used to
render the target (plus, in the hard variant, the near objects' shift inside their ellipses).
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ispviewer.dataset.demo.geometry import apply_homography, sample_displacement
from ispviewer.dataset.demo.local_motion import KINDS, LocalMotion
from ispviewer.dataset.demo.parallax import ROW as _OBJECT_ROW
from ispviewer.dataset.demo.parallax import NearObject, objects_of, occluded, parallax_displacement

FORMAT_VERSION = 1
_KEYS = ("format", "homography", "disp_grid", "disp_step", "phone_size", "target_size",
         "cfa_pattern", "make", "model", "seed", "index")


class GroundTruthError(Exception):
    """A ground-truth file could not be read."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True, eq=False)
class GroundTruth:
    """The true Nikon -> phone geometry of one demo triplet."""

    homography: np.ndarray  # (3, 3) float64, target -> phone
    disp_grid: np.ndarray  # (rows, cols, 2) float32
    disp_step: int
    phone_size: tuple[int, int]  # (width, height)
    target_size: tuple[int, int]
    cfa_pattern: str
    make: str = ""
    model: str = ""
    seed: int = 0
    index: int = 0
    local_motions: np.ndarray = field(default_factory=lambda: np.zeros((0, 6)))  # (N, 6), in disp_grid
    near_objects: np.ndarray = field(default_factory=lambda: np.zeros((0, _OBJECT_ROW)))  # added to D

    # ------------------------------------------------------------------ queries

    def displacement_at(self, xs, ys) -> tuple[np.ndarray, np.ndarray]:
        """D = (dx, dy) at phone-frame points, float32 arrays shaped like ``xs``."""
        dx, dy = sample_displacement(self.disp_grid, self.disp_step, xs, ys)
        if len(self.near_objects):
            ox, oy = parallax_displacement(self.near_objects, xs, ys)
            dx, dy = dx + ox, dy + oy
        return dx, dy

    def near(self) -> list[NearObject]:
        """The near objects (hard variant): their shift is part of D inside their ellipse."""
        return objects_of(self.near_objects)

    def occluded(self, xs, ys) -> np.ndarray:
        """Phone points whose scene point a near object hides in the target (bool, like ``xs``)."""
        return occluded(self.near_objects, self.disp_grid, self.disp_step, xs, ys)

    def displacement(self, height: int, width: int) -> np.ndarray:
        """D at every pixel of a (height, width) phone-frame grid: float32 (height, width, 2)."""
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        dx, dy = self.displacement_at(xs, ys)
        return np.stack([dx, dy], axis=-1)

    def true_target_position(self, xs, ys) -> tuple[np.ndarray, np.ndarray]:
        """Where the scene seen at phone points (xs, ys) lies in the target: H^-1(p + D(p))."""
        xs = np.asarray(xs, dtype=np.float64)
        ys = np.asarray(ys, dtype=np.float64)
        dx, dy = self.displacement_at(xs, ys)
        return apply_homography(np.linalg.inv(self.homography), xs + dx, ys + dy)

    def true_misalignment(self, x: int, y: int, size: int, h_est, dx: float, dy: float) -> float:
        """The true error (phone px) of a patch match, averaged over the patch's pixels.

        The aligner claims that phone pixel p matches pixel ``p + (dx, dy)`` of the target warped by
        ``h_est`` (target -> phone), i.e. target pixel ``h_est^-1(p + (dx, dy))``.  The error is
        ``| H(h_est^-1(p + (dx, dy))) - (p + D(p)) |``, with H and D the true geometry.
        """
        ys, xs = np.mgrid[y:y + size, x:x + size].astype(np.float64)
        h_est = np.asarray(h_est, dtype=np.float64).reshape(3, 3)
        tx, ty = apply_homography(np.linalg.inv(h_est), xs + dx, ys + dy)
        bx, by = apply_homography(self.homography, tx, ty)
        ddx, ddy = self.displacement_at(xs, ys)
        return float(np.mean(np.hypot(bx - (xs + ddx), by - (ys + ddy))))

    def corner_error(self, h_est) -> float:
        """Largest distance (phone px) between where ``h_est`` and the true H put the phone frame's
        corners (both map target -> phone)."""
        w, h = self.phone_size
        xs, ys = np.array([0.0, w - 1, w - 1, 0.0]), np.array([0.0, 0.0, h - 1, h - 1])
        tx, ty = apply_homography(np.linalg.inv(np.asarray(h_est, dtype=np.float64).reshape(3, 3)), xs, ys)
        bx, by = apply_homography(self.homography, tx, ty)
        return float(np.hypot(bx - xs, by - ys).max())

    def motions(self) -> list[LocalMotion]:
        """The local motions included in D (moved objects, swirls, bulges)."""
        return [LocalMotion.from_row(row) for row in self.local_motions]

    def mean_displacement(self, x: int, y: int, size: int) -> float:
        """Mean |D| over a patch: its misalignment after a perfect homography and no local shift."""
        ys, xs = np.mgrid[y:y + size, x:x + size].astype(np.float32)
        dx, dy = self.displacement_at(xs, ys)
        return float(np.mean(np.hypot(dx, dy)))


# ---------------------------------------------------------------------- file I/O


def _arrays(gt: GroundTruth) -> dict[str, np.ndarray]:
    return {
        "format": np.int64(FORMAT_VERSION),
        "homography": np.asarray(gt.homography, dtype=np.float64),
        "disp_grid": np.asarray(gt.disp_grid, dtype=np.float32),
        "disp_step": np.int64(gt.disp_step),
        "phone_size": np.asarray(gt.phone_size, dtype=np.int64),
        "target_size": np.asarray(gt.target_size, dtype=np.int64),
        "cfa_pattern": np.str_(gt.cfa_pattern),
        "make": np.str_(gt.make),
        "model": np.str_(gt.model),
        "seed": np.int64(gt.seed),
        "index": np.int64(gt.index),
        "local_motions": np.asarray(gt.local_motions, dtype=np.float64).reshape(-1, 6),
        "near_objects": np.asarray(gt.near_objects, dtype=np.float64).reshape(-1, _OBJECT_ROW),
    }


def save_groundtruth(path, gt: GroundTruth) -> None:
    """Write an .npz (to a path or a binary file object) that ``numpy.load`` reads, byte-identical
    for identical ground truth.

    (``numpy.savez`` stamps the current time into the zip entries.)
    """
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, value in _arrays(gt).items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def load_groundtruth(path: str | os.PathLike) -> GroundTruth:
    """Read a demo triplet's ground truth; a :class:`GroundTruthError` names what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise GroundTruthError(path, "file does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in _KEYS if k not in npz.files]
            if missing:
                raise GroundTruthError(path, f"not a demo ground truth (missing {', '.join(missing)})")
            data = {k: npz[k] for k in _KEYS}
            motions = npz["local_motions"] if "local_motions" in npz.files else np.zeros((0, 6))
            near = npz["near_objects"] if "near_objects" in npz.files else np.zeros((0, _OBJECT_ROW))
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise GroundTruthError(path, f"unreadable ground truth ({exc})") from None
    if int(data["format"]) != FORMAT_VERSION:
        raise GroundTruthError(path, f"unsupported ground-truth format {int(data['format'])}")
    hom, grid = data["homography"], data["disp_grid"]
    if hom.shape != (3, 3) or grid.ndim != 3 or grid.shape[2] != 2:
        raise GroundTruthError(path, "homography or displacement grid has the wrong shape")
    if motions.ndim != 2 or motions.shape[1] != 6 or not np.isin(motions[:, 0], range(len(KINDS))).all():
        raise GroundTruthError(path, "local motions have the wrong shape or an unknown kind")
    if near.ndim != 2 or near.shape[1] != _OBJECT_ROW or not np.all(np.isfinite(near)):
        raise GroundTruthError(path, "near objects have the wrong shape or are not finite")
    return GroundTruth(
        homography=hom.astype(np.float64), disp_grid=np.ascontiguousarray(grid, dtype=np.float32),
        disp_step=int(data["disp_step"]),
        phone_size=tuple(int(v) for v in data["phone_size"]),
        target_size=tuple(int(v) for v in data["target_size"]),
        cfa_pattern=str(data["cfa_pattern"]), make=str(data["make"]), model=str(data["model"]),
        seed=int(data["seed"]), index=int(data["index"]), local_motions=motions.astype(np.float64),
        near_objects=near.astype(np.float64),
    )
