"""How a phone image that is not the raw's exact geometry relates to it, measured.

Some phones write an image that is another crop of the sensor, or scaled.  The relation is
estimated on a quick demosaic of the raw (its phone frame, half resolution) with the aligner's
SIFT homography and described in words: turned (an orientation tag that is wrong), scaled,
shifted.  The import refuses such captures with this measured reason rather than misregistering
them; nothing here guesses silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ispviewer.align.errors import AlignmentError
from ispviewer.align.homography import SiftParams, sift_homography
from ispviewer.dataset.images import PackedRaw
from ispviewer.dataset.orientation import NAMES
from ispviewer.workflows.capture_guard import MARGIN, MIN_CLEAR, luminance, orientation_scores, quick_demosaic


@dataclass(frozen=True)
class RawRelation:
    """phone-image px -> raw phone-frame px, as measured."""

    matrix: np.ndarray  # 3x3
    scale: float  # raw px per phone-image px
    rotation_deg: float
    offset: tuple[float, float]  # raw-frame position of the phone image's top-left pixel
    inliers: int

    def describe(self, phone_size: tuple[int, int]) -> str:
        w, h = phone_size
        ox, oy = self.offset
        kind = "another crop of the sensor" if abs(self.scale - 1) < 0.01 else f"scaled by {1 / self.scale:.3f}"
        return (f"measured on a quick demosaic: the phone image is {kind}, its {w}x{h} px cover "
                f"{w * self.scale:.0f}x{h * self.scale:.0f} raw px from ({ox:.1f}, {oy:.1f}), turned "
                f"{self.rotation_deg:.2f}° ({self.inliers} SIFT inliers); only the raw's own frames "
                "(visible area, default crop) are imported — write the phone image at that geometry")


def _to_u8(gray: np.ndarray) -> np.ndarray:
    return np.clip(gray * 255.0 + 0.5, 0, 255).astype(np.uint8)


def estimate_relation(packed: PackedRaw, phone_rgb: np.ndarray) -> RawRelation:
    """The raw->image relation by SIFT + RANSAC; AlignmentError when none is found."""
    raw_gray = _to_u8(quick_demosaic(packed))  # half resolution: packed pixel = 2 raw px
    phone_gray = _to_u8(luminance(phone_rgb))
    params = SiftParams(long_side=512, retry_long_side=None, min_inliers=12)  # the relation's SIFT, unchanged
    H, _matches, inliers = sift_homography(raw_gray, phone_gray, params)
    H = np.diag([2.0, 2.0, 1.0]) @ H  # phone image px -> raw frame px
    H /= H[2, 2]
    a = H[:2, :2]
    scale = float(np.sqrt(abs(np.linalg.det(a))))
    rotation = float(np.degrees(np.arctan2(a[1, 0], a[0, 0])))
    return RawRelation(H, scale, rotation, (float(H[0, 2]), float(H[1, 2])), int(inliers))


def explain(packed: PackedRaw, phone_rgb: np.ndarray) -> str:
    """A measured reason for a phone image that fits none of the raw's frames."""
    scores = orientation_scores(quick_demosaic(packed), luminance(phone_rgb))
    best = max(scores, key=scores.get)
    if best != 1 and scores[best] >= MIN_CLEAR and scores[best] - scores[1] >= MARGIN:
        return (f"the raw matches the phone image {NAMES[best]} from its tagged orientation "
                f"(structure correlation {scores[best]:.2f}, as tagged {scores[1]:.2f}): its orientation tag is wrong "
                "or missing")
    try:
        relation = estimate_relation(packed, phone_rgb)
    except AlignmentError as exc:
        return f"no relation between raw and phone image could be measured ({exc})"
    return relation.describe((phone_rgb.shape[1], phone_rgb.shape[0]))
