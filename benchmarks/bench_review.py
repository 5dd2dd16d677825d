"""Benchmark of dataset-wide review at the poster's scale, next to references from the same run.

Dataset: the synthetic one of ``review_data.py`` — 2,424 triplets, 349,056 patches (the poster
has 333K), 1% decided by two people — written once to a work folder.  Printed (median of the
repeats, ms):

  references — ``SELECT COUNT(*) FROM patches`` and reading every patch row (``SELECT *``),
               both straight through sqlite3 on the same file;
  queues     — build_queue for each kind, whole dataset and one shard of three (target <= 300 ms);
  page       — the records of a 48-tile page of the worst queue, and resuming a saved position;
  stats      — the review lines of ``ispviewer stats`` (decisions per person, audit estimate);
  merge      — merging a copy that holds 1,000 new decisions (one transaction).

    python benchmarks/bench_review.py [--repeats 5] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from review_data import build

from _common import load_average
from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.records import Status
from ispviewer.dataset.review.audit import report_lines
from ispviewer.dataset.review.filters import TripletSelection
from ispviewer.dataset.review.progress import QueueProgress
from ispviewer.dataset.review.queues import QueueSpec, build_queue

TARGET_QUEUE_MS = 300.0


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "ispviewer-bench-review")
    args = ap.parse_args()
    root = args.workdir / "dataset"
    if not (root / "manifest.sqlite").exists():
        shutil.rmtree(root, ignore_errors=True)
        t0 = time.perf_counter()
        n = build(root)
        print(f"built the synthetic dataset: {n} patches in {time.perf_counter() - t0:.1f} s ({root})")
    print(load_average())

    conn = sqlite3.connect(root / "manifest.sqlite")
    count_ms, (count,) = timed(lambda: conn.execute("SELECT COUNT(*) FROM patches").fetchone(), args.repeats)
    rows_ms, _ = timed(lambda: conn.execute("SELECT * FROM patches").fetchall(), max(1, args.repeats // 2))
    triplets = conn.execute("SELECT COUNT(*) FROM triplets").fetchone()[0]
    conn.close()
    print(f"dataset: {triplets} triplets, {count} patches")
    print(f"reference  SELECT COUNT(*) FROM patches          {count_ms:8.1f} ms")
    print(f"reference  read every patch row (SELECT *)       {rows_ms:8.1f} ms")

    worst_ms = 0.0
    with Manifest.open(root) as m:
        for kind in ("worst", "near-threshold", "flagged", "audit"):
            for label, selection in (("whole dataset", TripletSelection()),
                                     ("shard 1/3", TripletSelection(shard=(1, 3)))):
                spec = QueueSpec(kind, selection=selection)
                ms, q = timed(lambda spec=spec: build_queue(m, spec), args.repeats)
                worst_ms = max(worst_ms, ms)
                print(f"queue      {kind:<15} {label:<14} {ms:8.1f} ms  {len(q):7d} patches "
                      f"(reviewed {q.reviewed} of {q.total})  {ms / rows_ms:5.2f}x reading every row")
        q = build_queue(m, QueueSpec("worst"))
        page_ms, page = timed(lambda: q.records(m, 480, 528), args.repeats)
        print(f"page       48 records of the worst queue         {page_ms:8.1f} ms  ({len(page)} records)")
        progress = QueueProgress(m, "bench")
        progress.save(q, 1000)
        resume_ms, _ = timed(lambda: progress.resume(build_queue(m, QueueSpec("worst"))), args.repeats)
        print(f"resume     build worst + find saved position     {resume_ms:8.1f} ms")
        stats_ms, lines = timed(lambda: report_lines(m), args.repeats)
        print(f"stats      people and audit lines                {stats_ms:8.1f} ms  ({len(lines)} lines)")

    other = args.workdir / "other"
    shutil.rmtree(other, ignore_errors=True)
    shutil.copytree(root, other)
    with Manifest.open(other) as o:
        ids = build_queue(o, QueueSpec("audit", seed=9, limit=1000)).patch_ids()
        t0 = time.perf_counter()
        for pid in ids:
            o.decide(pid, Status.REJECTED, annotator="bench-other", queue="audit")
        decide_ms = 1000 * (time.perf_counter() - t0) / max(1, len(ids))
    print(f"decide     one durable decision (mean of {len(ids)})     {decide_ms:8.2f} ms")
    work = args.workdir / "merged"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(root, work)
    with Manifest.open(work) as w:
        t0 = time.perf_counter()
        report = w.merge_from(other)
        merge_ms = 1000 * (time.perf_counter() - t0)
    print(f"merge      copy with {len(ids)} new decisions          {merge_ms:8.1f} ms  "
          f"({report.taken_over} taken over, {len(report.conflicts)} conflicts)  "
          f"{merge_ms / rows_ms:5.2f}x reading every row")
    verdict = "met" if worst_ms <= TARGET_QUEUE_MS else "NOT met"
    print(f"target: build a queue <= {TARGET_QUEUE_MS:.0f} ms — slowest {worst_ms:.1f} ms: {verdict}")
    return 0 if worst_ms <= TARGET_QUEUE_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
