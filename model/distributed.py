"""Data-parallel training across processes: torchrun's environment -> torch.distributed -> DDP.

``ispviewer train`` runs unchanged under ``torchrun --nproc_per_node N``: torchrun sets RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT, and :func:`init_from_env` joins the process
group (gloo on CPU, nccl on CUDA, one GPU per process). Without those variables (a plain run)
everything here is a no-op and training is exactly the single-process one.

Batches are drawn at random from in-memory patches, so the "distributed sampler" is a seed stream
per rank: rank 0 keeps the single-process stream, every other rank gets its own. DDP averages the
gradients, so all ranks hold the same weights after every step.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


def _quiet(*_args, **_kwargs) -> None:
    pass


def env_ranks(environ=None) -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's environment; (0, 1, 0) outside torchrun."""
    environ = os.environ if environ is None else environ
    values = []
    for key, default in (("RANK", 0), ("WORLD_SIZE", 1), ("LOCAL_RANK", 0)):
        raw = environ.get(key, "")
        try:
            values.append(int(raw) if raw.strip() else default)
        except ValueError:
            raise ValueError(f"environment variable {key}={raw!r} is not an integer") from None
    rank, world, local = values
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ValueError(f"inconsistent torchrun environment: RANK={rank} WORLD_SIZE={world} LOCAL_RANK={local}")
    return rank, world, local


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a data-parallel run (a single process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owned: bool = False  # this module started the process group, so it also ends it

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that validates, logs and writes checkpoints."""
        return self.rank == 0

    def rng(self, seed: int) -> np.random.Generator:
        """This rank's batch stream: rank 0 keeps ``seed``'s (same as a plain run), the others their own."""
        return np.random.default_rng(seed if self.rank == 0 else [seed, self.rank])

    def steps_per_epoch(self, items: int, batch: int) -> int:
        """Steps for one pass over ``items`` when every rank draws ``batch`` per step."""
        return max(1, math.ceil(items / (batch * self.world_size)))

    def main_only(self, log):
        """``log`` on rank 0, a silent logger elsewhere."""
        return log if self.is_main else _quiet

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """The module to call in training steps: DDP around ``model`` when distributed, else ``model``."""
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index if device.index is not None else self.local_rank] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def mean(self, value: float) -> float:
        """The mean of ``value`` over all ranks (e.g. the epoch loss, so rank 0 logs the global one)."""
        if not self.enabled:
            return float(value)
        import torch.distributed as dist

        backend = dist.get_backend()
        device = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")
        t = torch.tensor([float(value)], dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return float(t.item()) / self.world_size

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        """Wait for every rank, then leave the process group if this module started it."""
        if not self.enabled:
            return
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()
            if self.owned:
                dist.destroy_process_group()


def unwrap(model: nn.Module) -> nn.Module:
    """The plain network inside a DDP wrapper (checkpoints and attributes such as ``hparams`` live there)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def init_from_env(device: torch.device, environ=None) -> tuple[DistContext, torch.device]:
    """Join torchrun's process group when WORLD_SIZE > 1; returns the context and this rank's device.

    On CUDA each process takes the GPU of its LOCAL_RANK and nccl; on CPU, gloo.
    """
    rank, world, local = env_ranks(environ)
    if world <= 1:
        return DistContext(), device
    import torch.distributed as dist

    if device.type == "cuda":
        if local >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} CUDA device(s) here")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    owned = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        owned = True
    return DistContext(dist.get_rank(), dist.get_world_size(), local, owned), device
