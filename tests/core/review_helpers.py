"""Small datasets for the review tests, written through the manifest API."""

from __future__ import annotations

from pathlib import Path

from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.records import AlignmentResult, CaptureFiles, PatchMeasurement, RawInfo

IDENTITY = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
PHONES = {"iphone": ("Apple", "iPhone 6s"), "xiaomi": ("Xiaomi", "Mi 11")}


def add_aligned(m: Manifest, name: str, misalignments, phone: str = "iphone", size: int = 32,
                columns: int = 4) -> int:
    """A triplet whose patches (reading order, ``columns`` a row) have these misalignments (None:
    unmeasurable); returns its id."""
    make, model = PHONES[phone]
    raw = RawInfo(columns * size, size * (len(misalignments) // columns + 1), make, model, "RGGB", 64.0, 4095.0)
    files = CaptureFiles(f"captures/{name}/raw.dng", f"captures/{name}/phone.jpg", f"captures/{name}/target.jpg")
    tid, _ = m.add_triplet(name, files, raw, (raw.width, raw.height))
    patches = tuple(PatchMeasurement(x=size * (i % columns), y=size * (i // columns), size=size, dx=0.5, dy=-0.25,
                                     ncc=0.9, misalignment_px=v, misalignment_p95=None if v is None else 2 * v,
                                     measurable=v is not None) for i, v in enumerate(misalignments))
    m.store_alignment(tid, AlignmentResult(IDENTITY, patches, None, m.threshold_px))
    return tid


def three_triplets(root: Path) -> Manifest:
    """b (iPhone), a (Xiaomi), c (iPhone), registered in that order so ids differ from name order."""
    m = Manifest.open(root, create=True)
    add_aligned(m, "b", [0.5, 2.0, 1.1, None, 1.3, 0.2])
    add_aligned(m, "a", [1.0, None, 3.0, 1.25, 0.85, 0.7], phone="xiaomi")
    add_aligned(m, "c", [0.4, 1.6, None, 1.15, 0.3, 0.6])
    return m


def key(p) -> tuple:
    return (p.triplet, p.x, p.y)
