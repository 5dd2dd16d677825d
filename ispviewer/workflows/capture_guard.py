"""The orientation guard: does the raw, in its phone frame, show what the phone image shows?

A quick demosaic of the packed raw (half resolution, as-shot white balance, a display gamma) and
the phone image are brought to a thumbnail (long side :data:`THUMB_SIDE` px) and compared by
*structure correlation*: the normalized cross-correlation of their local-contrast-normalized
luminance (each pixel minus its neighbourhood mean, over its neighbourhood deviation).  That
measure ignores what phone ISPs legitimately change — global and local tone mapping, colour,
denoising, night-mode brightening — and keeps the edges' positions.

The raw is scored in all eight orientations relative to its tagged one.  The verdict:

- **refused** when another orientation scores clearly better: at least :data:`MIN_CLEAR` and
  :data:`MARGIN` above the tagged orientation (a wrong or missing Orientation tag, a phone image
  from another capture turned the same way...);
- **note** when nothing scores :data:`MIN_CLEAR` (flat, dark or heavily processed scenes: the
  orientation cannot be verified), or when another orientation scores about as well as the
  tagged one (a symmetric scene);
- **ok** otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ispviewer.dataset.images import PackedRaw
from ispviewer.dataset.orientation import NAMES, ORIENTATIONS, orient

THUMB_SIDE = 128
MIN_CLEAR = 0.35  # structure correlation a matching orientation reaches on real captures
MARGIN = 0.15  # how much better another orientation must be to call the tagged one wrong
AMBIGUOUS = 0.05  # another orientation within this of the tagged one: a symmetric scene


@dataclass(frozen=True)
class GuardVerdict:
    scores: dict[int, float]  # relative orientation (1 = as tagged) -> structure correlation
    refused: str | None = None  # why the capture must not be used as it is
    note: str | None = None  # what the import should remember (orientation not verifiable...)

    @property
    def best(self) -> int:
        return max(self.scores, key=self.scores.get)


def quick_demosaic(packed: PackedRaw) -> np.ndarray:
    """Half-resolution display-referred luminance (float32, ~[0, 1]) of a packed raw."""
    d = packed.data
    r, g, b = d[..., 0], 0.5 * (d[..., 1] + d[..., 2]), d[..., 3]
    gr, _gg, gb = packed.wb_gains
    lum = 0.2126 * gr * r + 0.7152 * g + 0.0722 * gb * b
    lum = lum / max(float(np.percentile(lum, 99.5)), 1e-6)
    return np.power(np.clip(lum, 0, 1), 1 / 2.2).astype(np.float32)


def luminance(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0


def thumbnail(gray: np.ndarray, side: int = THUMB_SIDE, size: tuple[int, int] | None = None) -> np.ndarray:
    """Area-averaged thumbnail: long side ``side``, or exactly ``size`` (w, h)."""
    h, w = gray.shape
    if size is None:
        f = max(w, h) / side
        size = (max(8, round(w / f)), max(8, round(h / f)))
    return cv2.resize(np.ascontiguousarray(gray), size, interpolation=cv2.INTER_AREA)


def structure(gray: np.ndarray, sigma: float = 4.0) -> np.ndarray:
    """Local-contrast-normalized luminance: tone curves and local brightening cancel out."""
    log = np.log(gray + 0.02)  # a gamma or exposure change is (nearly) an offset and a scale here
    mean = cv2.GaussianBlur(log, (0, 0), sigma)
    dev = log - mean
    spread = np.sqrt(cv2.GaussianBlur(dev * dev, (0, 0), sigma)) + 0.02
    return dev / spread


def structure_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """NCC of two structure maps of the same shape (1: same edges, ~0: unrelated)."""
    a = a - a.mean()
    b = b - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 1e-9 else 0.0


def orientation_scores(raw_gray: np.ndarray, phone_gray: np.ndarray) -> dict[int, float]:
    """Structure correlation of the raw turned each of the 8 ways against the phone image.

    Both are thumbnailed; a turned raw whose aspect differs from the phone image's is resized to
    it (a portrait raw against a landscape image still scores low, a right turn high).
    """
    phone = thumbnail(phone_gray)
    ph, pw = phone.shape
    target = structure(phone)
    raw_small = thumbnail(raw_gray)
    out = {}
    for o in ORIENTATIONS:
        turned = np.ascontiguousarray(orient(raw_small, o))
        if turned.shape != (ph, pw):
            turned = cv2.resize(turned, (pw, ph), interpolation=cv2.INTER_AREA)
        out[o] = structure_correlation(structure(turned), target)
    return out


def judge(scores: dict[int, float]) -> GuardVerdict:
    tagged = scores[1]
    best = max(scores, key=scores.get)
    if best != 1 and scores[best] >= MIN_CLEAR and scores[best] - tagged >= MARGIN:
        return GuardVerdict(scores, refused=(
            f"the raw shows the phone image's scene only {NAMES[best]} from its tagged orientation "
            f"(structure correlation {scores[best]:.2f}, as tagged {tagged:.2f}): its orientation tag "
            "or the phone image is wrong"))
    if scores[best] < MIN_CLEAR:
        return GuardVerdict(scores, note=(
            f"orientation not verifiable: raw and phone image agree weakly in every orientation "
            f"(best structure correlation {scores[best]:.2f} < {MIN_CLEAR}; flat or dark scene, or heavy processing)"))
    rivals = [o for o in ORIENTATIONS if o != 1 and scores[o] >= tagged - AMBIGUOUS]
    if rivals:
        return GuardVerdict(scores, note=(
            f"orientation ambiguous: the scene looks alike {NAMES[rivals[0]]} "
            f"(structure correlation {scores[rivals[0]]:.2f} vs {tagged:.2f} as tagged)"))
    return GuardVerdict(scores)


def guard(packed: PackedRaw, phone_rgb: np.ndarray) -> GuardVerdict:
    """The verdict for a raw in its phone frame and the phone image (any resolution)."""
    return judge(orientation_scores(quick_demosaic(packed), luminance(phone_rgb)))
