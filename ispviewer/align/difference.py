"""A difference image that shows misalignment, not tone.

The phone ISP and the Nikon render the same scene with different tone curves, colour and local
contrast, so a plain ``|phone − target|`` is bright everywhere.  Here each source is first matched
to the target's *local* tone, channel by channel: its local mean and local contrast (a Gaussian
window) are replaced by the target's,

    s' = μ_t + (s − μ_s) · σ_t / sqrt(σ_s² + ε²)

which leaves an aligned pair identical up to noise whatever the global or slowly varying colour,
brightness and contrast — while an edge that sits a few pixels apart in the two images cannot be
matched by any local gain and offset, and stands out.  ``ε`` keeps flat, noisy areas from being
amplified.  Pixels either image marks as missing (mask 0) are excluded from the local statistics.

Plain numpy / OpenCV: safe in any thread.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Gaussian window (pixels of the images passed in) over which mean and contrast are matched.
WINDOW_SIGMA = 6.0
#: Contrast (fraction of full scale) below which a source's local contrast is not stretched.
CONTRAST_FLOOR = 0.02


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def _local_stats(image: np.ndarray, weight: np.ndarray, norm: np.ndarray, sigma: float):
    """Weighted local mean and variance per channel of ``image`` (h, w, c) float32."""
    w = weight[..., None]
    mean = _blur(image * w, sigma).reshape(image.shape) / norm[..., None]
    square = _blur(image * image * w, sigma).reshape(image.shape) / norm[..., None]
    return mean, np.maximum(square - mean * mean, 0.0)


def match_local_tone(source: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None, *,
                     sigma: float = WINDOW_SIGMA, floor: float = CONTRAST_FLOOR) -> np.ndarray:
    """``source`` with, per channel, the target's local mean and contrast (float32 in [0, 1]).

    ``source`` and ``target``: (h, w, 3) images of one size (uint8, or float in [0, 1]); ``mask``:
    (h, w), nonzero where both hold valid pixels (default: everywhere).
    """
    s, t = _as_float(source), _as_float(target)
    if s.shape != t.shape:
        raise ValueError(f"images differ in shape: {s.shape} vs {t.shape}")
    weight = np.ones(s.shape[:2], np.float32) if mask is None else (np.asarray(mask) > 0).astype(np.float32)
    norm = np.maximum(_blur(weight, sigma), 1e-6)
    mean_s, var_s = _local_stats(s, weight, norm, sigma)
    mean_t, var_t = _local_stats(t, weight, norm, sigma)
    gain = np.sqrt(var_t) / np.sqrt(var_s + floor * floor)
    out = mean_t + (s - mean_s) * gain
    return np.clip(out, 0.0, 1.0, out=out)


def tone_matched_difference(source: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None, *,
                            sigma: float = WINDOW_SIGMA, floor: float = CONTRAST_FLOOR) -> np.ndarray:
    """Mean over RGB of ``|match_local_tone(source) − target|``: (h, w) float32, fraction of full
    scale; 0 where ``mask`` is 0."""
    matched = match_local_tone(source, target, mask, sigma=sigma, floor=floor)
    diff = np.abs(matched - _as_float(target)).mean(axis=2)
    if mask is not None:
        diff[np.asarray(mask) == 0] = 0.0
    return diff


def plain_difference(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Mean over RGB of ``|source − target|`` without any tone matching (float32 fraction)."""
    return np.abs(_as_float(source) - _as_float(target)).mean(axis=2)


def _as_float(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)[..., :3]
    if image.dtype == np.uint8:
        return image.astype(np.float32) * np.float32(1.0 / 255.0)
    return image.astype(np.float32, copy=False)
