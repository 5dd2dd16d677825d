"""The phone's own ISP, deliberately mediocre: what the phone JPEG of a demo triplet looks like.

Bilinear demosaic, a slightly wrong white balance, the colour-correction matrix, a harsh tone
curve with a saturation push, no denoising (the noise stays visible) and strong unsharp masking
that leaves halos around edges.
"""

from __future__ import annotations

import cv2
import numpy as np

from ispviewer.dataset.demo.cameras import CaptureSettings, PhoneModel
from ispviewer.dataset.demo.unprocess import cfa_channels

_KERNEL_G = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]], np.float32) / 4
_KERNEL_RB = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32) / 4


def bilinear_demosaic(raw: np.ndarray, cfa: str) -> np.ndarray:
    """Float (H, W) mosaic -> (H, W, 3) RGB by bilinear interpolation of each colour's samples."""
    h, w = raw.shape
    chans = cfa_channels(cfa)
    out = np.empty((h, w, 3), np.float32)
    for c in range(3):
        sparse = np.zeros((h, w), np.float32)
        for dy in (0, 1):
            for dx in (0, 1):
                if chans[dy, dx] == c:
                    sparse[dy::2, dx::2] = raw[dy::2, dx::2]
        kernel = _KERNEL_G if c == 1 else _KERNEL_RB
        out[..., c] = cv2.filter2D(sparse, -1, kernel, borderType=cv2.BORDER_REFLECT_101)
    return out


def harsh_tone(x: np.ndarray) -> np.ndarray:
    """A contrasty S-curve that crushes the shadows and clips the highlights early."""
    y = np.clip(1.12 * x - 0.04, 0.0, 1.0)
    return y * y * (3.0 - 2.0 * y)


def render_phone_jpeg_rgb(raw_dn: np.ndarray, phone: PhoneModel, settings: CaptureSettings,
                          rng: np.random.Generator) -> np.ndarray:
    """The phone ISP's uint8 RGB rendering of a raw mosaic (uint16 DN)."""
    x = (raw_dn.astype(np.float32) - phone.black) / np.float32(phone.white - phone.black)
    rgb = bilinear_demosaic(x, phone.cfa)
    # auto white balance that is a little off, as phones' often are
    gains = settings.gains * rng.uniform(0.95, 1.05, 3) * (1.0, 1.0 / rng.uniform(0.98, 1.02), 1.0)
    ccm = (phone.cam2rgb * gains[None, :]).astype(np.float32)  # WB then CCM in one matrix
    rgb = rgb @ ccm.T
    np.clip(rgb, 0.0, 1.0, out=rgb)
    rgb = np.power(rgb, 1.0 / 2.2, dtype=np.float32)
    rgb = harsh_tone(rgb)
    grey = rgb.mean(axis=2, keepdims=True)
    rgb = grey + 1.25 * (rgb - grey)  # saturation push
    blur = cv2.GaussianBlur(rgb, (0, 0), 1.4)
    rgb += 1.3 * (rgb - blur)  # oversharpening: halos at every edge
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
