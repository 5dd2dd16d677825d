"""A PyTorch ``Dataset`` over a dataset's manifest, for other people's training code.

    from ispviewer.model.manifest_dataset import ManifestPatchDataset
    ds = ManifestPatchDataset("~/datasets/phone2nikon", split="train")
    raw, target, meta = ds[0]   # (4, s/2, s/2) packed RGGB in [0, 1], (3, s, s) RGB in [0, 1], dict

Items are the accepted patches (or ``status``) of the triplets of a stored split (``split=None``:
every triplet).  ``raw`` is the phone raw packed to canonical RGGB planes, black subtracted and
normalized to [0, 1] by the file's own levels; ``target`` is the Nikon target resampled into the
phone frame on the packed grid of ``raw`` (area-averaged first, so it does not alias), at the
patch's matched offset.  Unknown metadata is "" or NaN, so the default collation batches it.
Decoded images of the last few triplets are cached per worker process, so reading in order
(``shuffle=False``, or a sampler that keeps a triplet's patches together) is fastest.  No Qt.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.records import SPLITS, PatchRecord, Status, TripletRecord


@dataclass(frozen=True)
class _Item:
    triplet: TripletRecord
    patch: PatchRecord


def _number(value) -> float:
    """Unknown numbers as NaN, so that the default DataLoader collation batches them."""
    return float("nan") if value is None else float(value)


class ManifestPatchDataset(Dataset):
    """Patch pairs of one split of a dataset: ``(raw, target, metadata)``."""

    def __init__(self, dataset: str | Path, split: str | None = "train", status: str = "accepted",
                 cache_triplets: int = 2):
        if split is not None and split not in SPLITS:
            raise ValueError(f"unknown split {split!r} (one of {', '.join(SPLITS)}, or None for all)")
        self.root = Path(dataset).expanduser()
        self.split = split
        self._cache: OrderedDict[str, tuple] = OrderedDict()
        self._cache_size = max(1, int(cache_triplets))
        with Manifest.open(self.root, readonly=True) as manifest:
            triplets = {t.name: t for t in manifest.triplets()
                        if t.homography is not None and (split is None or t.split == split)}
            self.items = [_Item(triplets[p.triplet], p) for p in manifest.patches(status=Status(status))
                          if p.triplet in triplets]
        self.items.sort(key=lambda it: (it.triplet.name, it.patch.y, it.patch.x))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        from ispviewer.align.warp import warp_target_to_phone

        item = self.items[index]
        t, p = item.triplet, item.patch
        packed, target_rgb = self._decoded(t)
        oy, ox = packed.origin
        ph, pw = packed.data.shape[:2]
        half = p.size // 2
        i0 = min(max((p.y - oy) // 2, 0), ph - half)
        j0 = min(max((p.x - ox) // 2, 0), pw - half)
        gy, gx = 2 * i0 + oy, 2 * j0 + ox  # phone-frame corner of the packed grid the crop lies on
        raw = packed.data[i0:i0 + half, j0:j0 + half]
        target = warp_target_to_phone(target_rgb, np.asarray(t.homography), (t.raw.width, t.raw.height),
                                      (gx + p.dx, gy + p.dy, p.size, p.size))
        meta = {"triplet": t.name, "x": p.x, "y": p.y, "size": p.size, "grid_x": gx, "grid_y": gy,
                "misalignment_px": _number(p.misalignment_px), "status": p.status.value, "split": t.split or "",
                "phone_model": t.phone_model, "cfa_pattern": t.raw.cfa_pattern,
                "illumination": (t.metadata.illumination if t.metadata else None) or "",
                "ev100": _number(t.metadata.ev100 if t.metadata else None), "wb_gains": list(packed.wb_gains)}
        return (torch.from_numpy(np.ascontiguousarray(raw.transpose(2, 0, 1))),
                torch.from_numpy(np.ascontiguousarray(target.transpose(2, 0, 1))).float().div_(255.0), meta)

    def _decoded(self, t: TripletRecord):
        from ispviewer.dataset.images import load_packed_raw, load_rgb

        hit = self._cache.get(t.name)
        if hit is not None:
            self._cache.move_to_end(t.name)
            return hit
        root = self.root.resolve()
        with Manifest.open(root, readonly=True) as manifest:
            value = (load_packed_raw(manifest.resolve(t.files.raw), t.raw),  # in the triplet's phone frame
                     load_rgb(manifest.resolve(t.files.target)))
        self._cache[t.name] = value
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return value
