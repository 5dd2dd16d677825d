"""Training pairs from a dataset: accepted patches only, raw crop + aligned-target crop.

A patch (x, y, size) of the phone frame pairs with the square at (x+dx, y+dy) of the aligned
target.  The network's output pixel (Y, X) lies at phone (Y+oy, X+ox) where (oy, ox) is the packed
raw's origin, so crops are taken on the packed grid and the target crop follows that grid exactly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.records import PatchRecord, Status


class EmptyTrainingSet(Exception):
    """No accepted patch to learn from."""


@dataclass
class TripletPairs:
    """Every accepted patch of one triplet as (packed crop, target crop) arrays."""

    triplet: str
    packed: np.ndarray  # (n, s/2, s/2, 4) float32
    target: np.ndarray  # (n, s, s, 3) float32 in [0, 1]
    phone: np.ndarray  # (n, s, s, 3) float32: the phone ISP JPEG on the same grid (for evaluation)
    wb_gains: tuple[float, float, float] = (1.0, 1.0, 1.0)  # the raw's as-shot white balance
    camera: str = ""  # the phone camera ("Make Model") the raw comes from, as the manifest records it


def accepted_patches(manifest: Manifest) -> dict[str, list[PatchRecord]]:
    """Accepted patches grouped by triplet (a person's rejections are honoured here)."""
    out: dict[str, list[PatchRecord]] = {}
    for p in manifest.patches(status=Status.ACCEPTED):
        out.setdefault(p.triplet, []).append(p)
    return out


def split_by_triplet(names: list[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Validation triplets are held out whole, so no scene is seen in both splits."""
    names = sorted(names)
    if len(names) < 2 or val_fraction <= 0:
        return names, []
    rng = random.Random(seed)
    shuffled = names[:]
    rng.shuffle(shuffled)
    n_val = min(len(names) - 1, max(1, round(len(names) * val_fraction)))
    return sorted(shuffled[n_val:]), sorted(shuffled[:n_val])


def stored_splits(dataset: str | Path) -> dict[str, list[str]]:
    """The train/val/test triplet names stored by ``ispviewer split`` ({} when none is stored)."""
    with Manifest.open(dataset, readonly=True) as manifest:
        out: dict[str, list[str]] = {}
        for t in manifest.triplets():
            if t.split:
                out.setdefault(t.split, []).append(t.name)
        return {k: sorted(v) for k, v in out.items()}


def load_triplet_pairs(manifest: Manifest, name: str, patches: list[PatchRecord]) -> TripletPairs:
    """Decode the triplet once and cut every patch's raw, target and phone crops."""
    from ispviewer.align.warp import warp_target_to_phone
    from ispviewer.dataset.images import load_packed_raw, load_rgb

    t = manifest.triplet(name)
    if t.homography is None:
        raise EmptyTrainingSet(f"triplet {name} has no alignment")
    packed = load_packed_raw(manifest.resolve(t.files.raw), t.raw)  # in the triplet's phone frame
    target_rgb = load_rgb(manifest.resolve(t.files.target))
    phone_rgb = load_rgb(manifest.resolve(t.files.phone))
    H = np.asarray(t.homography, dtype=np.float64)
    oy, ox = packed.origin
    ph, pw = packed.data.shape[:2]
    raws, targets, phones = [], [], []
    for p in patches:
        half = p.size // 2
        i0, j0 = (p.y - oy) // 2, (p.x - ox) // 2  # packed pixel whose output covers the patch corner
        i0, j0 = min(max(i0, 0), ph - half), min(max(j0, 0), pw - half)
        gy, gx = 2 * i0 + oy, 2 * j0 + ox  # phone-frame corner of that output grid
        if gy < 0 or gx < 0 or gy + p.size > t.raw.height or gx + p.size > t.raw.width:
            continue
        raws.append(packed.data[i0:i0 + half, j0:j0 + half])
        region = (gx + p.dx, gy + p.dy, p.size, p.size)
        targets.append(warp_target_to_phone(target_rgb, H, (t.raw.width, t.raw.height), region))
        phones.append(phone_rgb[gy:gy + p.size, gx:gx + p.size])
    if not raws:
        raise EmptyTrainingSet(f"triplet {name}: no usable accepted patch")
    return TripletPairs(name, np.stack(raws).astype(np.float32),
                        np.stack(targets).astype(np.float32) / 255.0,
                        np.stack(phones).astype(np.float32) / 255.0, tuple(packed.wb_gains), t.phone_model)


def load_pairs(dataset: str | Path, names: list[str] | None = None, log=None) -> dict[str, TripletPairs]:
    with Manifest.open(dataset, readonly=True) as manifest:
        groups = accepted_patches(manifest)
        if not groups:
            raise EmptyTrainingSet(f"{manifest.root}: no accepted patch to train on "
                                   "(align the dataset first, or accept some patches)")
        out = {}
        for name in sorted(groups if names is None else [n for n in names if n in groups]):
            if log:
                log(f"  loading {name} ({len(groups[name])} accepted patches)")
            out[name] = load_triplet_pairs(manifest, name, groups[name])
        return out
