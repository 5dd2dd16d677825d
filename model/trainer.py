"""Train the ISP network on a dataset's accepted patches; evaluate it on held-out triplets."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .augment import random_augment
from .checkpoint import load_checkpoint, save_checkpoint
from .distributed import init_from_env
from .losses import ISPLoss, psnr_np, ssim_np
from .normalization import apply_gains, input_gains
from .patch_source import EmptyTrainingSet, TripletPairs, load_pairs, split_by_triplet, stored_splits
from .registry import build_model, model_name


@dataclass
class TrainConfig:
    model: str = "kpn"
    epochs: int = 20
    batch: int = 16
    patch: int = 64  # output pixels per side of a training crop
    steps_per_epoch: int | None = None  # default: one pass over the training patches
    lr: float = 2e-3
    val_fraction: float = 0.34
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    shards: str | None = None  # train on these webdataset shards (each rank its own) instead of the dataset


@dataclass
class TrainReport:
    epochs: int
    train_triplets: list[str]
    val_triplets: list[str]
    patch_count: int
    history: list[dict] = field(default_factory=list)


def _device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but no CUDA device is available")
    return torch.device(name)


def draw_batch(model: torch.nn.Module, pairs: list[TripletPairs], size: int, half: int,
               rng: np.random.Generator):
    raws, targets = [], []
    for _ in range(size):
        tp = pairs[int(rng.integers(len(pairs)))]
        k = int(rng.integers(len(tp.packed)))
        r, t = random_augment(tp.packed[k], tp.target[k], half, rng)
        raws.append(apply_gains(r, input_gains(model, tp.wb_gains)))
        targets.append(t)
    raw = torch.from_numpy(np.stack(raws)).permute(0, 3, 1, 2).contiguous()
    tgt = torch.from_numpy(np.stack(targets)).permute(0, 3, 1, 2).contiguous()
    return raw, tgt


@torch.inference_mode()
def _predict(model: torch.nn.Module, tp: TripletPairs, device: torch.device, chunk: int = 16) -> np.ndarray:
    packed = apply_gains(tp.packed, input_gains(model, tp.wb_gains))
    outs = []
    for k in range(0, len(packed), chunk):
        inp = torch.from_numpy(packed[k:k + chunk]).permute(0, 3, 1, 2).to(device)
        outs.append(model(inp).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy())
    return np.concatenate(outs)


def validate(model: torch.nn.Module, pairs: list[TripletPairs], device: torch.device) -> dict:
    """Mean PSNR/SSIM over held-out patches of the model and of the phone ISP vs the aligned target."""
    model.eval()
    scores = {"model_psnr": [], "model_ssim": [], "phone_psnr": [], "phone_ssim": []}
    for tp in pairs:
        pred = _predict(model, tp, device)
        for k in range(len(pred)):
            scores["model_psnr"].append(psnr_np(pred[k], tp.target[k], 1.0))
            scores["model_ssim"].append(ssim_np(pred[k], tp.target[k], 1.0))
            scores["phone_psnr"].append(psnr_np(tp.phone[k], tp.target[k], 1.0))
            scores["phone_ssim"].append(ssim_np(tp.phone[k], tp.target[k], 1.0))
    return {k: float(np.mean(v)) if v else float("nan") for k, v in scores.items()}


def training_cameras(pairs: list[TripletPairs]) -> dict[str, int]:
    """Training patches per phone camera ("unknown" where the manifest names none)."""
    counts: dict[str, int] = {}
    for tp in pairs:
        name = tp.camera or "unknown"
        counts[name] = counts.get(name, 0) + len(tp.packed)
    return dict(sorted(counts.items()))


def train(dataset: str | Path, out: str | Path, config: TrainConfig, *, resume: str | Path | None = None,
          log=print) -> TrainReport:
    """Train and write a checkpoint (best validation PSNR, or last epoch without validation)."""
    torch.manual_seed(config.seed)
    device = _device(config.device)
    dist_ctx, device = init_from_env(device)  # under torchrun: one process per device, DDP
    rng = dist_ctx.rng(config.seed)  # each rank draws its own batches
    log = dist_ctx.main_only(log)
    if config.threads:
        torch.set_num_threads(config.threads)
    if config.shards:
        train_pairs, val_pairs, train_names, val_names, n_total = _shard_training_set(dataset, config, dist_ctx, log)
    else:
        train_pairs, val_pairs, train_names, val_names = _dataset_training_set(dataset, config, dist_ctx, log)
        n_total = sum(len(p.packed) for p in train_pairs)
    n_train = sum(len(p.packed) for p in train_pairs)
    if n_train == 0:
        raise EmptyTrainingSet(f"{dataset}: no accepted patch left for training")
    half = config.patch // 2
    smallest = min(p.packed.shape[1] for p in train_pairs)
    if half > smallest:
        raise ValueError(f"--patch {config.patch} is larger than the dataset's patches ({2 * smallest} px)")
    start_epoch = 0
    if resume:
        model, meta = load_checkpoint(resume)
        start_epoch = int((meta.get("provenance") or {}).get("epochs") or 0)
        log(f"resuming from {resume} (epoch {start_epoch})")
    else:
        model = build_model(config.model)
    model.to(device)
    net = dist_ctx.wrap(model, device)  # the training steps call this: gradients averaged across ranks
    optim = torch.optim.Adam(model.parameters(), lr=config.lr)
    steps = config.steps_per_epoch or dist_ctx.steps_per_epoch(n_total, config.batch)
    return _fit(dataset, out, config, dist_ctx, device, model, net, optim, steps, start_epoch,
                train_pairs, val_pairs, train_names, val_names, n_total, rng, log)


def _shard_training_set(dataset, config: TrainConfig, dist_ctx, log):
    """This rank's shards for training; the dataset's val split (rank 0) for validation."""
    from .shard_source import load_shard_pairs, shard_index

    log(f"reading training shards {config.shards} ({dist_ctx.world_size} rank(s), each its own shards)")
    train_pairs = load_shard_pairs(config.shards, "train", dist_ctx.rank, dist_ctx.world_size, log=log)
    index = shard_index(config.shards, "train")  # every rank steps the same number of times
    if index is None:  # no index next to the shards: count what every rank holds
        n_total = int(round(dist_ctx.mean(sum(len(p.packed) for p in train_pairs)) * dist_ctx.world_size))
        train_names = [p.triplet for p in train_pairs]
    else:
        n_total, train_names = len(index), sorted({row["triplet"] for row in index})
    val_names = stored_splits(dataset).get("val", [])
    val_pairs = list(load_pairs(dataset, val_names).values()) if val_names and dist_ctx.is_main else []
    return train_pairs, val_pairs, train_names, val_names, n_total


def _dataset_training_set(dataset, config: TrainConfig, dist_ctx, log):
    log(f"reading accepted patches of {dataset}")
    all_pairs = load_pairs(dataset, log=log)
    splits = stored_splits(dataset)
    if splits:  # the dataset's own split (ispviewer split); its test triplets are never seen here
        train_names = [n for n in splits.get("train", []) if n in all_pairs]
        val_names = [n for n in splits.get("val", []) if n in all_pairs]
        log(f"using the stored split: {len(train_names)} train, {len(val_names)} val triplet(s) with accepted "
            f"patches ({len(splits.get('test', []))} test triplet(s) held out)")
        if not train_names:
            raise EmptyTrainingSet(f"{dataset}: no triplet of the stored train split has accepted patches")
    else:
        train_names, val_names = split_by_triplet(list(all_pairs), config.val_fraction, config.seed)
    train_pairs = [all_pairs[n] for n in train_names]
    val_pairs = [all_pairs[n] for n in val_names] if dist_ctx.is_main else []  # rank 0 validates
    return train_pairs, val_pairs, train_names, val_names


def _fit(dataset, out, config, dist_ctx, device, model, net, optim, steps, start_epoch, train_pairs, val_pairs,
         train_names, val_names, n_train, rng, log) -> TrainReport:
    half = config.patch // 2
    total_steps = steps * config.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(optim, max_lr=config.lr, total_steps=total_steps)
    loss_fn = ISPLoss()
    report = TrainReport(start_epoch + config.epochs, train_names, val_names, n_train)
    log(f"training {model_name(model)} on {n_train} patches from {len(train_names)} triplet(s); "
        f"validating on {len(val_names)} triplet(s) {val_names}")
    best, best_state = -math.inf, None
    for epoch in range(start_epoch + 1, start_epoch + config.epochs + 1):
        model.train()
        t0, losses = time.monotonic(), []
        for _ in range(steps):
            raw, tgt = draw_batch(model, train_pairs, config.batch, half, rng)
            loss = loss_fn(net(raw.to(device)), tgt.to(device))
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            sched.step()
            losses.append(loss.item())
        row = {"epoch": epoch, "loss": dist_ctx.mean(np.mean(losses)), "seconds": time.monotonic() - t0}
        if val_pairs:
            row.update(validate(model, val_pairs, device))
        report.history.append(row)
        line = f"epoch {epoch:3d}  loss {row['loss']:.4f}"
        if val_pairs:
            line += f"  val PSNR {row['model_psnr']:.2f} dB (phone ISP {row['phone_psnr']:.2f} dB)"
        log(line + f"  {row['seconds']:.1f}s")
        score = row.get("model_psnr", -row["loss"])
        if score > best:
            best = score
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    model.cpu()
    meta_extra = {"val_triplets": val_names, "train_triplets": train_names, "history": report.history,
                  "config": {k: v for k, v in vars(config).items()}}
    if dist_ctx.is_main:
        save_checkpoint(out, model, {"provenance": {"dataset": str(Path(dataset).resolve().name),
                                                    "patch_count": n_train, "epochs": report.epochs,
                                                    "cameras": training_cameras(train_pairs)},
                                     "training": meta_extra}, half=True)
    log(f"wrote {out}")
    dist_ctx.close()
    return report


def evaluate(dataset: str | Path, weights: list[str | Path], triplets: list[str] | None = None,
             log=print) -> list[dict]:
    """PSNR/SSIM of each checkpoint, and of the phone ISP, vs the aligned target on held-out triplets."""
    models = [(Path(w), *load_checkpoint(w)) for w in weights]
    if triplets is None:
        triplets = stored_splits(dataset).get("test", [])
        if triplets:
            log(f"evaluating on the stored test split ({len(triplets)} triplet(s))")
    if not triplets:
        triplets = list(((models[0][2].get("training") or {}).get("val_triplets")) or [])
        if not triplets:
            raise EmptyTrainingSet(f"{weights[0]}: no held-out triplets recorded; pass --triplets")
    pairs = list(load_pairs(dataset, triplets).values())
    if not pairs:
        raise EmptyTrainingSet(f"{dataset}: none of the triplets {triplets} has accepted patches")
    rows = []
    for path, model, meta in models:
        scores = validate(model, pairs, torch.device("cpu"))
        rows.append({"name": f"{meta['model']} ({path.name})", "psnr": scores["model_psnr"],
                     "ssim": scores["model_ssim"]})
    rows.append({"name": "phone ISP JPEG", "psnr": scores["phone_psnr"], "ssim": scores["phone_ssim"]})
    return rows
