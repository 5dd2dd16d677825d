"""Latency of a decision write while `ispviewer align --force` rewrites the same dataset.

A child process calls ``Manifest.decide`` (what the GUI's writer thread calls) in a loop, paced
like a fast user (``--rate`` decisions per second, 0 = as fast as it can), and records each call's
latency.  It runs twice on the same dataset, in the same run:
  alone       — nothing else writes the manifest (the reference);
  with align  — ``ispviewer align --force`` re-aligns every triplet meanwhile (each triplet is one
                write transaction that replaces its patches).
Printed: decisions, median / p99 / worst latency (ms) of each, and the ratios.  Every decision
is then checked to be in the manifest (none lost) and no "locked" error must have surfaced.
Target: worst decision under align <= 1 s (SQLite's busy timeout is 5 s, the retry limit 30 s).

    python benchmarks/bench_concurrent_writes.py [--count 6] [--size 1000x750] [--rate 20]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from _common import load_average

TARGET_WORST_S = 1.0

CHILD = textwrap.dedent("""
    import os, random, sys, time
    from ispviewer.dataset.manifest import Manifest
    root, tag, rate, stop, limit = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    rnd = random.Random(tag)
    with Manifest.open(root) as m:
        ids = [p.id for p in m.patches()]
        print("ready", flush=True)
        i = 0
        while not os.path.exists(stop) and i < limit:
            t0 = time.perf_counter()
            m.decide(rnd.choice(ids), rnd.choice(("accepted", "rejected", "flagged")), f"{tag}-{i}")
            dt = time.perf_counter() - t0
            print(f"{tag}-{i} {dt * 1000:.3f}", flush=True)
            i += 1
            if rate > 0:
                time.sleep(max(0.0, 1.0 / rate - dt))
""")


def run_writer(root: Path, tag: str, rate: float, limit: int, during: list[str] | None) -> tuple[list[float], str]:
    stop = root.parent / f"{tag}.stop"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(root), tag, str(rate), str(stop), str(limit)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "ready\n", child.stderr.read()
    other_err = ""
    if during is not None:
        other = subprocess.run(during, capture_output=True, text=True)
        other_err = other.stderr
        if other.returncode != 0:
            raise SystemExit(f"align failed ({other.returncode}): {other.stderr}")
        stop.touch()
    out, err = child.communicate()
    if child.returncode != 0:
        raise SystemExit(f"decision writer failed: {err}")
    latencies = [float(line.split()[1]) for line in out.splitlines()]
    conn = sqlite3.connect(str(root / "manifest.sqlite"))
    stored = conn.execute("SELECT COUNT(*) FROM decisions WHERE reason LIKE ?", (f"{tag}-%",)).fetchone()[0]
    conn.close()
    if stored != len(latencies):
        raise SystemExit(f"LOST DECISIONS: {len(latencies)} returned, {stored} stored")
    if "locked" in (err + other_err).lower():
        raise SystemExit("a 'database is locked' error surfaced")
    return latencies, other_err


def describe(name: str, ms: list[float]) -> str:
    ms = sorted(ms)
    p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
    return (f"{name:<12} {len(ms):6d} decisions   median {statistics.median(ms):7.2f} ms   "
            f"p99 {p99:7.2f} ms   worst {ms[-1]:8.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=6, help="demo triplets")
    parser.add_argument("--size", default="1000x750", help="phone frame of the demo triplets")
    parser.add_argument("--rate", type=float, default=20.0, help="decisions per second (0: unpaced)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))

    from ispviewer.align.batch import align_dataset
    from ispviewer.dataset.demo import build_demo_sources
    from ispviewer.dataset.importer import import_sources

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-concurrent-"))
    root = work / "ds"
    if not (root / "manifest.sqlite").exists():
        print(f"building {args.count} demo triplets at {w}x{h} in {work} ...", flush=True)
        build_demo_sources(work / "sources", count=args.count, size=(w, h), seed=0)
        import_sources(work / "sources", root)
        align_dataset(root, workers=args.workers, log=lambda *_: None)
    align = [sys.executable, "-m", "ispviewer", "align", str(root), "--force", "--workers", str(args.workers)]

    t0 = time.perf_counter()
    with_align, _ = run_writer(root, f"with{int(t0)}", args.rate, 10**9, align)
    align_s = time.perf_counter() - t0
    alone, _ = run_writer(root, f"alone{int(t0)}", args.rate, len(with_align), None)

    print(f"\n{load_average()}; align --force of {args.count} triplets took {align_s:.1f} s, "
          f"decisions paced at {args.rate:g}/s")
    print(describe("alone", alone))
    print(describe("with align", with_align))
    worst_ratio = max(with_align) / max(max(alone), 1e-6)
    median_ratio = statistics.median(with_align) / max(statistics.median(alone), 1e-6)
    print(f"ratio (with align / alone): median {median_ratio:.2f}x, worst {worst_ratio:.2f}x")
    worst_s = max(with_align) / 1000
    verdict = "OK" if worst_s <= TARGET_WORST_S else "ABOVE TARGET"
    print(f"worst decision under align: {worst_s * 1000:.1f} ms (target <= {TARGET_WORST_S * 1000:.0f} ms): {verdict}")
    print("no decision lost, no lock error surfaced")
    return 0 if worst_s <= TARGET_WORST_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
