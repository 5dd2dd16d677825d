"""Inverse ISP ("unprocessing", Brooks et al. 2019): an sRGB image -> the phone's Bayer raw.

sRGB -> undo the tone curve -> undo the gamma -> camera RGB (inverse colour-correction matrix)
-> undo the white balance -> mosaic to the phone's CFA -> shot + read noise -> black level and
quantization to the phone's bit depth.
"""

from __future__ import annotations

import numpy as np

from ispviewer.dataset.demo.cameras import CaptureSettings, PhoneModel

_CHANNEL = {"R": 0, "G": 1, "B": 2}


def inverse_tone(srgb: np.ndarray) -> np.ndarray:
    """Undo the global smoothstep tone curve 3x^2 - 2x^3."""
    x = np.clip(srgb, 0.0, 1.0)
    return 0.5 - np.sin(np.arcsin(1.0 - 2.0 * x) / 3.0)


def inverse_gamma(x: np.ndarray) -> np.ndarray:
    return np.power(np.maximum(x, 1e-8), 2.2)


def cfa_channels(cfa: str) -> np.ndarray:
    """The RGB channel index at each of the 2x2 CFA positions, e.g. RGGB -> [[0, 1], [1, 2]]."""
    return np.array([_CHANNEL[c] for c in cfa]).reshape(2, 2)


def mosaic(rgb: np.ndarray, cfa: str) -> np.ndarray:
    """Keep one colour per pixel, following the 2x2 pattern ``cfa``."""
    h, w = rgb.shape[:2]
    out = np.empty((h, w), rgb.dtype)
    chans = cfa_channels(cfa)
    for dy in (0, 1):
        for dx in (0, 1):
            out[dy::2, dx::2] = rgb[dy::2, dx::2, chans[dy, dx]]
    return out


def unprocess_to_raw(srgb: np.ndarray, phone: PhoneModel, settings: CaptureSettings,
                     rng: np.random.Generator) -> np.ndarray:
    """The phone's raw mosaic (uint16 DN, black level included) for an sRGB image in [0, 1]."""
    linear = inverse_gamma(inverse_tone(srgb.astype(np.float32)))
    cam = linear @ phone.rgb2cam.T.astype(np.float32)
    cam /= settings.gains.astype(np.float32)
    raw = mosaic(np.clip(cam, 0.0, 1.0), phone.cfa)
    variance = settings.shot_noise * raw + settings.read_noise
    raw += np.sqrt(variance) * rng.standard_normal(raw.shape, dtype=np.float32)
    scale = phone.white - phone.black
    dn = np.rint(raw * scale) + phone.black
    return np.clip(dn, 0, phone.white).astype(np.uint16)
