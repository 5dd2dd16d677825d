"""Local misalignment in a demo capture: things that moved or deformed between the two shots.

Real captures are never misaligned by a homography and a smooth parallax alone: a leaf moves, a
person turns, a near object sits at another depth, lens-distortion residue bends a corner.  Such
motion is local: 30 to 100 phone pixels across (no larger than a 128-px patch), so a patch's
single NCC offset cannot absorb it, and it is what the aligner's misalignment test must reject.

Three kinds of local motion, each confined to a disc of radius ``radius`` around ``centre``
(phone pixels) with a soft edge, and each peaking at about ``amplitude`` phone pixels:

* ``object`` — a rigid shift in direction ``angle`` (a moved object);
* ``swirl``  — a small rotation about the centre (a turned object);
* ``bulge``  — a small scaling about the centre (an object nearer or farther, parallax).

They are sampled onto the displacement grid (``geometry.sample_displacement`` interpolates it),
so the grid stays the one exact definition of D that rendering and ground truth share.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

KINDS = ("object", "swirl", "bulge")
#: how often each kind is drawn
KIND_WEIGHTS = (0.6, 0.2, 0.2)
#: radius range (phone px): 60..100 px across
RADIUS = (30.0, 50.0)
#: peak displacement range (phone px)
AMPLITUDE = (2.0, 6.0)
#: frame area (phone px^2) per local motion (50 at 2000x1500); at least MIN_COUNT per capture.
#: With these ranges about 9% of a demo's 128-px patches are truly misaligned by over 1.2 px
AREA_PER_MOTION = 60_000
MIN_COUNT = 2
#: the soft edge is at least this wide (phone px), and at least EDGE_PER_PX x the amplitude;
#: the amplitude is at most radius / EDGE_PER_PX, so the edge fits in the radius
MIN_EDGE = 12.0
EDGE_PER_PX = 4.0
#: the largest rotation / scaling (radians, relative) a swirl / bulge may have
MAX_TURN = 0.15
#: a motion is placed where at least MIN_TEXTURED of its disc has texture: a local RMS gradient of
#: TEXTURE_LEVEL grey levels per phone px (motion in a flat area is invisible to any aligner)
MIN_TEXTURED = 0.7
TEXTURE_LEVEL = 2.0
TEXTURE_SCALE = 4  # the texture map has one pixel per TEXTURE_SCALE phone pixels
#: the whole field's Lipschitz bound: keeps p -> p + D(p) one-to-one and its inversion fast
MAX_GRADIENT = 0.7


@dataclass(frozen=True)
class LocalMotion:
    """One local motion, in phone-frame pixels."""

    kind: str  # one of KINDS
    centre: tuple[float, float]  # (x, y)
    radius: float  # the disc's radius, to the middle of its soft edge
    amplitude: float  # peak |D| (swirl / bulge: |D| where the soft edge begins; a few % more beyond)
    angle: float  # object: direction of the shift (radians); swirl/bulge: +1 or -1 (sense)

    @property
    def edge(self) -> float:
        """Width of the soft edge (phone px)."""
        return min(max(MIN_EDGE, EDGE_PER_PX * self.amplitude), self.radius)

    @property
    def reach(self) -> float:
        """Distance from the centre beyond which this motion is exactly zero."""
        return self.radius + self.edge / 2

    @property
    def turn(self) -> float:
        """swirl / bulge: the rotation (radians) / relative scaling inside the disc."""
        return self.amplitude / (self.radius - self.edge / 2)

    def as_row(self) -> list[float]:
        """(kind index, cx, cy, radius, amplitude, angle): how the ground truth file stores it."""
        return [float(KINDS.index(self.kind)), *self.centre, self.radius, self.amplitude, self.angle]

    @classmethod
    def from_row(cls, row) -> LocalMotion:
        k, cx, cy, radius, amplitude, angle = (float(v) for v in row)
        return cls(KINDS[int(k)], (cx, cy), radius, amplitude, angle)

    def field(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """D (dx, dy) of this motion at points (xs, ys), float64; zero outside its disc."""
        u = np.asarray(xs, np.float64) - self.centre[0]
        v = np.asarray(ys, np.float64) - self.centre[1]
        r = np.hypot(u, v)
        t = np.clip((self.reach - r) / self.edge, 0.0, 1.0)
        inside = t * t * (3.0 - 2.0 * t)  # 1 inside the disc, 0 beyond its soft edge
        if self.kind == "object":
            a = self.amplitude * inside
            return a * np.cos(self.angle), a * np.sin(self.angle)
        # rotation / scaling by a small factor k about the centre: |D| = k r is the amplitude where
        # the soft edge begins, and peaks a little beyond
        k = self.angle * self.turn * inside
        if self.kind == "swirl":
            return -k * v, k * u
        return k * u, k * v


def motion_count(phone_size: tuple[int, int]) -> int:
    w, h = phone_size
    return max(MIN_COUNT, int(round(w * h / AREA_PER_MOTION)))


def textured_map(phone_rgb: np.ndarray) -> np.ndarray:
    """Where the phone view has texture: 1/0 per TEXTURE_SCALE-px cell, as an integral image
    (float64, one row and column larger) for fast box means."""
    grey = cv2.cvtColor(phone_rgb, cv2.COLOR_RGB2GRAY) if phone_rgb.ndim == 3 else phone_rgb
    grey = grey.astype(np.float32) * np.float32(255.0 if grey.dtype != np.uint8 else 1.0)
    h, w = grey.shape
    small = cv2.resize(grey, (max(1, w // TEXTURE_SCALE), max(1, h // TEXTURE_SCALE)), interpolation=cv2.INTER_AREA)
    k = 1.0 / (8 * TEXTURE_SCALE)  # Sobel's 8x gain, and per phone pixel
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3, scale=k)
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3, scale=k)
    energy = np.sqrt(cv2.blur(gx * gx + gy * gy, (5, 5)))
    return cv2.integral((energy >= TEXTURE_LEVEL).astype(np.uint8), sdepth=cv2.CV_64F)


def _textured_share(integral: np.ndarray, centre: tuple[float, float], radius: float) -> float:
    """Share of textured cells in the square inscribed in the disc."""
    rows, cols = integral.shape[0] - 1, integral.shape[1] - 1
    half = radius / np.sqrt(2) / TEXTURE_SCALE
    cx, cy = centre[0] / TEXTURE_SCALE, centre[1] / TEXTURE_SCALE
    x0, x1 = int(np.clip(round(cx - half), 0, cols)), int(np.clip(round(cx + half), 0, cols))
    y0, y1 = int(np.clip(round(cy - half), 0, rows)), int(np.clip(round(cy + half), 0, rows))
    if x1 <= x0 or y1 <= y0:
        return 0.0
    total = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
    return float(total) / ((x1 - x0) * (y1 - y0))


def draw_local_motions(rng: np.random.Generator, phone_size: tuple[int, int], count: int | None = None,
                       textured: np.ndarray | None = None) -> list[LocalMotion]:
    """About one local motion per ``AREA_PER_MOTION`` of the frame, apart from each other, inside it.

    With ``textured`` (from :func:`textured_map`) motions go where the scene has texture (a
    moved thing is something, not a patch of clear sky); where too little of the frame has, fewer
    motions are placed.
    """
    w, h = phone_size
    count = motion_count(phone_size) if count is None else int(count)
    motions: list[LocalMotion] = []
    for _ in range(40 * count):
        if len(motions) == count:
            break
        kind = KINDS[int(rng.choice(len(KINDS), p=KIND_WEIGHTS))]
        radius = float(rng.uniform(*RADIUS))
        amplitude = min(float(rng.uniform(*AMPLITUDE)), radius / EDGE_PER_PX)
        if kind != "object":  # a rotation / scaling of at most MAX_TURN (a smaller edge only lowers it)
            amplitude = min(amplitude, MAX_TURN * (radius - max(MIN_EDGE, EDGE_PER_PX * amplitude) / 2))
            angle = float(rng.choice([-1.0, 1.0]))
        else:
            angle = float(rng.uniform(0.0, 2 * np.pi))
        reach = LocalMotion(kind, (0.0, 0.0), radius, amplitude, angle).reach
        if 2 * reach + 8 > min(w, h):
            continue  # frame too small for this one
        centre = (float(rng.uniform(reach + 4, w - reach - 4)), float(rng.uniform(reach + 4, h - reach - 4)))
        if textured is not None and _textured_share(textured, centre, radius) < MIN_TEXTURED:
            continue
        if all(np.hypot(centre[0] - o.centre[0], centre[1] - o.centre[1]) > reach + o.reach + 8 for o in motions):
            motions.append(LocalMotion(kind, centre, radius, amplitude, angle))
    return motions


def lipschitz_bound(grid: np.ndarray, step: int) -> float:
    """An upper bound on |D(p) - D(q)| / |p - q| for the bilinear field of ``grid``.

    Within a cell each partial derivative lies between its values on the cell's two edges, so
    the largest Frobenius norm built from the edges' differences bounds the Jacobian's norm.
    """
    gx = np.linalg.norm(np.diff(grid, axis=1), axis=-1) / step  # (rows, cols-1)
    gy = np.linalg.norm(np.diff(grid, axis=0), axis=-1) / step  # (rows-1, cols)
    gx_cell = np.maximum(gx[:-1], gx[1:])
    gy_cell = np.maximum(gy[:, :-1], gy[:, 1:])
    return float(np.sqrt(gx_cell ** 2 + gy_cell ** 2).max()) if gx_cell.size else 0.0


def add_local_motions(grid: np.ndarray, step: int,
                      motions: list[LocalMotion]) -> tuple[np.ndarray, list[LocalMotion]]:
    """``grid`` plus the local motions sampled at its points (float32), and the motions added.

    Should the sum be steeper than ``MAX_GRADIENT`` anywhere, the motions are weakened together
    until it is not (a guard for the inversion's sake; the drawn ranges stay below it).
    """
    rows, cols = grid.shape[:2]
    ys, xs = np.mgrid[0:rows, 0:cols].astype(np.float64) * step
    for _ in range(16):
        out = grid.astype(np.float64)
        for m in motions:
            dx, dy = m.field(xs, ys)
            out[..., 0] += dx
            out[..., 1] += dy
        if lipschitz_bound(out, step) <= MAX_GRADIENT:
            break
        motions = [replace(m, amplitude=0.8 * m.amplitude) for m in motions]
    return np.ascontiguousarray(out, dtype=np.float32), motions
