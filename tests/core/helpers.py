"""Small real-format files for core tests: a Bayer DNG written with pidng and matching JPEGs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def write_dng(path: Path, width: int = 64, height: int = 48, cfa: str = "RGGB", bits: int = 12,
              black: int = 64, seed: int = 0) -> np.ndarray:
    from pidng.core import RAW2DNG, DNGTags, Tag
    from pidng.defs import CFAPattern, CalibrationIlluminant, DNGVersion, PhotometricInterpretation

    rng = np.random.default_rng(seed)
    white = (1 << bits) - 1
    data = rng.integers(black, white, size=(height, width), dtype=np.uint16)
    codes = {"R": 0, "G": 1, "B": 2}
    tags = DNGTags()
    tags.set(Tag.ImageWidth, width)
    tags.set(Tag.ImageLength, height)
    tags.set(Tag.TileWidth, width)
    tags.set(Tag.TileLength, height)
    tags.set(Tag.Orientation, 1)
    tags.set(Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array)
    tags.set(Tag.SamplesPerPixel, 1)
    tags.set(Tag.BitsPerSample, 16)
    tags.set(Tag.CFARepeatPatternDim, [2, 2])
    tags.set(Tag.CFAPattern, [codes[c] for c in cfa])
    tags.set(Tag.BlackLevel, black)
    tags.set(Tag.WhiteLevel, white)
    tags.set(Tag.ColorMatrix1, [[1, 1], [0, 1], [0, 1], [0, 1], [1, 1], [0, 1], [0, 1], [0, 1], [1, 1]])
    tags.set(Tag.CalibrationIlluminant1, CalibrationIlluminant.D65)
    tags.set(Tag.AsShotNeutral, [[1, 1], [1, 1], [1, 1]])
    tags.set(Tag.Make, "TestMake")
    tags.set(Tag.Model, "TestPhone")
    tags.set(Tag.DNGVersion, DNGVersion.V1_4)
    tags.set(Tag.DNGBackwardVersion, DNGVersion.V1_2)
    writer = RAW2DNG()
    writer.options(tags, path="", compress=False)
    writer.convert(data, filename=str(path.with_suffix("")))
    return data


def write_jpeg(path: Path, width: int, height: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 255, (height, width, 3), dtype=np.uint8), (5, 5), 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)


def make_capture(folder: Path, width: int = 64, height: int = 48, cfa: str = "RGGB", seed: int = 0) -> None:
    """SRC/<capture>/{raw.dng, phone.jpg, target.jpg} (per-capture layout)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_dng(folder / "raw.dng", width, height, cfa, seed=seed)
    write_jpeg(folder / "phone.jpg", width, height, seed)
    write_jpeg(folder / "target.jpg", width * 3 // 2, height * 3 // 2, seed + 1)
