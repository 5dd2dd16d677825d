"""CLI subcommands for the dataset as a product: capture metadata, tags, splits."""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("metadata", help="read capture metadata (exposure, ISO, illumination) into the manifest",
                       description="Read exposure time, ISO, f-number, focal length and capture time from each "
                                   "triplet's raw and JPEGs (EXIF), derive EV100 = log2(N²/t) − log2(ISO/100) of "
                                   "the phone capture and its illumination class, and the seconds between the "
                                   "phone and target captures. Import does this for new triplets; this command "
                                   "fills triplets imported before, or all of them with --refresh. --bounds sets "
                                   "the EV100 upper bounds of night, low light and indoor (default 4,7,11) and "
                                   "re-classifies every triplet.",
                       epilog="examples:\n  ispviewer metadata DS\n  ispviewer metadata DS --bounds 3,6,10\n"
                              "  ispviewer metadata DS --list")
    p.add_argument("dataset", type=Path)
    p.add_argument("--refresh", action="store_true", help="re-read every triplet, not only those without metadata")
    p.add_argument("--bounds", metavar="N,L,I", help="EV100 bounds night<N<=low light<L<=indoor<I<=daylight")
    p.add_argument("--list", action="store_true", help="print each triplet's metadata")
    p.set_defaults(func=run_metadata)

    p = sub.add_parser("tag", help="add or remove tags on triplets (e.g. backlit, rain)",
                       description="Without --add/--remove, print the tags of the named triplets.",
                       epilog="examples:\n  ispviewer tag DS demo_000 demo_003 --add backlit\n"
                              "  ispviewer tag DS demo_003 --remove backlit --add reflections")
    p.add_argument("dataset", type=Path)
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("--add", action="append", default=[], metavar="TAG")
    p.add_argument("--remove", action="append", default=[], metavar="TAG")
    p.set_defaults(func=run_tag)

    p = sub.add_parser("split", help="assign whole triplets to train / val / test and store it",
                       description="Each triplet (a whole capture) goes to one split. Assignments are kept when "
                                   "run again; triplets imported later get one; --reassign redoes all. Same "
                                   "dataset and seed: same assignment. `train` uses train/val, `evaluate` test.",
                       epilog="examples:\n  ispviewer split DS --val 0.1 --test 0.1\n"
                              "  ispviewer split DS --val 0.1 --test 0.2 --seed 7 --stratify phone,illumination\n"
                              "  ispviewer split DS --val 0.1 --test 0.1 --reassign")
    p.add_argument("dataset", type=Path)
    p.add_argument("--val", type=float, required=True, help="fraction of triplets for validation, in [0, 1)")
    p.add_argument("--test", type=float, required=True, help="fraction of triplets for testing, in [0, 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stratify", default="", metavar="KEYS", help="comma-separated: phone, illumination")
    p.add_argument("--reassign", action="store_true", help="forget the stored assignment and redo it")
    p.set_defaults(func=run_split)


def _error(command: str, text: str) -> int:
    print(f"ispviewer {command}: error: {text}", file=sys.stderr)
    return 2


def run_metadata(args) -> int:
    from ispviewer.dataset.capture_metadata import parse_bounds
    from ispviewer.dataset.manifest import Manifest
    from ispviewer.dataset.metadata_refresh import refresh_metadata

    with Manifest.open(args.dataset) as manifest:
        if args.bounds is not None:
            try:
                bounds = parse_bounds(args.bounds)
            except ValueError as exc:
                return _error("metadata", str(exc))
            n = manifest.set_illumination_bounds(bounds)
            print(f"illumination bounds {','.join(f'{b:g}' for b in bounds)}: {n} triplet(s) re-classified")
        report = refresh_metadata(manifest, force=args.refresh)
        print(report.summary())
        if args.list:
            for t in manifest.triplets():
                c = t.metadata
                if c is None:
                    print(f"{t.name:<24} (no metadata)")
                    continue
                ev = "-" if c.ev100 is None else f"{c.ev100:5.2f}"
                t_s = "-" if not c.exposure_time else f"1/{1 / c.exposure_time:.0f}" if c.exposure_time < 0.3 \
                    else f"{c.exposure_time:g}s"
                gap = "-" if c.capture_gap_s is None else f"{c.capture_gap_s:+.1f}s"
                print(f"{t.name:<24} {t.phone_model:<18} {t_s:>8} ISO {c.iso or '-':<6} f/{c.f_number or '-':<5} "
                      f"EV100 {ev}  {c.illumination or '-':<10} gap {gap}")
    return 1 if report.unreadable else 0


def run_tag(args) -> int:
    from ispviewer.dataset.manifest import Manifest

    with Manifest.open(args.dataset, readonly=not (args.add or args.remove)) as manifest:
        if args.add or args.remove:
            manifest.tag_triplets(args.names, tuple(args.add), tuple(args.remove))
        tags = manifest.tags()
        known = {t.name for t in manifest.triplets()}
        for name in args.names:
            if name not in known:
                return _error("tag", f"{manifest.root}: no triplet {name!r}")
            print(f"{name}: {' '.join(tags.get(name, ())) or '(no tags)'}")
    return 0


def run_split(args) -> int:
    from collections import Counter

    from ispviewer.dataset.manifest import Manifest
    from ispviewer.dataset.splits import check_fractions, plan_splits

    try:
        fractions = check_fractions(args.val, args.test)
        strata = [s.strip() for s in args.stratify.split(",") if s.strip()]
        with Manifest.open(args.dataset) as manifest:
            triplets = manifest.triplets()
            plan = plan_splits(triplets, fractions, seed=args.seed, strata=strata, reassign=args.reassign)
            if plan:
                manifest.assign_splits(plan)
            counts = Counter(t.split for t in manifest.triplets())
    except ValueError as exc:
        return _error("split", str(exc))
    print(f"assigned {len(plan)} triplet(s); " + ", ".join(f"{s} {counts.get(s, 0)}" for s in ("train", "val", "test")))
    return 0
