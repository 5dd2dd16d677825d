"""Realistic, varied capture metadata for the demo: exposure, ISO, aperture, lens, capture times.

Each demo triplet is given an illumination (daylight, indoor, low light, night; cycled so that
every phone sees all four even in a small demo) and a scene brightness EV100 within it.  Each
camera then "meters" that scene like its auto-exposure would: the phone has a fixed aperture and
raises ISO to keep a hand-held shutter time, the Nikon on a tripod stays at low ISO and lengthens
the exposure.  The target is taken a few seconds after the phone.  The values are written as
EXIF tags into the DNG (IFD0, as DNG allows) and into an EXIF segment of both JPEGs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

import numpy as np

from ispviewer.dataset.demo.cameras import PhoneModel

#: EV100 range of the scenes of each illumination (inside the classes' default bounds)
SCENE_EV: tuple[tuple[str, float, float], ...] = (
    ("daylight", 11.8, 14.5), ("indoor", 7.5, 10.2), ("low light", 4.6, 6.6), ("night", 1.5, 3.5))
#: (f-number, focal length mm) of the phones' fixed lenses
PHONE_LENS = {"iPhone 6s": (2.2, 4.15), "Mi 9": (1.75, 4.74)}
PHONE_ISO = (25, 32, 40, 50, 64, 80, 100, 125, 160, 200, 250, 320, 400, 500, 640, 800, 1000, 1250, 1600, 2000)
PHONE_LONGEST_S = 1 / 30  # the phone's auto-exposure keeps this shutter time while it can raise ISO
TARGET_MAKE, TARGET_MODEL = "Nikon", "Z 6"
UTC_OFFSET = "+08:00"


@dataclass(frozen=True)
class Exposure:
    exposure_time: Fraction
    iso: int
    f_number: float
    focal_length: float
    captured_at: datetime


@dataclass(frozen=True)
class DemoCapture:
    illumination: str
    scene_ev100: float
    phone: Exposure
    target: Exposure


def draw_demo_capture(phone: PhoneModel, index: int, rng: np.random.Generator) -> DemoCapture:
    """The capture metadata of demo triplet ``index`` (deterministic in ``rng``)."""
    name, lo, hi = SCENE_EV[(index + index // 2) % len(SCENE_EV)]
    ev = float(rng.uniform(lo, hi))
    n, focal = PHONE_LENS.get(phone.model, (2.0, 4.5))
    iso = next((i for i in PHONE_ISO if _time(ev, n, i) <= PHONE_LONGEST_S), PHONE_ISO[-1])
    t = _shutter(_time(ev, n, iso))
    hour = {"daylight": 11, "indoor": 18, "low light": 20, "night": 22}[name]
    when = datetime(2026, 6, 1, hour, 0, 0) + timedelta(days=index, seconds=float(rng.uniform(0, 3000)),
                                                         milliseconds=int(rng.integers(0, 1000)))
    phone_exp = Exposure(t, iso, n, focal, when)
    tn = 8.0 if name == "daylight" else 4.0
    tiso = 100 if ev > 3 else 400
    gap = timedelta(seconds=float(rng.uniform(1.5, 12.0)))
    target_exp = Exposure(_shutter(_time(ev, tn, tiso)), tiso, tn, float(rng.choice([24.0, 35.0, 50.0])),
                          when + gap)
    return DemoCapture(name, ev, phone_exp, target_exp)


def _time(ev: float, n: float, iso: float) -> float:
    """Exposure time that gives scene EV100 ``ev`` at f-number ``n`` and ``iso``."""
    return n * n / (2.0 ** ev * iso / 100.0)


def _shutter(t: float) -> Fraction:
    """The camera's nearest shutter time: 1/k for short ones, tenths of a second for long ones."""
    if t < 0.3:
        return Fraction(1, max(1, round(1 / t)))
    return Fraction(round(t * 10), 10)


def _stamp(when: datetime) -> tuple[str, str]:
    return when.strftime("%Y:%m:%d %H:%M:%S"), f"{when.microsecond // 1000:03d}"


def dng_exif_tags(exp: Exposure) -> list[tuple[tuple[int, int], object]]:
    """(pidng tag, value) pairs for the DNG's IFD0."""
    from pidng.dng import Tag, Type

    stamp, subsec = _stamp(exp.captured_at)
    return [
        (Tag.ExposureTime, [[exp.exposure_time.numerator, exp.exposure_time.denominator]]),
        (Tag.FNumber, [[round(exp.f_number * 100), 100]]),
        (Tag.PhotographicSensitivity, [exp.iso]),
        (Tag.FocalLength, [[round(exp.focal_length * 100), 100]]),
        (Tag.DateTimeOriginal, stamp),
        (Tag.SubsecTimeOriginal, subsec),
        ((0x9011, Type.Ascii), UTC_OFFSET),  # OffsetTimeOriginal
    ]


def jpeg_with_exif(jpeg: bytes, exp: Exposure, make: str, model: str, orientation: int = 1) -> bytes:
    """``jpeg`` with an EXIF segment (APP1) carrying make, model, the exposure and (when not 1)
    the orientation the pixels are stored with."""
    from PIL import Image, TiffImagePlugin

    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG stream")
    stamp, subsec = _stamp(exp.captured_at)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = make, model
    if orientation != 1:
        exif[0x0112] = int(orientation)
    sub = exif.get_ifd(0x8769)
    sub[0x829A] = TiffImagePlugin.IFDRational(exp.exposure_time.numerator, exp.exposure_time.denominator)
    sub[0x829D] = TiffImagePlugin.IFDRational(round(exp.f_number * 100), 100)
    sub[0x8827] = int(exp.iso)
    sub[0x920A] = TiffImagePlugin.IFDRational(round(exp.focal_length * 100), 100)
    sub[0x9003] = stamp
    sub[0x9291] = subsec
    sub[0x9011] = UTC_OFFSET
    payload = exif.tobytes()  # starts with "Exif\0\0"
    if len(payload) + 2 > 0xFFFF:
        raise ValueError("EXIF segment too large")
    return jpeg[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


def scene_ev100(capture: DemoCapture) -> float:
    """EV100 as the phone's EXIF states it (after shutter rounding)."""
    p = capture.phone
    return math.log2(p.f_number ** 2 / float(p.exposure_time)) - math.log2(p.iso / 100)
