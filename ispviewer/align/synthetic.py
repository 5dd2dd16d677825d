"""Phone/target pairs with known geometry, for the aligner's tests, benchmarks and self-checks.

Unlike the demo data (whose displacement field is nearly uniform over a patch, so a patch's NCC
offset absorbs it), these pairs can carry *non-rigid* displacement that varies inside a patch:
the case the misalignment measure exists to catch.  Same contract as the demo ground truth: the
scene seen at phone pixel ``p`` is at target pixel ``H^-1(p + D(p))``.

Content: scikit-image's bundled photographs and textures (read from disk, nothing downloaded).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from ispviewer.align.geometry import apply_homography

_PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png", "retina.jpg")
_TEXTURES = ("grass.png", "gravel.png", "brick.png")


@cache
def photo_asset(name: str) -> np.ndarray:
    """One of scikit-image's bundled photos, float32 RGB in [0, 1]."""
    spec = importlib.util.find_spec("skimage")  # its bundled data, without importing it (slow)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-image is not installed; synthetic pairs use its bundled photos")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / name
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"{path}: scikit-image's bundled image is missing")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def make_scene(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A photographic collage, float32 RGB in [0, 1], of ``size`` = (w, h)."""
    w, h = size
    base = cv2.resize(photo_asset(_PHOTOS[rng.integers(len(_PHOTOS))]), (w, h), interpolation=cv2.INTER_CUBIC)
    tex = cv2.cvtColor(photo_asset(_TEXTURES[rng.integers(len(_TEXTURES))]), cv2.COLOR_RGB2GRAY)
    reps = (h // tex.shape[0] + 1, w // tex.shape[1] + 1)
    tex = np.tile(tex, reps)[:h, :w]
    tex = (tex - tex.mean()) / (tex.std() + 1e-6)
    scene = base * (1.0 + 0.18 * tex[..., None])
    for _ in range(5):  # prints of other photos, at random places and sizes
        photo = photo_asset(_PHOTOS[rng.integers(len(_PHOTOS))])
        pw = int(w * rng.uniform(0.2, 0.4))
        ph = int(pw * photo.shape[0] / photo.shape[1])
        if ph >= h or pw >= w:
            continue
        x, y = rng.integers(0, w - pw), rng.integers(0, h - ph)
        scene[y:y + ph, x:x + pw] = cv2.resize(photo, (pw, ph), interpolation=cv2.INTER_AREA)
    return np.clip(scene, 0, 1).astype(np.float32)


def _smooth_unit_field(rng: np.random.Generator, size: tuple[int, int], cells: int) -> np.ndarray:
    """Smooth random field in [0, 1], rank-normalized (every level equally common)."""
    w, h = size
    coarse = rng.normal(size=(cells, cells)).astype(np.float32)
    field = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    rank = np.argsort(np.argsort(field, axis=None)).reshape(field.shape)
    return (rank / (field.size - 1)).astype(np.float32)


def make_displacement(size: tuple[int, int], rng: np.random.Generator, *, shift_px: float = 1.5,
                      ripple_px: float = 0.0, wavelength: float = 256.0) -> np.ndarray:
    """D (h, w, 2) float32: a smooth shift up to ``shift_px`` plus ripples up to ``ripple_px``.

    The ripples (wavelength in phone px) vary inside a patch, so a patch offset cannot absorb
    them; their amplitude varies smoothly over the frame from 0 to ``ripple_px``.
    """
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    shift = shift_px * _smooth_unit_field(rng, size, 3)
    d = np.stack([shift * np.cos(angle), shift * np.sin(angle)], axis=-1)
    if ripple_px > 0:
        amp = ripple_px * _smooth_unit_field(rng, size, 3)
        phase = rng.uniform(0, 2 * np.pi, 2)
        k = 2 * np.pi / wavelength
        d[..., 0] += amp * np.sin(k * (0.8 * xs + 0.6 * ys) + phase[0])
        d[..., 1] += amp * np.cos(k * (-0.6 * xs + 0.8 * ys) + phase[1])
    return d.astype(np.float32)


def make_homography(phone_size: tuple[int, int], target_size: tuple[int, int], rng: np.random.Generator,
                    wider: float = 1.08) -> np.ndarray:
    """Target -> phone: the target sees a bit more, slightly rotated, with a little perspective."""
    (w, h), (tw, th) = phone_size, target_size
    s = w / tw * wider
    a = np.deg2rad(rng.uniform(-1.5, 1.5))
    centre_t = np.array([[1, 0, -(tw - 1) / 2], [0, 1, -(th - 1) / 2], [0, 0, 1]])
    persp = np.array([[1, 0, 0], [0, 1, 0], [rng.uniform(-0.01, 0.01) / tw, rng.uniform(-0.01, 0.01) / th, 1]])
    rot = np.array([[s * np.cos(a), -s * np.sin(a), 0], [s * np.sin(a), s * np.cos(a), 0], [0, 0, 1]])
    shift = rng.uniform(-0.004, 0.004, 2) * (w, h)
    centre_p = np.array([[1, 0, (w - 1) / 2 + shift[0]], [0, 1, (h - 1) / 2 + shift[1]], [0, 0, 1]])
    H = centre_p @ rot @ persp @ centre_t
    return H / H[2, 2]


def _phone_isp(rgb: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """Harsh tone, off white balance, noise, oversharpening: a mediocre phone ISP."""
    x = rgb * rng.uniform(0.92, 1.08, 3).astype(np.float32)
    x = np.clip(1.1 * x - 0.03, 0, 1)
    x = x * x * (3 - 2 * x)
    x = x + rng.normal(0, noise / 255.0, x.shape).astype(np.float32)
    x = x + 1.2 * (x - cv2.GaussianBlur(x, (0, 0), 1.4))
    return np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)


@dataclass(frozen=True, eq=False)
class SyntheticPair:
    phone: np.ndarray  # uint8 RGB (h, w, 3), the phone ISP JPEG (decoded)
    target: np.ndarray  # uint8 RGB, the target JPEG (decoded)
    homography: np.ndarray  # true target -> phone
    displacement: np.ndarray  # D, float32 (h, w, 2), phone px

    def true_misalignment(self, x: int, y: int, size: int, h_est: np.ndarray, dx: float, dy: float) -> float:
        """Mean over the patch of |H(h_est^-1(p + d)) - (p + D(p))| (phone px): the demo's definition."""
        ys, xs = np.mgrid[y:y + size, x:x + size]
        p = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)
        t = apply_homography(np.linalg.inv(h_est), p + (dx, dy))
        q = apply_homography(self.homography, t)
        return float(np.mean(np.linalg.norm(q - p - self.displacement[ys, xs].reshape(-1, 2), axis=1)))


def make_pair(phone_size: tuple[int, int] = (640, 480), *, seed: int = 0, target_ratio: float = 1.5,
              shift_px: float = 1.5, ripple_px: float = 0.0, wavelength: float = 256.0,
              noise: float = 3.0) -> SyntheticPair:
    """A phone ISP image and a clean target of one scene, with known H and D."""
    rng = np.random.default_rng(seed)
    w, h = phone_size
    tw, th = int(round(w * target_ratio)), int(round(h * target_ratio))
    H = make_homography(phone_size, (tw, th), rng)
    D = make_displacement(phone_size, rng, shift_px=shift_px, ripple_px=ripple_px, wavelength=wavelength)
    scene = make_scene((tw, th), rng)  # the target's view
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    q = apply_homography(np.linalg.inv(H), np.stack([xs.ravel(), ys.ravel()], 1) + D.reshape(-1, 2))
    mx = q[:, 0].reshape(h, w).astype(np.float32)
    my = q[:, 1].reshape(h, w).astype(np.float32)
    sigma = 0.45 * target_ratio  # each phone pixel integrates about ratio^2 target pixels
    phone_scene = cv2.remap(cv2.GaussianBlur(scene, (0, 0), sigma), mx, my, cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT)
    phone = _jpeg(_phone_isp(phone_scene, rng, noise), 88)
    target = _jpeg(np.clip(scene * 255 + 0.5, 0, 255).astype(np.uint8), 93)
    return SyntheticPair(phone=phone, target=target, homography=H, displacement=D)
