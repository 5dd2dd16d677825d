"""Small real-format files for core tests: a Bayer DNG written with pidng and matching JPEGs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def write_dng(path: Path, width: int = 64, height: int = 48, cfa: str = "RGGB", bits: int = 12,
              black: int = 64, seed: int = 0) -> np.ndarray:
    """A random mosaic written through the demo's DNG writer; returns the stored samples."""
    from ispviewer.dataset.demo.cameras import CaptureSettings, PhoneModel
    from ispviewer.dataset.demo.dng_writer import write_dng as write_phone_dng

    phone = PhoneModel(make="TestMake", model="TestPhone", cfa=cfa, bits=bits, black=black,
                       filter_overlap=((1, 0, 0), (0, 1, 0), (0, 0, 1)), shot_noise=(0.0, 0.0),
                       red_gain=(1.0, 1.0), blue_gain=(1.0, 1.0))
    rng = np.random.default_rng(seed)
    data = rng.integers(black, phone.white, size=(height, width), dtype=np.uint16)
    write_phone_dng(path, data, phone, CaptureSettings(red_gain=1.0, blue_gain=1.0, shot_noise=0.0, read_noise=0.0))
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
