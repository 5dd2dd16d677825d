"""CLI subcommands: train, evaluate."""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("train", help="train the ISP network on the accepted patches of a dataset",
                       description="Reads only ACCEPTED patches (a person's rejections change what the model "
                                   "learns): raw crop from the phone DNG, target crop from the aligned target "
                                   "at the matched offset. Validation triplets are held out whole: the stored "
                                   "split (ispviewer split) when there is one — train and val, never test — "
                                   "else --val-fraction.",
                       epilog="examples:\n  ispviewer train DS --out weights.pt --epochs 30\n"
                              "  ispviewer train DS --out plain.pt --model plain\n"
                              "  ispviewer train DS --out more.pt --resume weights.pt --epochs 10\n"
                              "  torchrun --nproc-per-node 4 -m ispviewer train DS --shards ~/shards --out w.pt")
    p.add_argument("dataset", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--model", default="kpn", help="registered network name: kpn (default) or plain")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--patch", type=int, default=64, help="training crop in output pixels (even)")
    p.add_argument("--steps", type=int, default=None, help="steps per epoch (default: one pass)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--val-fraction", type=float, default=0.34)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, or auto")
    p.add_argument("--resume", type=Path, default=None, help="continue from this checkpoint")
    p.add_argument("--shards", default=None, metavar="DIR",
                   help="train on the train shards of `export-patches --layout webdataset` in DIR (each torchrun "
                        "rank reads its own shards); validation still uses the dataset's val split")
    p.set_defaults(func=run_train)

    p = sub.add_parser("evaluate", help="PSNR/SSIM on held-out triplets vs the phone ISP",
                       epilog="example: ispviewer evaluate DS --weights kpn.pt plain.pt")
    p.add_argument("dataset", type=Path)
    p.add_argument("--weights", type=Path, nargs="+", required=True)
    p.add_argument("--triplets", nargs="*", default=None,
                   help="triplets to evaluate on (default: the stored test split, else the held-out ones "
                        "recorded in the first checkpoint)")
    p.set_defaults(func=run_evaluate)


def run_train(args) -> int:
    from .checkpoint import CheckpointError
    from .patch_source import EmptyTrainingSet
    from .registry import MODELS
    from .trainer import TrainConfig, train

    if args.model not in MODELS:
        print(f"ispviewer train: error: unknown model {args.model!r} (known: {', '.join(sorted(MODELS))})",
              file=sys.stderr)
        return 2
    if args.patch < 8 or args.patch % 4:
        print("ispviewer train: error: --patch must be a multiple of 4, at least 8", file=sys.stderr)
        return 2
    config = TrainConfig(model=args.model, epochs=args.epochs, batch=args.batch, patch=args.patch,
                         steps_per_epoch=args.steps, lr=args.lr, val_fraction=args.val_fraction,
                         seed=args.seed, device=args.device,
                         shards=str(args.shards) if args.shards else None)
    try:
        train(args.dataset, args.out, config, resume=args.resume)
    except (EmptyTrainingSet, CheckpointError, ValueError) as exc:
        print(f"ispviewer train: error: {exc}", file=sys.stderr)
        return 2
    return 0


def run_evaluate(args) -> int:
    from .checkpoint import CheckpointError
    from .patch_source import EmptyTrainingSet
    from .trainer import evaluate

    try:
        rows = evaluate(args.dataset, args.weights, args.triplets)
    except (EmptyTrainingSet, CheckpointError) as exc:
        print(f"ispviewer evaluate: error: {exc}", file=sys.stderr)
        return 2
    print(f"{'renderer':<40} {'PSNR (dB)':>10} {'SSIM':>8}")
    for row in rows:
        print(f"{row['name']:<40} {row['psnr']:>10.2f} {row['ssim']:>8.4f}")
    return 0
