"""The demo scenes: prints of real photographs laid on a textured surface.

Content comes from the photographs that ship inside scikit-image (``skimage/data``), read from
disk, so nothing is downloaded.  Those photos are small (at most 1411 px), so a scene is built as
a collage that has fine, real detail nearly everywhere at phone resolution:

* the surface: an upscaled photo gives large shapes and colour; two real textures (grass, gravel,
  brick), tiled near one texel per phone pixel and tinted, modulate it in soft-edged zones;
* prints: photos scaled to a fraction of the frame, framed or not, slightly rotated, with a soft
  shadow, on a jittered grid so that they cover most of the frame without hiding the surface;
* a faint high-pass texture over everything, like the grain of the paper.

The canvas is RGB float32 in [0, 1] (display-referred sRGB), in canvas pixels of ``1/scale``
phone pixels.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import cv2
import numpy as np

PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png",
          "motorcycle_right.png", "retina.jpg", "hubble_deep_field.jpg", "ihc.png")
MONO_PHOTOS = ("camera.png", "moon.png", "coins.png")
TEXTURES = ("grass.png", "gravel.png", "brick.png")
GRAIN_TEXTURES = ("grass.png", "gravel.png")


class SceneAssetError(RuntimeError):
    """scikit-image's bundled photographs could not be found or read."""


def skimage_data_dir() -> Path:
    """The folder holding scikit-image's bundled images (found without importing skimage)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise SceneAssetError("scikit-image is not installed; the demo scenes use its bundled photos")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


@cache
def load_asset(name: str) -> np.ndarray:
    """A bundled image as float32 in [0, 1]: (H, W, 3) RGB for colour files, (H, W) for grey ones."""
    path = skimage_data_dir() / name
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise SceneAssetError(f"{path}: missing or unreadable (scikit-image's bundled data)")
    if img.ndim == 3:
        img = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)
    out = img.astype(np.float32) / np.float32(255.0)
    out.flags.writeable = False
    return out


def _resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    shrink = width < img.shape[1] or height < img.shape[0]
    return cv2.resize(img, (max(1, width), max(1, height)),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def _random_crop(rng: np.random.Generator, img: np.ndarray, lo: float) -> np.ndarray:
    h, w = img.shape[:2]
    ch, cw = int(h * rng.uniform(lo, 1.0)), int(w * rng.uniform(lo, 1.0))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return img[y:y + ch, x:x + cw]


def _smooth(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """A smooth random field over ``shape`` with about ``cells`` features along the long side."""
    h, w = shape
    ch = max(2, round(cells * h / max(h, w)) + 1)
    cw = max(2, round(cells * w / max(h, w)) + 1)
    return cv2.resize(rng.normal(size=(ch, cw)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)


def texture_plane(rng: np.random.Generator, name: str, shape: tuple[int, int], texel: float) -> np.ndarray:
    """A real texture, zero mean and unit std, mirror-tiled over ``shape`` at ``texel`` px per texel."""
    tex = load_asset(name)
    if tex.ndim == 3:
        tex = cv2.cvtColor(tex, cv2.COLOR_RGB2GRAY)
    tex = tex - cv2.GaussianBlur(tex, (0, 0), 0.05 * max(tex.shape))  # drop the shading, keep detail
    tex /= max(float(tex.std()), 1e-6)
    if rng.random() < 0.5:
        tex = tex.T
    tex = tex[:: rng.choice([-1, 1]), :: rng.choice([-1, 1])]
    tex = _resize(np.ascontiguousarray(tex), round(tex.shape[1] * texel), round(tex.shape[0] * texel))
    cell = np.block([[tex, tex[:, ::-1]], [tex[::-1], tex[::-1, ::-1]]])  # tiles without seams
    ch, cw = cell.shape
    oy, ox = int(rng.integers(0, ch)), int(rng.integers(0, cw))
    out = np.empty(shape, np.float32)
    for y in range(0, shape[0], ch):  # periodic copy, starting at (oy, ox) of the cell
        for x in range(0, shape[1], cw):
            for sy, dy, n in _wrapped_spans(oy, y, min(ch, shape[0] - y), ch):
                for sx, dx, m in _wrapped_spans(ox, x, min(cw, shape[1] - x), cw):
                    out[dy:dy + n, dx:dx + m] = cell[sy:sy + n, sx:sx + m]
    return out


def _wrapped_spans(offset: int, start: int, length: int, period: int):
    """(source, destination, length) runs copying ``length`` items of a period-``period`` signal."""
    first = min(length, period - offset)
    yield offset, start, first
    if first < length:
        yield 0, start + first, length - first


def _surface(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """An upscaled photo, modulated by two tinted real textures in soft-edged zones."""
    h, w = shape
    # The smooth parts (photo colours, zones, tints) are built at a quarter of the size.
    sw, sh = max(2, w // 4), max(2, h // 4)
    base = _random_crop(rng, load_asset(PHOTOS[rng.integers(len(PHOTOS))]), 0.4)
    base = cv2.resize(base, (sw, sh), interpolation=cv2.INTER_AREA if sw < base.shape[1] else cv2.INTER_LINEAR)
    zone = 1.0 / (1.0 + np.exp(-4.0 * _smooth(rng, (sh, sw), 3)))  # weight of texture A
    tints = rng.uniform(0.75, 1.15, (2, 3)).astype(np.float32)
    colour = (0.2 + 0.65 * base) * (zone[..., None] * (tints[0] - tints[1]) + tints[1])
    colour = cv2.resize(colour, (w, h), interpolation=cv2.INTER_LINEAR)
    zone = cv2.resize(zone, (w, h), interpolation=cv2.INTER_LINEAR)
    names = rng.choice(len(TEXTURES), size=2, replace=False)
    mod = texture_plane(rng, TEXTURES[names[0]], shape, scale * rng.uniform(0.9, 1.3))
    tb = texture_plane(rng, TEXTURES[names[1]], shape, scale * rng.uniform(0.9, 1.3))
    mod -= tb
    mod *= zone
    mod += tb  # zone * A + (1 - zone) * B
    mod *= np.float32(0.35)
    mod += np.float32(1.0)
    colour *= mod[..., None]
    return colour


def _print_image(rng: np.random.Generator, photo: np.ndarray, long_side: float) -> np.ndarray:
    """A photo cropped, scaled to ``long_side`` canvas px and, most of the time, framed with paper."""
    if photo.ndim == 2:
        photo = photo[..., None] * rng.uniform(0.85, 1.05, 3).astype(np.float32)
    photo = _random_crop(rng, photo, 0.65)
    f = long_side / max(photo.shape[:2])
    img = _resize(np.ascontiguousarray(photo), round(photo.shape[1] * f), round(photo.shape[0] * f))
    if rng.random() < 0.7:
        b = max(1, round(0.03 * long_side))
        paper = rng.uniform(0.88, 0.97) * np.array([1.0, 0.98, 0.94], np.float32)
        img = cv2.copyMakeBorder(img, b, b, b, b, cv2.BORDER_CONSTANT, value=paper.tolist())
    return img


def _paste(canvas: np.ndarray, img: np.ndarray, centre: tuple[float, float], angle: float,
           shadow_offset: float) -> None:
    """Composite ``img`` rotated by ``angle`` degrees at ``centre`` into ``canvas`` with a soft shadow."""
    h, w = img.shape[:2]
    rot = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
    rot[:, 2] += np.array(centre) - ((w - 1) / 2, (h - 1) / 2)
    corners = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], float) @ rot.T
    pad = 4 * shadow_offset + 4
    x0 = int(max(0, np.floor(corners[:, 0].min() - pad)))
    y0 = int(max(0, np.floor(corners[:, 1].min() - pad)))
    x1 = int(min(canvas.shape[1], np.ceil(corners[:, 0].max() + pad)))
    y1 = int(min(canvas.shape[0], np.ceil(corners[:, 1].max() + pad)))
    if x1 <= x0 or y1 <= y0:
        return
    rot[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    warped = cv2.warpAffine(img, rot, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    alpha = cv2.warpAffine(np.ones((h, w), np.float32), rot, size, flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT)
    # The shadow is soft: blur it at a quarter of the size.
    small = cv2.resize(alpha, (max(1, size[0] // 4), max(1, size[1] // 4)), interpolation=cv2.INTER_AREA)
    shift = np.float32([[1, 0, shadow_offset / 4], [0, 1, 1.3 * shadow_offset / 4]])
    small = cv2.warpAffine(small, shift, small.shape[::-1], borderMode=cv2.BORDER_CONSTANT)
    small = cv2.GaussianBlur(small, (0, 0), max(0.5, 0.4 * shadow_offset))
    shadow = cv2.resize(small, size, interpolation=cv2.INTER_LINEAR)
    keep = (1.0 - 0.4 * shadow) * (1.0 - alpha)
    roi = canvas[y0:y1, x0:x1]
    roi *= keep[..., None]
    warped *= alpha[..., None]
    roi += warped


def compose_scene(rng: np.random.Generator, shape: tuple[int, int], scale: float,
                  frame_long_side: float) -> np.ndarray:
    """A scene canvas (H, W, 3) float32 in [0, 1].

    ``scale`` is canvas pixels per phone pixel, ``frame_long_side`` the phone frame's long side
    in phone pixels (prints are sized relative to it).
    """
    h, w = shape
    canvas = _surface(rng, shape, scale)
    nominal = 0.42 * frame_long_side * scale
    cols = max(1, round(w / nominal))
    rows = max(1, round(h / (0.8 * nominal)))
    order = rng.permutation(len(PHOTOS) + len(MONO_PHOTOS))
    cells = [(r, c) for r in range(rows) for c in range(cols)]
    for k in rng.permutation(len(cells)):
        if rng.random() > 0.8:
            continue
        r, c = cells[k]
        idx = order[k % len(order)]
        name = PHOTOS[idx] if idx < len(PHOTOS) else MONO_PHOTOS[idx - len(PHOTOS)]
        img = _print_image(rng, load_asset(name), nominal * rng.uniform(0.75, 1.2))
        centre = ((c + 0.5 + rng.uniform(-0.25, 0.25)) * w / cols,
                  (r + 0.5 + rng.uniform(-0.25, 0.25)) * h / rows)
        _paste(canvas, img, centre, rng.uniform(-10, 10), 0.006 * nominal + scale)
    grain = texture_plane(rng, GRAIN_TEXTURES[rng.integers(len(GRAIN_TEXTURES))], shape,
                          scale * rng.uniform(0.9, 1.2))
    grain -= cv2.GaussianBlur(grain, (0, 0), 3.0 * scale)
    gain = np.float32(0.08) * grain
    gain += np.float32(1.0)
    canvas *= gain[..., None]  # multiplicative grain, plus a little additive in the dark parts
    grain *= np.float32(0.012)
    canvas += grain[..., None]
    np.clip(canvas, 0.0, 1.0, out=canvas)
    return canvas
