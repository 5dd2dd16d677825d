"""Randomised camera looks for the hard demo variant: each capture's two cameras render differently.

A look is everything a camera's processing changes about the picture without moving anything:
exposure, vignetting, a colour matrix, the tone curve, saturation, denoising and sharpening, and
the JPEG encoder's quality and chroma subsampling.  Looks are drawn per capture and per camera, so
an aligner tuned to one pair of renderings meets renderings it has never seen.

The one geometric part, a slight lens-distortion difference between the cameras, is not here but
in :func:`lens_distortion_grid`: it is part of the displacement field D, so the ground truth holds it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ispviewer.dataset.demo.cameras import CaptureSettings, PhoneModel
from ispviewer.dataset.demo.phone_isp import bilinear_demosaic

#: encoder chroma subsampling choices: name -> OpenCV sampling factor
SUBSAMPLING = {"4:4:4": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444, "4:2:2": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
               "4:2:0": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420}
#: the largest lens-distortion difference between the cameras (phone px, at the frame's corners)
LENS_MAX_PX = 0.4


@dataclass(frozen=True)
class CameraLook:
    """How one camera renders one capture (all drawn by :func:`draw_look`)."""

    exposure: float  # linear gain before the tone curve (exposure difference, in stops: log2)
    vignetting: float  # relative light lost at the frame's corners, 0..1
    colour: tuple[tuple[float, ...], ...]  # 3x3 matrix on linear RGB, rows sum to one
    gamma: float  # display encoding exponent (1 / gamma applied)
    contrast: float  # strength of the S-curve, 0 (none) .. 1 (smoothstep)
    lift: float  # black level lift of the output, 0..0.05
    saturation: float  # 1 keeps colour; > 1 pushes it
    denoise: float  # Gaussian sigma (px) of the noise reduction, 0: none
    sharpen: float  # unsharp-mask amount, 0: none
    sharpen_sigma: float  # unsharp-mask radius (px)
    quality: int  # JPEG quality
    subsampling: str  # key of SUBSAMPLING


def draw_look(rng: np.random.Generator) -> CameraLook:
    """A plausible camera rendering, from flat and soft to contrasty and oversharpened."""
    colour = np.eye(3) + rng.normal(0.0, 0.06, (3, 3))
    colour /= colour.sum(axis=1, keepdims=True)
    return CameraLook(
        exposure=float(rng.uniform(-0.6, 0.6)), vignetting=float(rng.uniform(0.0, 0.45)),
        colour=tuple(tuple(float(v) for v in row) for row in colour),
        gamma=float(rng.uniform(1.8, 2.6)), contrast=float(rng.uniform(0.0, 1.0)),
        lift=float(rng.uniform(0.0, 0.05)), saturation=float(rng.uniform(0.7, 1.5)),
        denoise=float(rng.choice([0.0, rng.uniform(0.5, 1.2)])),
        sharpen=float(rng.uniform(0.0, 1.8)), sharpen_sigma=float(rng.uniform(0.8, 2.0)),
        quality=int(rng.integers(70, 96)), subsampling=str(rng.choice(list(SUBSAMPLING))),
    )


def _vignette(shape: tuple[int, int], strength: float) -> np.ndarray:
    h, w = shape
    ys, xs = np.ogrid[0:h, 0:w]
    r2 = ((xs - (w - 1) / 2) ** 2 + (ys - (h - 1) / 2) ** 2) / (((w - 1) / 2) ** 2 + ((h - 1) / 2) ** 2)
    return (1.0 - strength * r2).astype(np.float32)


def render_look(linear: np.ndarray, look: CameraLook) -> np.ndarray:
    """Linear RGB (H, W, 3) float32, about [0, 1] -> the camera's uint8 sRGB-like rendering."""
    x = linear * np.float32(2.0 ** look.exposure)
    x *= _vignette(x.shape[:2], look.vignetting)[..., None]
    x = x @ np.asarray(look.colour, np.float32).T
    np.clip(x, 0.0, 1.0, out=x)  # over-exposure clips here, as a sensor does
    x = np.power(x, np.float32(1.0 / look.gamma))
    x = (1 - look.contrast) * x + look.contrast * (x * x * (3.0 - 2.0 * x))
    grey = x.mean(axis=2, keepdims=True)
    x = grey + np.float32(look.saturation) * (x - grey)
    if look.denoise > 0:
        x = cv2.GaussianBlur(x, (0, 0), look.denoise)
    if look.sharpen > 0:
        x += np.float32(look.sharpen) * (x - cv2.GaussianBlur(x, (0, 0), look.sharpen_sigma))
    x = np.float32(look.lift) + np.float32(1 - look.lift) * x
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)


def render_phone_look(raw_dn: np.ndarray, phone: PhoneModel, settings: CaptureSettings,
                      look: CameraLook) -> np.ndarray:
    """The phone's uint8 rendering of its raw mosaic (uint16 DN) with ``look``: demosaic, white
    balance and colour correction as the phone's ISP does, then the look."""
    x = (raw_dn.astype(np.float32) - phone.black) / np.float32(phone.white - phone.black)
    rgb = bilinear_demosaic(x, phone.cfa)
    ccm = (phone.cam2rgb * settings.gains[None, :]).astype(np.float32)
    return render_look(rgb @ ccm.T, look)


def srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    """The demo scene's display values to linear light (a plain 2.2 power)."""
    return np.power(np.clip(srgb, 0.0, 1.0), np.float32(2.2))


def encode_jpeg(rgb: np.ndarray, look: CameraLook) -> bytes:
    """The look's JPEG encoding (quality, chroma subsampling) of a uint8 RGB image."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, look.quality,
                            cv2.IMWRITE_JPEG_SAMPLING_FACTOR, SUBSAMPLING[look.subsampling]])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def lens_distortion_grid(rng: np.random.Generator, grid_shape: tuple[int, int], step: int,
                         phone_size: tuple[int, int]) -> np.ndarray:
    """A radial distortion difference between the cameras, sampled like the displacement grid.

    D = a (r / R)^2 (p - c) / R, minus its best-fitting scaling about the centre (which a
    homography models exactly), so what is left is only what no homography can absorb; ``a`` is
    drawn up to ``LENS_MAX_PX`` (barrel or pincushion).  float32 (rows, cols, 2), phone px.
    """
    rows, cols = grid_shape
    w, h = phone_size
    c = np.array([(w - 1) / 2, (h - 1) / 2])
    big_r = float(np.hypot(*c))
    ys, xs = np.mgrid[0:rows, 0:cols].astype(np.float64) * step
    u, v = (xs - c[0]) / big_r, (ys - c[1]) / big_r
    r2 = u * u + v * v
    inside = (xs <= w) & (ys <= h)
    scale = float((r2 * r2)[inside].sum() / r2[inside].sum())  # least-squares scaling of r^2 * (u, v)
    a = rng.uniform(0.3, 1.0) * LENS_MAX_PX * rng.choice([-1.0, 1.0])
    k = a * (r2 - scale)
    return np.stack([k * u, k * v], axis=-1).astype(np.float32)
