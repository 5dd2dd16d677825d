"""`ispviewer train` under a 2-process data-parallel run (gloo on CPU, torchrun's environment): the ranks
draw different batches yet end with identical weights, and only rank 0 writes the checkpoint."""

import hashlib
import os
import socket
from pathlib import Path

import pytest
import torch

from ispviewer.align.batch import align_dataset
from ispviewer.dataset.demo import build_demo_sources
from ispviewer.dataset.importer import import_sources
from ispviewer.model.distributed import DistContext, env_ranks, init_from_env

if not torch.distributed.is_available():
    pytest.skip("this torch build has no torch.distributed", allow_module_level=True)


@pytest.fixture(scope="module")
def aligned_dataset(tmp_path_factory):
    base = tmp_path_factory.mktemp("ddp")
    build_demo_sources(base / "src", count=2, size=(320, 240), seed=5)
    assert import_sources(base / "src", base / "ds").ok
    summary = align_dataset(base / "ds", workers=1, patch_size=64, log=lambda *a: None)
    assert len(summary.aligned) == 2
    return base / "ds"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, world: int, port: int, dataset: str, out: str, state_dir: str) -> None:
    """One rank, with exactly the environment torchrun gives it; records what it trained."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    from ispviewer.cli import main
    from ispviewer.model import trainer

    built, initial, batches = [], [], []
    build, draw, save = trainer.build_model, trainer.draw_batch, trainer.save_checkpoint

    def build_and_keep(*args, **kwargs):
        built.append(build(*args, **kwargs))
        initial.append({k: v.clone() for k, v in built[-1].state_dict().items()})
        return built[-1]

    def draw_and_note(*args, **kwargs):
        raw, tgt = draw(*args, **kwargs)
        batches.append(hashlib.sha1(raw.numpy().tobytes()).hexdigest())
        return raw, tgt

    def save_and_note(*args, **kwargs):
        Path(state_dir, f"saved_by_rank{rank}").touch()
        return save(*args, **kwargs)

    trainer.build_model, trainer.draw_batch, trainer.save_checkpoint = build_and_keep, draw_and_note, save_and_note
    rc = main(["train", dataset, "--out", out, "--epochs", "1", "--steps", "3", "--batch", "2", "--patch", "16",
               "--lr", "0.01"])
    torch.save({"rc": rc, "state": built[0].state_dict(), "initial": initial[0], "batches": batches},
               Path(state_dir, f"rank{rank}.pt"))


def test_two_ranks_train_in_step_and_only_rank0_writes(aligned_dataset, tmp_path):
    import torch.multiprocessing as mp

    out = tmp_path / "w.pt"
    mp.spawn(_rank_main, args=(2, _free_port(), str(aligned_dataset), str(out), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["rc"] == 0 and r1["rc"] == 0
    assert len(r0["batches"]) == len(r1["batches"]) == 3
    assert all(a != b for a, b in zip(r0["batches"], r1["batches"]))  # each rank its own batches
    assert r0["state"].keys() == r1["state"].keys()
    for key in r0["state"]:
        assert torch.equal(r0["state"][key], r1["state"][key]), key  # gradients averaged: same weights
    assert any(not torch.equal(r0["state"][k], r0["initial"][k]) for k in r0["state"])  # it did train
    assert (tmp_path / "saved_by_rank0").exists() and not (tmp_path / "saved_by_rank1").exists()
    assert out.is_file()


def test_plain_run_is_single_process_and_env_is_checked():
    ctx, device = init_from_env(torch.device("cpu"), environ={})
    assert ctx == DistContext() and not ctx.enabled and ctx.is_main and device.type == "cpu"
    assert ctx.steps_per_epoch(10, 4) == 3 and DistContext(1, 2).steps_per_epoch(10, 4) == 2
    assert ctx.rng(7).integers(1 << 30) == __import__("numpy").random.default_rng(7).integers(1 << 30)
    assert DistContext(1, 2).rng(7).integers(1 << 30) != ctx.rng(7).integers(1 << 30)
    assert DistContext(1, 2).main_only(print) is not print
    assert env_ranks({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}) == (1, 2, 1)
    with pytest.raises(ValueError, match="WORLD_SIZE"):
        env_ranks({"WORLD_SIZE": "two"})
    with pytest.raises(ValueError, match="inconsistent"):
        env_ranks({"RANK": "2", "WORLD_SIZE": "2"})
