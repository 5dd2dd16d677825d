"""Write a phone raw mosaic as a real DNG (pidng), with the tags LibRaw needs to read it back.

Samples are stored bit-packed at the phone's own depth (BitsPerSample 10 or 12; a 16-bit container
for 10-bit rows whose width is not a multiple of 4), with the CFA
pattern, black and white levels, the as-shot neutral, the XYZ -> camera colour matrix and the
camera's make and model in IFD0 (where ``ispviewer.dataset.images`` reads them).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from ispviewer.dataset.demo.cameras import CaptureSettings, PhoneModel

_CFA_CODE = {"R": 0, "G": 1, "B": 2}


def _srational(values, denominator: int = 10000) -> list[list[int]]:
    return [[int(round(float(v) * denominator)), denominator] for v in np.ravel(values)]


def _rational(values, max_denominator: int = 100000) -> list[list[int]]:
    out = []
    for v in np.ravel(values):
        f = Fraction(float(v)).limit_denominator(max_denominator)
        out.append([f.numerator, f.denominator])
    return out


def dng_bytes(raw_dn: np.ndarray, phone: PhoneModel, settings: CaptureSettings, *, orientation: int = 1,
              cfa: str | None = None, default_crop: tuple[int, int, int, int] | None = None,
              extra_tags: list | None = None) -> bytes:
    """The DNG file content for a uint16 mosaic (DN, black level included).

    ``orientation`` is the DNG Orientation tag, ``cfa`` the mosaic's pattern when it is not the
    phone's (a mosaic stored turned), ``default_crop`` (x, y, w, h) the DefaultCropOrigin/Size,
    ``extra_tags`` further (pidng tag, value) pairs for IFD0, e.g. the capture's EXIF exposure tags.
    """
    from pidng.core import RAW2DNG, DNGTags, Tag
    from pidng.defs import CalibrationIlluminant, PhotometricInterpretation

    if raw_dn.dtype != np.uint16 or raw_dn.ndim != 2:
        raise ValueError("the raw mosaic must be a 2-D uint16 array")
    h, w = raw_dn.shape
    if w % 2 or h % 2:
        raise ValueError(f"a Bayer mosaic needs even sizes, got {w}x{h}")
    # pidng packs 10-bit rows in groups of 4 samples; other widths keep the 10-bit values in a
    # 16-bit container (WhiteLevel still says 1023), as some real cameras do.
    container = 16 if phone.bits == 10 and w % 4 else phone.bits
    tags = DNGTags()
    tags.set(Tag.ImageWidth, w)
    tags.set(Tag.ImageLength, h)
    tags.set(Tag.TileWidth, w)
    tags.set(Tag.TileLength, h)
    tags.set(Tag.Orientation, int(orientation))
    tags.set(Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array)
    tags.set(Tag.SamplesPerPixel, 1)
    tags.set(Tag.BitsPerSample, container)
    tags.set(Tag.CFARepeatPatternDim, [2, 2])
    tags.set(Tag.CFAPattern, [_CFA_CODE[c] for c in (cfa or phone.cfa)])
    if default_crop is not None:
        x, y, cw, ch = (int(v) for v in default_crop)
        tags.set(Tag.DefaultCropOrigin, [x, y])
        tags.set(Tag.DefaultCropSize, [cw, ch])
    tags.set(Tag.CFAPlaneColor, [0, 1, 2])
    tags.set(Tag.CFALayout, 1)
    tags.set(Tag.BlackLevelRepeatDim, [2, 2])
    tags.set(Tag.BlackLevel, [phone.black] * 4)
    tags.set(Tag.WhiteLevel, phone.white)
    tags.set(Tag.ColorMatrix1, _srational(phone.xyz2cam))
    tags.set(Tag.CalibrationIlluminant1, CalibrationIlluminant.D65)
    tags.set(Tag.AsShotNeutral, _rational(settings.as_shot_neutral))
    tags.set(Tag.Make, phone.make)
    tags.set(Tag.Model, phone.model)
    tags.set(Tag.UniqueCameraModel, f"{phone.make} {phone.model}")
    for tag, value in extra_tags or ():
        tags.set(tag, value)
    # pidng adds NewSubfileType, Compression, Software and the DNG version tags itself.
    writer = RAW2DNG()
    writer.options(tags, path="", compress=False)
    return bytes(writer.convert(np.ascontiguousarray(raw_dn)))


def write_dng(path: Path, raw_dn: np.ndarray, phone: PhoneModel, settings: CaptureSettings) -> None:
    Path(path).write_bytes(dng_bytes(raw_dn, phone, settings))
