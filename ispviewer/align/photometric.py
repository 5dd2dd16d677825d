"""Make the phone and target luminance comparable before measuring motion between them.

The phone ISP and the Nikon render tone, contrast and noise differently; none of that may read as
motion.  The steps, all at the flow's working scale:

* :func:`match_tone` maps the phone's grey levels onto the target's (a monotonic curve measured
  from the two images themselves — it undoes the phone's harsh tone curve);
* :func:`normalize_luminance` removes the local mean and divides by the local contrast;
* :func:`gradient_energy` + :func:`trust` say where there is structure to measure at all.
"""

from __future__ import annotations

import cv2
import numpy as np


def stack_radius(sigma: float) -> int:
    """Radius of the stack blur whose kernel has standard deviation ``sigma`` (r(r+2)/6 = sigma^2)."""
    return max(1, int(round(np.sqrt(6 * sigma * sigma + 1) - 1)))


def local_mean(image: np.ndarray, sigma: float) -> np.ndarray:
    """A fast Gaussian-like local mean (stack blur, O(1) per pixel) of standard deviation ``sigma``."""
    k = 2 * stack_radius(sigma) + 1
    return cv2.stackBlur(image, (k, k))


def match_tone(phone: np.ndarray, target: np.ndarray, min_count: int = 32) -> np.ndarray:
    """The phone's uint8 luminance re-mapped through the monotonic curve that best fits the target.

    The curve is, per phone grey level, the mean target level at the same pixels (the images are
    already aligned to a few pixels, and means over many pixels do not care), made monotonic.
    """
    # the joint histogram (exact counts: float32 holds whole numbers to 2**24 per bin) gives both
    # the count and the sum of target levels per phone level, at a tenth of two bincounts' cost
    joint = cv2.calcHist([phone, target], [0, 1], None, [256, 256], [0, 256, 0, 256]).astype(np.float64)
    levels = np.arange(256, dtype=np.float64)
    count = joint.sum(axis=1)
    total = joint @ levels
    seen = count >= min_count
    if seen.sum() < 2:
        return phone
    curve = np.interp(levels, levels[seen], total[seen] / count[seen])
    curve = np.maximum.accumulate(curve)
    return cv2.LUT(phone, np.clip(curve + 0.5, 0, 255).astype(np.uint8))


def normalize_luminance(gray: np.ndarray, *, blur_sigma: float = 1.0, window_sigma: float = 8.0,
                        floor: float = 2.0) -> np.ndarray:
    """Local contrast normalization: (L - local mean) / local std, float32; of each channel alone
    when ``gray`` has several.

    ``blur_sigma`` lightly smooths first (the same for both images, to tame phone noise and
    sharpening halos); ``floor`` (grey levels) keeps flat areas from amplifying noise.
    """
    g = gray.astype(np.float32)
    if blur_sigma > 0:
        g = cv2.GaussianBlur(g, (0, 0), blur_sigma)
    g -= local_mean(g, window_sigma)
    std = local_mean(g * g, window_sigma)
    np.maximum(std, floor * floor, out=std)  # the blur may also round a zero variance below 0
    np.sqrt(std, out=std)
    g /= std
    return g


def structure_tensor(gray: np.ndarray, scale: float, out_size: tuple[int, int] | None = None,
                     blur_sigma: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradient products (gx^2, gy^2, gx*gy) of lightly blurred luminance, float32.

    Gradients are in grey levels per *phone* pixel (``gray`` is at ``scale`` of the phone frame).
    With ``out_size`` (w, h) the products are area-averaged down to it: block means of products
    are exact, so per-patch sums do not change.
    """
    g = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), blur_sigma)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3, scale=scale / 8)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3, scale=scale / 8)
    products = (gx * gx, gy * gy, gx * gy)
    if out_size is not None and out_size != (gray.shape[1], gray.shape[0]):
        products = tuple(cv2.resize(p, out_size, interpolation=cv2.INTER_AREA) for p in products)
    return products


def gradient_energy(jxx: np.ndarray, jyy: np.ndarray, sigma: float) -> np.ndarray:
    """Local RMS gradient (grey levels per phone px) over a window of ``sigma`` pixels."""
    e = local_mean(jxx + jyy, sigma)
    np.maximum(e, 0, out=e)
    return np.sqrt(e, out=e)


def trust(energy_phone: np.ndarray, energy_target: np.ndarray, low: float, high: float) -> np.ndarray:
    """Per-pixel trust in a flow measurement, 0..1: both images need structure (gradient energy)
    above ``low`` grey levels per pixel; full trust from ``high``."""
    c = np.minimum(energy_phone, energy_target)
    t = np.clip((c - low) / (high - low), 0, 1)
    return (t * t * (3 - 2 * t)).astype(np.float32)
