"""Training pairs from webdataset shards written by ``ispviewer export-patches --layout webdataset``.

Each DDP rank reads only its own shards (``shards[rank::world_size]``), so a multi-GPU run no
longer has every rank decode every patch.  A sample's ``raw.png`` is the 16-bit RGGB mosaic scaled
to 0..1020 and is packed back to (R, G, G, B) planes in [0, 1]; ``target.png`` is the target patch;
``json`` carries the triplet and the raw's as-shot white balance.  Samples are grouped by triplet
into :class:`TripletPairs`, as the trainer draws them (without phone ISP patches: shards train,
the dataset's val split validates).
"""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path

import cv2
import numpy as np

from .patch_source import EmptyTrainingSet, TripletPairs

RAW_SCALE = 1020.0


def shard_files(where: str | os.PathLike, split: str = "train") -> list[str]:
    """The shards of ``split`` in a folder (``<split>-NNNNNN.tar``), or the files a glob names."""
    path = Path(where).expanduser()
    files = sorted(glob.glob(str(path / f"{split}-[0-9]*.tar"))) if path.is_dir() else sorted(glob.glob(str(path)))
    if not files:
        raise EmptyTrainingSet(f"{where}: no {split} shards (<split>-NNNNNN.tar) found")
    return files


def shard_index(where: str | os.PathLike, split: str = "train") -> list[dict] | None:
    """The split's index written next to its shards (one record per sample), None when absent."""
    index = Path(where).expanduser() / f"{split}-index.jsonl"
    try:
        with open(index) as fh:
            return [json.loads(line) for line in fh if line.strip()]
    except (OSError, ValueError):
        return None


def packed_from_mosaic(mosaic: np.ndarray) -> np.ndarray:
    """(2h, 2w) RGGB mosaic 0..1020 -> (h, w, 4) float32 planes (R, G on R rows, G on B rows, B)."""
    m = mosaic.astype(np.float32) / RAW_SCALE
    return np.stack([m[0::2, 0::2], m[0::2, 1::2], m[1::2, 0::2], m[1::2, 1::2]], axis=-1)


def _all_shards(urls):
    return urls


def load_shard_pairs(where: str | os.PathLike, split: str = "train", rank: int = 0, world_size: int = 1,
                     log=None) -> list[TripletPairs]:
    """This rank's samples, grouped by triplet."""
    import webdataset as wds

    files = shard_files(where, split)
    mine = files[rank::world_size]
    if not mine:
        raise EmptyTrainingSet(f"{where}: {len(files)} {split} shard(s) for {world_size} ranks; rank {rank} "
                               "has none (write more, smaller shards: --shard-size)")
    if log:
        log(f"  rank {rank}: reading {len(mine)} of {len(files)} {split} shard(s)")
    groups: dict[str, dict] = {}
    # the shards were split between the ranks above; the library must not split them again
    for sample in wds.WebDataset(mine, shardshuffle=False, empty_check=False, nodesplitter=_all_shards):
        meta = json.loads(sample["json"])
        raw = cv2.imdecode(np.frombuffer(sample["raw.png"], np.uint8), cv2.IMREAD_UNCHANGED)
        bgr = cv2.imdecode(np.frombuffer(sample["target.png"], np.uint8), cv2.IMREAD_COLOR)
        if raw is None or bgr is None or raw.dtype != np.uint16:
            where_from = sample.get("__url__", where)
            raise EmptyTrainingSet(f"{where_from}: sample {sample['__key__']} is not a raw/target pair")
        g = groups.setdefault(meta["triplet"], {"packed": [], "target": [],
                                                "wb": tuple(meta.get("wb_gains") or (1.0, 1.0, 1.0))})
        g["packed"].append(packed_from_mosaic(raw))
        g["target"].append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0)
    pairs = []
    for name, g in sorted(groups.items()):
        target = np.stack(g["target"])
        pairs.append(TripletPairs(name, np.stack(g["packed"]), target, np.zeros((0,) + target.shape[1:], np.float32),
                                  tuple(float(v) for v in g["wb"])))
    if not pairs:
        raise EmptyTrainingSet(f"{where}: the {split} shards hold no samples")
    return pairs
