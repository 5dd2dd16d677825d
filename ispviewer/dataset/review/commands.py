"""CLI subcommands of dataset-wide review: queue, merge."""

from __future__ import annotations

import sys
from pathlib import Path

from ispviewer.dataset.review.filters import COLUMN_FILTERS

KINDS = ("worst", "near-threshold", "flagged", "audit")


def register(sub) -> None:
    p = sub.add_parser(
        "queue", help="a review queue over the whole dataset, as JSONL (export's patch fields)",
        description="Print the patches of a review queue in its order, one JSON record per line with the "
                    "export's patch fields. worst: misalignment, largest first; near-threshold: "
                    "|misalignment - threshold| <= band, closest first; flagged: unmeasurable or flagged, in "
                    "reading order per triplet; audit: a seeded random sample of the aligner's accepted "
                    "patches. Patches a person already decided are skipped unless --include-decided. "
                    "--limit keeps the first N of the queue's order (decided ones count), so a sample stays "
                    "the same while people review it.",
        epilog="examples:\n  ispviewer queue DS --kind worst --limit 100\n"
               "  ispviewer queue DS --kind near-threshold --band 0.2 --phone 'iPhone 6s'\n"
               "  ispviewer queue DS --kind audit --limit 200 --seed 7 --shard 2/3")
    p.add_argument("dataset", type=Path)
    p.add_argument("--kind", choices=KINDS, default="worst")
    p.add_argument("--band", type=float, default=0.3, help="near-threshold: half-width of the band, px (default 0.3)")
    p.add_argument("--limit", type=int, default=None, help="the first N patches of the queue")
    p.add_argument("--seed", type=int, default=0, help="audit: the sample's seed (default 0)")
    p.add_argument("--audit-rejected", action="store_true", help="audit: sample the aligner's rejected patches too")
    p.add_argument("--shard", metavar="K/N", default=None,
                   help="only this team member's share: triplets split into N shards by a hash of their name")
    p.add_argument("--phone", default=None, help="only this phone model ('Apple iPhone 6s' or 'iPhone 6s')")
    p.add_argument("--triplets", metavar="PATTERN", default=None,
                   help="only triplets whose name matches, e.g. '2026-*'")
    for f in COLUMN_FILTERS:
        p.add_argument(f"--{f.name}", default=None, help=f"{f.help} (datasets that record it)")
    p.add_argument("--include-decided", action="store_true", help="also the patches a person already decided")
    p.set_defaults(func=run_queue)

    p = sub.add_parser(
        "merge", help="bring the decisions people made in another copy of the dataset",
        description="Take over the user decisions (with their history and annotator) of OTHER_COPY, another copy "
                    "of the same dataset. A patch decided differently in both is a conflict: this copy's decision "
                    "stays, the other is recorded beside it and listed. A copy of a different dataset (other "
                    "captures) or a newer schema is refused and nothing changes; the merge is one transaction. "
                    "Exit status 0: merged, 1: merged with conflicts, 2: refused.",
        epilog="example: ispviewer merge ~/datasets/p2n ~/from-bob/p2n")
    p.add_argument("dataset", type=Path)
    p.add_argument("other", type=Path, metavar="OTHER_COPY")
    p.set_defaults(func=run_merge)


def spec_from_args(args):
    from ispviewer.dataset.review.filters import TripletSelection, parse_shard
    from ispviewer.dataset.review.queues import QueueSpec

    shard = parse_shard(args.shard) if args.shard else None
    columns = tuple((f.name, getattr(args, f.name)) for f in COLUMN_FILTERS if getattr(args, f.name, None))
    selection = TripletSelection(phone=args.phone, name_pattern=args.triplets, columns=columns, shard=shard)
    return QueueSpec(kind=args.kind, band_px=args.band, seed=args.seed, audit_rejected=args.audit_rejected,
                     include_decided=args.include_decided, limit=args.limit, selection=selection)


def run_queue(args) -> int:
    import json

    from ispviewer.dataset.export import patch_record
    from ispviewer.dataset.manifest import Manifest
    from ispviewer.dataset.review.queues import build_queue

    try:
        spec = spec_from_args(args)
    except ValueError as exc:
        print(f"ispviewer queue: error: {exc}", file=sys.stderr)
        return 2
    with Manifest.open(args.dataset, readonly=True) as manifest:
        queue = build_queue(manifest, spec)
        if queue.empty:
            why = (f"all {queue.total} patch(es) of it were decided by a person (--include-decided shows them)"
                   if queue.total else "no patch matches it")
            print(f"ispviewer queue: the {spec.describe()} queue is empty: {why}", file=sys.stderr)
            return 0
        for start in range(0, len(queue), 2000):
            for record in queue.records(manifest, start, start + 2000):
                sys.stdout.write(json.dumps(patch_record(record)) + "\n")
        print(f"{spec.describe()}: {len(queue)} patch(es); reviewed {queue.reviewed} of {queue.total}",
              file=sys.stderr)
    return 0


def run_merge(args) -> int:
    from ispviewer.dataset.manifest import Manifest

    with Manifest.open(args.dataset) as manifest:
        if manifest.readonly:
            print(f"ispviewer merge: error: {args.dataset} is read-only; nothing was merged", file=sys.stderr)
            return 2
        report = manifest.merge_from(args.other)
    print(report.summary())
    return 1 if report.conflicts else 0
