"""The eight EXIF orientations: turning a stored image (or mosaic) into the phone frame.

An orientation code ``o`` (EXIF/TIFF tag 0x0112, DNG ``Orientation``) says how to turn the stored
pixels so that the scene shows upright: 1 as stored, 2 mirrored left-right, 3 turned 180°,
4 mirrored top-bottom, 5 transposed, 6 turned 90° clockwise, 7 transversed, 8 turned 90°
counter-clockwise.  LibRaw reports the same thing as ``sizes.flip`` (0, 1, 3, 2, 4, 6, 7, 5 for
codes 1..8) and its ``postprocess`` applies it; :func:`orient` does exactly what it does.

Everything here works on array views (no copy) so a 12 MP mosaic turns for free until packed;
:func:`orient_image` alone copies (a decoded image turned once, the fastest way).
"""

from __future__ import annotations

import cv2
import numpy as np

#: LibRaw ``sizes.flip`` -> EXIF orientation code.
FLIP_TO_ORIENTATION = {0: 1, 1: 2, 3: 3, 2: 4, 4: 5, 6: 6, 7: 7, 5: 8}
ORIENTATIONS = tuple(range(1, 9))
NAMES = {1: "as stored", 2: "mirrored left-right", 3: "turned 180°", 4: "mirrored top-bottom",
         5: "transposed", 6: "turned 90° clockwise", 7: "transversed", 8: "turned 90° counter-clockwise"}


def check_code(o: int) -> int:
    o = int(o)
    if o not in ORIENTATIONS:
        raise ValueError(f"orientation must be 1..8, got {o}")
    return o


def swaps_axes(o: int) -> bool:
    """True for the orientations that exchange width and height (5..8)."""
    return check_code(o) >= 5


def orient(a: np.ndarray, o: int) -> np.ndarray:
    """The stored array ``a`` (H, W, ...) as displayed under orientation ``o`` (a view)."""
    o = check_code(o)
    if o == 1:
        return a
    if o == 2:
        return a[:, ::-1]
    if o == 3:
        return a[::-1, ::-1]
    if o == 4:
        return a[::-1]
    if o == 5:
        return a.swapaxes(0, 1)
    if o == 6:
        return np.rot90(a, -1)
    if o == 7:
        return a[::-1, ::-1].swapaxes(0, 1)
    return np.rot90(a, 1)


#: OpenCV's whole-image turn for each orientation but the identity and the transposes (5, 7)
_CV_TURN = {
    2: lambda a: cv2.flip(a, 1),
    3: lambda a: cv2.rotate(a, cv2.ROTATE_180),
    4: lambda a: cv2.flip(a, 0),
    6: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
    8: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
}


def orient_image(a: np.ndarray, o: int) -> np.ndarray:
    """:func:`orient` as a C-contiguous copy (``a`` itself for 1), by OpenCV's flips and rotations:
    a 12 MP RGB frame turns 90 degrees in 0.019 s instead of 0.074 s for copying NumPy's strided
    view, 180 degrees in 0.005 s instead of 0.057 s."""
    o = check_code(o)
    if o == 1:
        return a
    turn = _CV_TURN.get(o)
    return turn(a) if turn is not None else np.ascontiguousarray(orient(a, o))


_INVERSE = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}


def inverse(o: int) -> int:
    """The orientation that undoes ``o``: ``orient(orient(a, o), inverse(o))`` is ``a``."""
    return _INVERSE[check_code(o)]


def unorient(a: np.ndarray, o: int) -> np.ndarray:
    """The displayed array back in its stored orientation (what a file tagged ``o`` holds)."""
    return orient(a, inverse(o))


def compose(first: int, then: int) -> int:
    """The single orientation equal to applying ``first`` and then ``then``."""
    probe = np.arange(6).reshape(2, 3)
    turned = orient(orient(probe, first), then)
    for o in ORIENTATIONS:
        candidate = orient(probe, o)
        if candidate.shape == turned.shape and np.array_equal(candidate, turned):
            return o
    raise AssertionError("the eight orientations form a group")  # pragma: no cover


def oriented_size(size: tuple[int, int], o: int) -> tuple[int, int]:
    """(width, height) after orientation ``o``."""
    w, h = size
    return (h, w) if swaps_axes(o) else (w, h)


def matrix(o: int, stored_size: tuple[int, int]) -> np.ndarray:
    """3x3 map from stored pixel centres (x, y) to displayed pixel centres under ``o``."""
    w, h = stored_size
    o = check_code(o)
    # columns: displayed (x', y', 1) = M @ (x, y, 1)
    table = {
        1: ((1, 0, 0), (0, 1, 0)),
        2: ((-1, 0, w - 1), (0, 1, 0)),
        3: ((-1, 0, w - 1), (0, -1, h - 1)),
        4: ((1, 0, 0), (0, -1, h - 1)),
        5: ((0, 1, 0), (1, 0, 0)),
        6: ((0, -1, h - 1), (1, 0, 0)),
        7: ((0, -1, h - 1), (-1, 0, w - 1)),
        8: ((0, 1, 0), (-1, 0, w - 1)),
    }[o]
    return np.array([table[0], table[1], (0, 0, 1)], dtype=np.float64)
