"""Where the flow can be believed, and why a patch could not be measured.

A dense flow is an estimate everywhere, right or wrong.  Two checks find where it is wrong:

* photometric consistency: the phone luminance and the target luminance moved by the flow must
  agree (both are locally normalized, so tone differences do not count); where the target shows
  something else — background the phone never saw beside a near object, a thing that moved —
  they do not;
* smoothness: the flow must not jump; a step of more than a fraction of a pixel per pixel is an
  occlusion or motion boundary, where the estimator blends two motions.

A patch with too much inconsistent flow is not measurable ("flow not trusted").  Each patch the
aligner cannot measure, or measures with a caveat, keeps the cause as its reason.
"""

from __future__ import annotations

import cv2
import numpy as np

from ispviewer.dataset.rules import LOW_TEXTURE_REASON

CLIPPED = "clipped highlights or shadows: too little detail to measure misalignment"
FLOW_NOT_TRUSTED = "flow not trusted: occlusion or motion boundary inside the patch"
EDGE_OF_SEARCH = "match at the edge of the search range"


def flow_inconsistency(phone_norm: np.ndarray, target_norm: np.ndarray, flow: np.ndarray, max_residual: float,
                       max_step_px: float, out_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Shares of inconsistent flow per pixel of ``out_size`` (w, h): (residual, step), float32 in [0, 1].

    ``flow`` is in pixels of the normalized inputs (``phone(p) ~ target(p + flow(p))``).  A pixel
    fails the residual test where the mean |phone - moved target| over 5x5 px exceeds
    ``max_residual``, the step test where the flow changes by more than ``max_step_px`` per px (a
    step counts half as much in flat areas, where any estimator's flow wanders, see
    :func:`combine`).
    """
    h, w = phone_norm.shape
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys = np.arange(h, dtype=np.float32)[:, None]
    moved = cv2.remap(target_norm, flow[..., 0] + xs, flow[..., 1] + ys, cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE)
    residual = cv2.blur(np.abs(phone_norm - moved), (5, 5))
    bad_residual = (residual > max_residual).astype(np.float32)
    out_size = tuple(out_size)
    coarse = flow if (w, h) == out_size else cv2.resize(flow, out_size, interpolation=cv2.INTER_AREA)
    # the step per px is the same in any unit as long as flow and position share it: the coarse
    # map's px is w / out_w input px
    step = np.zeros(coarse.shape[:2], np.float32)
    for c in (0, 1):
        for dx, dy in ((1, 0), (0, 1)):
            g = cv2.Sobel(coarse[..., c], cv2.CV_32F, dx, dy, ksize=3, scale=out_size[0] / w / 8)
            np.maximum(step, np.abs(g), out=step)
    bad_step = (step > max_step_px).astype(np.float32)
    if (w, h) != out_size:
        bad_residual = cv2.resize(bad_residual, out_size, interpolation=cv2.INTER_AREA)
    return bad_residual, bad_step


def combine(residual_bad: np.ndarray, step_bad: np.ndarray, structure: np.ndarray) -> np.ndarray:
    """Per-pixel consistency in [0, 1] from :func:`flow_inconsistency`'s maps and the structure
    trust (0..1) of the same pixels: flow steps count half in flat areas."""
    bad = residual_bad + step_bad * (0.5 + 0.5 * structure)
    return np.clip(1.0 - bad, 0.0, 1.0).astype(np.float32)


def patch_causes(textured: np.ndarray, trusted: np.ndarray, clipped: np.ndarray, inconsistent: np.ndarray,
                 at_edge: np.ndarray) -> list[str | None]:
    """Per patch, why it is not measurable (or, for EDGE_OF_SEARCH, measured with a caveat); None: fine.

    All inputs are (N,) bool: enough texture, enough trusted (structured) area, mostly clipped,
    too much inconsistent flow, NCC match on the border of the search range.
    """
    causes: list[str | None] = []
    for k in range(len(textured)):
        if not (textured[k] and trusted[k]):
            causes.append(CLIPPED if clipped[k] else LOW_TEXTURE_REASON)
        elif inconsistent[k]:
            causes.append(FLOW_NOT_TRUSTED)
        elif at_edge[k]:
            causes.append(EDGE_OF_SEARCH)
        else:
            causes.append(None)
    return causes
