"""A one-triplet dataset made of a real photo pair from ../shared/data/real/pairs.

The pairs have no raw; the viewer reads none either (only the network does, and these tests load
no weights), so the raw file is empty, as in :mod:`guidata`.  The target is the real other camera's
photo; the stored homography is the pair's scale (City100 pairs are planar: one scale apart).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np

from ispviewer.dataset.heatmap_file import save_heatmap
from ispviewer.dataset.images import load_rgb
from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.records import AlignmentResult, CaptureFiles, PatchMeasurement, RawInfo

PATCH = 120
HEATMAP_SCALE = 0.125  # one heatmap cell per 8 phone px, as the aligner writes


def photo_dataset(root: Path, pair: Path, values_of=None, flat_phone: bool = False) -> Path:
    """A dataset with triplet ``photo`` from ``pair``/phone.jpg and target.jpg.

    ``values_of(h, w)`` gives the heatmap (px) on its grid; by default 0.2 px everywhere (a well
    aligned photo) with a 2.0 px square at the centre.  ``flat_phone``: the phone image is replaced
    by a flat grey one of its size (to measure what the overlay alone draws).
    """
    phone = load_rgb(pair / "phone.jpg")
    target = load_rgb(pair / "target.jpg")
    h, w = phone.shape[:2]
    th, tw = target.shape[:2]
    folder = root / "captures" / "photo"
    folder.mkdir(parents=True)
    if flat_phone:
        cv2.imwrite(str(folder / "phone.jpg"), np.full((h, w, 3), 128, np.uint8))
    else:
        shutil.copy(pair / "phone.jpg", folder / "phone.jpg")
    shutil.copy(pair / "target.jpg", folder / "target.jpg")
    (folder / "raw.dng").write_bytes(b"")
    hh, hw = int(round(h * HEATMAP_SCALE)), int(round(w * HEATMAP_SCALE))
    values = (values_of or hot_square)(hh, hw).astype(np.float32)
    (root / "heatmaps").mkdir()
    save_heatmap(root / "heatmaps" / "photo.npz", values, HEATMAP_SCALE)
    H = ((w / tw, 0.0, 0.0), (0.0, h / th, 0.0), (0.0, 0.0, 1.0))
    cells = [(x, y) for y in range(0, h - PATCH + 1, PATCH) for x in range(0, w - PATCH + 1, PATCH)]
    patches = []
    for i, (x, y) in enumerate(cells):
        cell = values[int(y * HEATMAP_SCALE):int((y + PATCH) * HEATMAP_SCALE),
                      int(x * HEATMAP_SCALE):int((x + PATCH) * HEATMAP_SCALE)]
        mis = float(np.nanmean(cell))
        patches.append(PatchMeasurement(x=x, y=y, size=PATCH, dx=0, dy=0, ncc=0.95 - 0.001 * i,
                                        misalignment_px=mis, misalignment_p95=mis * 1.5, measurable=True))
    with Manifest.open(root, create=True) as m:
        files = CaptureFiles("captures/photo/raw.dng", "captures/photo/phone.jpg", "captures/photo/target.jpg")
        tid, _ = m.add_triplet("photo", files, RawInfo(w, h, "Apple", "iPhone X", "RGGB", 64.0, 4095.0), (tw, th))
        m.store_alignment(tid, AlignmentResult(H, tuple(patches), "heatmaps/photo.npz", 1.2))
    return root


def hot_square(h: int, w: int) -> np.ndarray:
    values = np.full((h, w), 0.2, np.float32)
    values[h // 2 - h // 8:h // 2 + h // 8, w // 2 - w // 8:w // 2 + w // 8] = 2.0
    return values


def stripes(h: int, w: int) -> np.ndarray:
    """Alternating columns of heatmap cells at 0.8 and 2.4 px: blocky drawing shows hard steps."""
    values = np.full((h, w), 0.8, np.float32)
    values[:, 1::2] = 2.4
    return values
