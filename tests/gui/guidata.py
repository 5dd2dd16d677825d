"""A tiny real-format dataset for GUI tests: JPEGs on disk, a real manifest with aligned patches."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import cv2
import numpy as np

from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.records import AlignmentResult, CaptureFiles, PatchMeasurement, RawInfo

PHONE_W, PHONE_H = 320, 240
PATCH = 32
SCALE = 1.5  # the target is 1.5x the phone frame
H_TARGET_TO_PHONE = ((1 / SCALE, 0.0, 0.0), (0.0, 1 / SCALE, 0.0), (0.0, 0.0, 1.0))
NAMES = ("t01", "t02", "t03", "t04")
MODELS = {"t01": ("Apple", "iPhone 6s"), "t02": ("Xiaomi", "Mi 11"), "t03": ("Apple", "iPhone 6s"),
          "t04": ("Xiaomi", "Mi 11")}


def scene(seed: int, w: int = PHONE_W, h: int = PHONE_H) -> np.ndarray:
    """A smooth, textured RGB test scene (deterministic)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(img)


def misalignments(seed: int, n: int) -> list[float | None]:
    """Distinct misalignment values (px), with every 9th patch unmeasurable."""
    rng = np.random.default_rng(100 + seed)
    values = rng.permutation(n) * (2.4 / n) + 0.01
    return [None if i % 9 == 4 else round(float(v), 4) for i, v in enumerate(values)]


def write_triplet(m: Manifest, root: Path, name: str, seed: int, align: bool = True) -> int:
    folder = root / "captures" / name
    folder.mkdir(parents=True, exist_ok=True)
    phone = scene(seed)
    target = cv2.resize(phone, (int(PHONE_W * SCALE), int(PHONE_H * SCALE)), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(folder / "phone.jpg"), cv2.cvtColor(phone, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    cv2.imwrite(str(folder / "target.jpg"), cv2.cvtColor(target, cv2.COLOR_RGB2BGR))
    (folder / "raw.dng").write_bytes(b"")  # the viewer never reads the raw
    make, model = MODELS.get(name, ("Test", "Phone"))
    files = CaptureFiles(f"captures/{name}/raw.dng", f"captures/{name}/phone.jpg", f"captures/{name}/target.jpg")
    raw = RawInfo(PHONE_W, PHONE_H, make, model, "RGGB", 64.0, 4095.0)
    tid, _ = m.add_triplet(name, files, raw, (int(PHONE_W * SCALE), int(PHONE_H * SCALE)))
    if align:
        cells = [(x, y) for y in range(0, PHONE_H - PATCH + 1, PATCH) for x in range(0, PHONE_W - PATCH + 1, PATCH)]
        mis = misalignments(seed, len(cells))
        patches = tuple(PatchMeasurement(x=x, y=y, size=PATCH, dx=0.25, dy=-0.5, ncc=0.9 - i * 0.001,
                                         misalignment_px=v, misalignment_p95=None if v is None else v * 1.8,
                                         measurable=v is not None)
                        for i, ((x, y), v) in enumerate(zip(cells, mis)))
        heatmap = None
        if name == "t01":  # one triplet carries a real heatmap file written by the aligner's writer
            from ispviewer.dataset.heatmap_file import save_heatmap

            heatmap = f"heatmaps/{name}.npz"
            (root / "heatmaps").mkdir(exist_ok=True)
            values = np.fromfunction(lambda r, c: (r + c) / 60.0, (PHONE_H // 4, PHONE_W // 4)).astype(np.float32)
            values[:5, :5] = np.nan
            save_heatmap(root / heatmap, values, 0.25)
        m.store_alignment(tid, AlignmentResult(H_TARGET_TO_PHONE, patches, heatmap, 1.2))
    return tid


def build_dataset(root: Path, broken: str | None = None) -> Path:
    with Manifest.open(root, create=True) as m:
        for i, name in enumerate(NAMES):
            write_triplet(m, root, name, seed=i)
    if broken is not None:
        (root / "captures" / broken / "phone.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    return root



def db_row(root: Path, patch_id: int) -> tuple:
    """(status, decided_by, reason) of a patch, read by a separate sqlite3 connection."""
    con = sqlite3.connect(str(root / "manifest.sqlite"))
    try:
        return con.execute("SELECT status, decided_by, reason FROM patches WHERE id = ?", (patch_id,)).fetchone()
    finally:
        con.close()
