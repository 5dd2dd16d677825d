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


def flow_consistency(phone_norm: np.ndarray, target_norm: np.ndarray, flow: np.ndarray, max_residual: float,
                     max_step_px: float, out_size: tuple[int, int]) -> np.ndarray:
    """Share of consistent flow per pixel of ``out_size`` (w, h), float32 in [0, 1].

    ``flow`` is in pixels of the normalized inputs (``phone(p) ~ target(p + flow(p))``).  A pixel
    is inconsistent where the mean residual |phone - moved target| over 5x5 px exceeds
    ``max_residual``, or where the flow changes by more than ``max_step_px`` per px.
    """
    h, w = phone_norm.shape
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys = np.arange(h, dtype=np.float32)[:, None]
    moved = cv2.remap(target_norm, flow[..., 0] + xs, flow[..., 1] + ys, cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE)
    residual = cv2.blur(np.abs(phone_norm - moved), (5, 5))
    step = np.zeros((h, w), np.float32)
    for c in (0, 1):
        gx = cv2.Sobel(flow[..., c], cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8)
        gy = cv2.Sobel(flow[..., c], cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8)
        np.maximum(step, np.abs(gx), out=step)
        np.maximum(step, np.abs(gy), out=step)
    ok = ((residual <= max_residual) & (step <= max_step_px)).astype(np.float32)
    if (w, h) != tuple(out_size):
        ok = cv2.resize(ok, tuple(out_size), interpolation=cv2.INTER_AREA)
    return ok


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
