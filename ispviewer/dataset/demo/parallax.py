"""Rig parallax for the hard demo variant: near objects displaced against the background.

Two cameras side by side on a rig see a near object shifted against the far background by many
pixels (here 5 to 25 phone px), with sharp occlusion borders: next to the object the target shows
background the phone never saw, and hides background the phone sees.

A near object is an ellipse of the phone frame.  Its content is the scene mirrored through the
ellipse's centre and tinted (photographic texture that differs from what surrounds it, so its
border is an edge).  Contract, in the words of :mod:`.geometry`: for a phone pixel p inside the
ellipse, D(p) = D_bg(p) + shift, where D_bg is the displacement grid; elsewhere D(p) = D_bg(p).
Phone pixels whose background point the object covers in the target are *occluded*: their D is
still the background's, but no target pixel shows them.

Rows stored in the ground truth (``near_objects``, one per object):
``cx, cy, ax, ay, angle, shift_x, shift_y, tint_r, tint_g, tint_b``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ispviewer.dataset.demo.geometry import apply_homography, sample_displacement

#: parallax shift range (phone px): near objects against the background
SHIFT_PX = (5.0, 25.0)
#: semi-axis range as a share of the frame's long side, and the smallest in phone px
AXIS_SHARE = (0.05, 0.12)
MIN_AXIS_PX = 48.0
#: objects per capture
COUNT = (2, 4)
#: fixed-point iterations solving p + D_bg(p) = q (|grad D_bg| <= 0.7: 0.7^24 < 2e-4)
SOLVE_ITERATIONS = 24
ROW = 10


@dataclass(frozen=True)
class NearObject:
    centre: tuple[float, float]  # phone px
    axes: tuple[float, float]  # semi-axes (phone px)
    angle: float  # radians, of the first axis
    shift: tuple[float, float]  # phone px, added to D inside the ellipse
    tint: tuple[float, float, float]

    def as_row(self) -> list[float]:
        return [*self.centre, *self.axes, self.angle, *self.shift, *self.tint]

    @classmethod
    def from_row(cls, row) -> NearObject:
        r = [float(v) for v in row]
        return cls((r[0], r[1]), (r[2], r[3]), r[4], (r[5], r[6]), (r[7], r[8], r[9]))

    def distance(self, xs, ys) -> np.ndarray:
        """Approximate signed distance (phone px) to the ellipse's border, negative inside."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        u = np.asarray(xs, np.float64) - self.centre[0]
        v = np.asarray(ys, np.float64) - self.centre[1]
        a, b = self.axes
        e = np.hypot((c * u + s * v) / a, (-s * u + c * v) / b)
        return (e - 1.0) * min(a, b)

    def inside(self, xs, ys) -> np.ndarray:
        return self.distance(xs, ys) < 0

    def bbox(self, pad: float) -> tuple[float, float, float, float]:
        r = max(self.axes) + pad
        return self.centre[0] - r, self.centre[1] - r, self.centre[0] + r, self.centre[1] + r


def draw_near_objects(rng: np.random.Generator, phone_size: tuple[int, int]) -> list[NearObject]:
    """2-4 near objects apart from each other, inside the frame; mostly horizontal parallax."""
    w, h = phone_size
    long_side = max(w, h)
    count = int(rng.integers(COUNT[0], COUNT[1] + 1))
    objects: list[NearObject] = []
    for _ in range(40 * count):
        if len(objects) == count:
            break
        a = max(MIN_AXIS_PX, long_side * rng.uniform(*AXIS_SHARE))
        b = a * rng.uniform(0.6, 1.0)
        if 2 * a + 16 > min(w, h):
            continue
        centre = (float(rng.uniform(a + 8, w - a - 8)), float(rng.uniform(a + 8, h - a - 8)))
        if any(np.hypot(centre[0] - o.centre[0], centre[1] - o.centre[1]) < a + max(o.axes) + 40 for o in objects):
            continue
        magnitude = rng.uniform(*SHIFT_PX)
        direction = rng.normal(0.0, 0.25) + (np.pi if rng.random() < 0.5 else 0.0)  # a horizontal rig baseline
        objects.append(NearObject(centre, (float(a), float(b)), float(rng.uniform(0, np.pi)),
                                  (float(magnitude * np.cos(direction)), float(magnitude * np.sin(direction))),
                                  tuple(float(v) for v in rng.uniform(0.65, 1.2, 3))))
    return objects


def object_rows(objects: list[NearObject]) -> np.ndarray:
    return np.array([o.as_row() for o in objects], np.float64).reshape(-1, ROW)


def objects_of(rows: np.ndarray) -> list[NearObject]:
    return [NearObject.from_row(r) for r in np.asarray(rows).reshape(-1, ROW)]


def parallax_displacement(rows: np.ndarray, xs, ys) -> tuple[np.ndarray, np.ndarray]:
    """The near objects' part of D at phone points: their shift inside, zero elsewhere (float32)."""
    xs = np.asarray(xs, np.float32)
    dx = np.zeros(xs.shape, np.float32)
    dy = np.zeros(xs.shape, np.float32)
    for o in objects_of(rows):
        m = o.inside(xs, ys)
        dx[m] += np.float32(o.shift[0])
        dy[m] += np.float32(o.shift[1])
    return dx, dy


def _solve(grid: np.ndarray, step: int, qx: np.ndarray, qy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p with p + D_bg(p) = q (fixed-point iteration)."""
    px, py = qx.astype(np.float32), qy.astype(np.float32)
    for _ in range(SOLVE_ITERATIONS):
        dx, dy = sample_displacement(grid, step, px, py)
        px, py = qx - dx, qy - dy
    return px, py


def occluded(rows: np.ndarray, grid: np.ndarray, step: int, xs, ys) -> np.ndarray:
    """Phone points (outside every object) whose background point an object hides in the target."""
    xs = np.asarray(xs, np.float32)
    ys = np.asarray(ys, np.float32)
    objects = objects_of(rows)
    hidden = np.zeros(xs.shape, bool)
    if not objects:
        return hidden
    dbx, dby = sample_displacement(grid, step, xs, ys)
    own = np.zeros(xs.shape, bool)
    for o in objects:
        own |= o.inside(xs, ys)
    for o in objects:  # the object point seen where this background point is: p' + D_bg(p') + s = p + D_bg(p)
        px, py = _solve(grid, step, xs + dbx - np.float32(o.shift[0]), ys + dby - np.float32(o.shift[1]))
        hidden |= o.inside(px, py)
    return hidden & ~own


def _canvas_index(frame, x: np.ndarray, axis: int) -> np.ndarray:
    s = np.float32(frame.scale)
    return (x - np.float32(frame.origin[axis] - 0.5)) * s - np.float32(0.5)


def _sprite(canvas: np.ndarray, frame, o: NearObject, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """The object's content at phone points: the scene mirrored through its centre, tinted."""
    mx = _canvas_index(frame, np.float32(2 * o.centre[0]) - px, 0).astype(np.float32)
    my = _canvas_index(frame, np.float32(2 * o.centre[1]) - py, 1).astype(np.float32)
    out = cv2.remap(canvas, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return out * np.asarray(o.tint, np.float32)


def _coverage(o: NearObject, px: np.ndarray, py: np.ndarray, pixel: float) -> np.ndarray:
    """Antialiased share of a pixel (``pixel`` phone px wide) that the object covers."""
    return np.clip(0.5 - o.distance(px, py) / pixel, 0.0, 1.0).astype(np.float32)[..., None]


def paint_phone_view(phone_srgb: np.ndarray, canvas: np.ndarray, frame, objects: list[NearObject]) -> np.ndarray:
    """The phone view with the near objects in front (composited at the canvas's resolution)."""
    out = phone_srgb.copy()
    h, w = out.shape[:2]
    s = frame.scale
    for o in objects:
        x0, y0, x1, y1 = o.bbox(2)
        x0, y0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
        x1, y1 = min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
        if x1 <= x0 or y1 <= y0:
            continue
        cx, cy = (x0 - frame.origin[0]) * s, (y0 - frame.origin[1]) * s
        bg = canvas[cy:cy + (y1 - y0) * s, cx:cx + (x1 - x0) * s]
        ys, xs = np.mgrid[0:bg.shape[0], 0:bg.shape[1]].astype(np.float32)
        px = np.float32(x0 - 0.5) + (xs + np.float32(0.5)) / np.float32(s)
        py = np.float32(y0 - 0.5) + (ys + np.float32(0.5)) / np.float32(s)
        alpha = _coverage(o, px, py, 1.0 / s)
        fine = bg * (1 - alpha) + _sprite(canvas, frame, o, px, py) * alpha
        out[y0:y1, x0:x1] = cv2.resize(fine, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    return out


def paint_target_view(target: np.ndarray, canvas: np.ndarray, frame, hom: np.ndarray, grid: np.ndarray,
                      step: int, objects: list[NearObject], target_pixel: float) -> None:
    """Put the near objects into the target view (in place), where the target camera sees them.

    Target pixel t shows object point p when p + D_bg(p) + shift = H(t) and p lies inside the ellipse.
    ``target_pixel``: the size of a target pixel in phone px (for antialiasing).
    """
    th, tw = target.shape[:2]
    reach = float(np.abs(grid).max()) + 4
    inv = np.linalg.inv(hom)
    for o in objects:
        x0, y0, x1, y1 = o.bbox(reach)
        corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]) + o.shift
        tx, ty = apply_homography(inv, corners[:, 0], corners[:, 1])
        a0, b0 = max(0, int(np.floor(tx.min()))), max(0, int(np.floor(ty.min())))
        a1, b1 = min(tw, int(np.ceil(tx.max())) + 1), min(th, int(np.ceil(ty.max())) + 1)
        if a1 <= a0 or b1 <= b0:
            continue
        ty_, tx_ = np.mgrid[b0:b1, a0:a1].astype(np.float64)
        qx, qy = apply_homography(hom, tx_, ty_)
        px, py = _solve(grid, step, (qx - o.shift[0]).astype(np.float32), (qy - o.shift[1]).astype(np.float32))
        alpha = _coverage(o, px, py, target_pixel)
        roi = target[b0:b1, a0:a1]
        roi *= 1 - alpha
        roi += _sprite(canvas, frame, o, px, py) * alpha
