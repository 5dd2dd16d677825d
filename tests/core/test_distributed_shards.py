"""`ispviewer train --shards` under a 2-process data-parallel run (gloo, torchrun's environment):
each rank reads only its own webdataset shards and both ranks step in time."""

import os
import socket
from pathlib import Path

import pytest
import torch

from product_helpers import build_aligned_demo, cli

if not torch.distributed.is_available():
    pytest.skip("this torch build has no torch.distributed", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, world: int, port: int, dataset: str, shards: str, out: str, state_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    from ispviewer.cli import main
    from ispviewer.model import shard_source, trainer

    read, steps = [], []
    load, draw = shard_source.load_shard_pairs, trainer.draw_batch

    def load_and_note(where, split, r, w, log=None):
        pairs = load(where, split, r, w, log)
        read.extend(sorted(shard_source.shard_files(where, split))[r::w])
        return pairs

    def draw_and_note(*args, **kwargs):
        steps.append(1)
        return draw(*args, **kwargs)
    shard_source.load_shard_pairs, trainer.draw_batch = load_and_note, draw_and_note
    rc = main(["train", dataset, "--shards", shards, "--out", out, "--epochs", "1", "--batch", "2", "--patch", "16",
               "--model", "plain"])
    torch.save({"rc": rc, "read": read, "steps": len(steps)}, Path(state_dir, f"rank{rank}.pt"))


def test_two_ranks_read_disjoint_shards(tmp_path):
    import torch.multiprocessing as mp

    ds = build_aligned_demo(tmp_path / "demo")
    assert cli("split", ds, "--val", "0.25", "--test", "0.25")[0] == 0
    shards = tmp_path / "shards"
    assert cli("export-patches", ds, "--layout", "webdataset", "--out", shards, "--shard-size", "8")[0] == 0
    mp.spawn(_rank_main, args=(2, _free_port(), str(ds), str(shards), str(tmp_path / "w.pt"), str(tmp_path)),
             nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    assert r0["rc"] == 0 and r1["rc"] == 0
    assert r0["read"] and r1["read"] and not set(r0["read"]) & set(r1["read"])
    assert sorted(r0["read"] + r1["read"]) == sorted(str(p) for p in shards.glob("train-*.tar"))
    assert r0["steps"] == r1["steps"] > 0  # same number of steps on both ranks: DDP stays in step
    assert (tmp_path / "w.pt").is_file()
