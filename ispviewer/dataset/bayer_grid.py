"""Where a patch's raw crop lies on the mosaic so that it starts on a red sample (RGGB order).

A patch (x, y, size) of the phone frame has even x, y; on a sensor whose pattern is not RGGB the
red sample of the 2x2 tile is one row and/or column off.  The crop that keeps the mosaic's own
Bayer phase and reads as RGGB is the one whose corner is the nearest red sample: one pixel up/left
of the patch (or down/right at the frame's top/left edge).  The target patch follows that corner.
"""

from __future__ import annotations


def rggb_corner(x: int, y: int, size: int, origin: tuple[int, int],
                frame: tuple[int, int]) -> tuple[int, int] | None:
    """Phone-frame corner (gx, gy) of the size×size crop nearest (x, y) that starts on a red
    sample of a packed raw whose R of packed pixel (0, 0) is at ``origin`` = (oy, ox); None when
    no such crop fits in the ``frame`` = (width, height)."""
    oy, ox = origin
    w, h = frame
    out = []
    for pos, o, limit in ((x, ox, w), (y, oy, h)):
        g = pos - ((pos - o) % 2)  # the red column/row at or before pos
        if g < 0:
            g += 2
        if g + size > limit:
            g -= 2
        if g < 0 or g + size > limit:
            return None
        out.append(g)
    return out[0], out[1]
