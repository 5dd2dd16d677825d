"""The simulated phones: sensor layout, bit depth, levels, colour response and noise.

Colour follows the unprocessing model of Brooks et al. (2019): the sensor sees
``camera = rgb2cam @ linear_srgb`` (rows of ``rgb2cam`` sum to one, so white stays neutral before
white balance), then each channel is divided by its white-balance gain.  The overlap between the
colour filters (positive off-diagonal terms) is what the phone's colour-correction matrix undoes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: linear sRGB (D65) -> CIE XYZ
RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                       [0.2126729, 0.7151522, 0.0721750],
                       [0.0193339, 0.1191920, 0.9503041]])


@dataclass(frozen=True)
class PhoneModel:
    """One simulated phone camera."""

    make: str
    model: str
    cfa: str  # 2x2 colour filter pattern, row-major, e.g. "RGGB"
    bits: int  # bits per raw sample
    black: int  # black level (DN)
    filter_overlap: tuple[tuple[float, ...], ...]  # un-normalized rgb -> camera mixing
    shot_noise: tuple[float, float]  # range of the shot-noise variance factor (normalized units)
    red_gain: tuple[float, float]  # range of the white-balance gains drawn per capture
    blue_gain: tuple[float, float]

    @property
    def white(self) -> int:
        return (1 << self.bits) - 1

    @property
    def rgb2cam(self) -> np.ndarray:
        """Linear sRGB -> camera RGB, rows normalized to sum to one."""
        m = np.asarray(self.filter_overlap, dtype=np.float64)
        return m / m.sum(axis=1, keepdims=True)

    @property
    def cam2rgb(self) -> np.ndarray:
        """The colour-correction matrix: camera RGB (white balanced) -> linear sRGB."""
        return np.linalg.inv(self.rgb2cam)

    @property
    def xyz2cam(self) -> np.ndarray:
        """CIE XYZ -> camera RGB, what DNG's ColorMatrix1 stores."""
        return self.rgb2cam @ np.linalg.inv(RGB_TO_XYZ)


IPHONE_6S = PhoneModel(
    make="Apple", model="iPhone 6s", cfa="RGGB", bits=12, black=528,
    filter_overlap=((0.78, 0.20, 0.02), (0.10, 0.80, 0.10), (0.03, 0.25, 0.72)),
    shot_noise=(0.0008, 0.0020), red_gain=(1.8, 2.3), blue_gain=(1.4, 1.8),
)

XIAOMI_MI9 = PhoneModel(
    make="Xiaomi", model="Mi 9", cfa="BGGR", bits=10, black=64,
    filter_overlap=((0.70, 0.26, 0.04), (0.12, 0.76, 0.12), (0.02, 0.30, 0.68)),
    shot_noise=(0.0010, 0.0025), red_gain=(1.9, 2.4), blue_gain=(1.5, 1.9),
)

#: the demo alternates between these, triplet by triplet
PHONE_MODELS: tuple[PhoneModel, ...] = (IPHONE_6S, XIAOMI_MI9)


@dataclass(frozen=True)
class CaptureSettings:
    """What is drawn per capture: white-balance gains and noise level."""

    red_gain: float
    blue_gain: float
    shot_noise: float
    read_noise: float  # variance of the signal-independent noise (normalized units)

    @property
    def gains(self) -> np.ndarray:
        return np.array([self.red_gain, 1.0, self.blue_gain])

    @property
    def as_shot_neutral(self) -> np.ndarray:
        """Camera RGB of a neutral (white) surface, normalized to green = 1."""
        return 1.0 / self.gains


def draw_capture_settings(phone: PhoneModel, rng: np.random.Generator) -> CaptureSettings:
    """White-balance gains and a shot/read noise pair, as in Brooks et al. (read ~ shot^2.18)."""
    red = rng.uniform(*phone.red_gain)
    blue = rng.uniform(*phone.blue_gain)
    log_shot = rng.uniform(np.log(phone.shot_noise[0]), np.log(phone.shot_noise[1]))
    log_read = 2.18 * log_shot + 1.20 + rng.normal(0.0, 0.26)
    return CaptureSettings(red_gain=float(red), blue_gain=float(blue),
                           shot_noise=float(np.exp(log_shot)), read_noise=float(np.exp(log_read)))
