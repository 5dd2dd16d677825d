"""Training-pair augmentation (crops, flips, transposes) that keeps the Bayer phase exact.

A training pair is a packed raw ``(h, w, 4)`` (planes R, Gr, Gb, B of an RGGB mosaic; see
``ispviewer.dataset.images.load_packed_raw``) and its target ``(2h, 2w, 3)`` on the same
phone-frame grid.  Geometry must act on both identically *and* leave a valid RGGB mosaic.

* Crops: offsets on the packed grid are even offsets of the mosaic, so the 2×2 phase never moves.
* Transpose: transposing an RGGB mosaic gives an RGGB mosaic again, with the two greens
  exchanged (the G right of R moves below it): transpose the planes and swap Gr <-> Gb.
* Flips: mirroring an RGGB mosaic of even width gives GRBG — the first column now holds G.
  Just reversing the packed planes (and relabelling channels) would claim the R sample sits where
  its G neighbour is: a one-pixel colour misregistration the network would learn.  Instead we
  mirror and drop one mosaic column at each side, which lands on R again (Liu et al. 2019,
  "Bayer-pattern-preserving augmentation").  In packed terms the R/Gb planes (even mosaic
  columns) take the mirrored columns ``0..w-2`` and the Gr/B planes (odd mosaic columns)
  ``1..w-1``; the target drops its first and last mirrored column.  The pair loses one packed
  column (two output columns); :func:`random_augment` crops one spare column/row first so its
  output has the requested size.  Vertical flips are the same with rows (R/Gr vs Gb/B).

All functions are numpy-only and return new C-contiguous arrays; ``target`` may be None.
"""

from __future__ import annotations

import numpy as np

R, GR, GB, B = 0, 1, 2, 3


def _check(packed: np.ndarray, target: np.ndarray | None) -> None:
    if packed.ndim != 3 or packed.shape[2] != 4:
        raise ValueError(f"packed raw must be (h, w, 4), got {packed.shape}")
    if target is not None and target.shape[:2] != (2 * packed.shape[0], 2 * packed.shape[1]):
        raise ValueError(f"target {target.shape} is not twice the packed size {packed.shape[:2]}")


def _out(packed: np.ndarray, target: np.ndarray | None):
    return np.ascontiguousarray(packed), None if target is None else np.ascontiguousarray(target)


def crop_pair(packed: np.ndarray, target: np.ndarray | None, y: int, x: int, height: int,
              width: int | None = None):
    """Crop packed[y:y+height, x:x+width] and the matching target (offsets doubled = even)."""
    _check(packed, target)
    width = height if width is None else width
    if y < 0 or x < 0 or height < 1 or width < 1 or y + height > packed.shape[0] or x + width > packed.shape[1]:
        raise ValueError(f"crop ({x}, {y}, {width}x{height}) lies outside the packed raw {packed.shape[:2]}")
    p = packed[y:y + height, x:x + width]
    t = None if target is None else target[2 * y:2 * (y + height), 2 * x:2 * (x + width)]
    return _out(p, t)


def flip_pair(packed: np.ndarray, target: np.ndarray | None, horizontal: bool = True):
    """Bayer-preserving mirror; the flipped axis loses one packed pixel (see the module doc)."""
    _check(packed, target)
    axis = 1 if horizontal else 0
    n = packed.shape[axis]
    if n < 2:
        raise ValueError("a Bayer-preserving flip needs at least 2 packed pixels along the axis")
    mirrored = np.flip(packed, axis)
    # Planes on even mosaic columns (rows) keep mirrored 0..n-2, those on odd ones 1..n-1.
    even, odd = ((R, GB), (GR, B)) if horizontal else ((R, GR), (GB, B))
    out = np.empty(packed.shape[:axis] + (n - 1,) + packed.shape[axis + 1:], packed.dtype)
    lo, hi = [slice(None)] * 2, [slice(None)] * 2
    lo[axis], hi[axis] = slice(0, n - 1), slice(1, n)
    for c in even:
        out[..., c] = mirrored[..., c][tuple(lo)]
    for c in odd:
        out[..., c] = mirrored[..., c][tuple(hi)]
    t = None
    if target is not None:
        keep = [slice(None)] * 2
        keep[axis] = slice(1, 2 * n - 1)
        t = np.flip(target, axis)[tuple(keep)]
    return _out(out, t)


def transpose_pair(packed: np.ndarray, target: np.ndarray | None):
    """Swap x and y: transpose the planes and exchange Gr <-> Gb (exact, no size change)."""
    _check(packed, target)
    p = packed.transpose(1, 0, 2)[..., [R, GB, GR, B]]
    t = None if target is None else target.transpose(1, 0, 2)
    return _out(p, t)


def random_augment(packed: np.ndarray, target: np.ndarray | None, size: int,
                   rng: np.random.Generator, *, flips: bool = True, transpose: bool = True):
    """A random ``size``×``size`` packed crop (target 2·size) with random flips and transpose.

    Draws from all 8 mirror/rotation symmetries when ``flips`` and ``transpose`` are on; a flip
    along an axis is skipped when the pair has no spare pixel along it.
    """
    _check(packed, target)
    h, w = packed.shape[:2]
    if h < size or w < size:
        raise ValueError(f"packed raw {packed.shape[:2]} is smaller than the crop size {size}")
    flip_v = bool(flips and h > size and rng.random() < 0.5)
    flip_h = bool(flips and w > size and rng.random() < 0.5)
    ch, cw = size + flip_v, size + flip_h
    y = int(rng.integers(0, h - ch + 1))
    x = int(rng.integers(0, w - cw + 1))
    p, t = crop_pair(packed, target, y, x, ch, cw)
    if flip_v:
        p, t = flip_pair(p, t, horizontal=False)
    if flip_h:
        p, t = flip_pair(p, t, horizontal=True)
    if transpose and rng.random() < 0.5:
        p, t = transpose_pair(p, t)
    return p, t
