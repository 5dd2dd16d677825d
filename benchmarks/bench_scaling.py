"""Scaling of batch alignment: triplets per minute with 1 vs 2 Dask workers, next to the local process
pool with 1 and 2 workers (the reference), all measured in the same run under the same load.

Inputs (written once to a work folder): COUNT demo triplets at SIZE (default 6 at 2000x1500) and one
12 MP triplet (4032x3024 phone frame, 6048x4536 target) for the per-pixel factor. Every configuration
aligns a fresh import of the same sources (force), so all do identical work. Dask clusters are
LocalClusters of worker processes with one thread each; their start-up and warm-up (imports) are
timed apart, the throughput counts only the batch itself; the local pool's figure includes
spawning its processes (as a user sees it).

The projection for the poster's 2,424 pairs scales the 1-worker time per demo triplet by the
measured 12 MP / demo time ratio, then divides by the worker count (linear scaling: each worker
its own core, the shared folder not the bottleneck).

    python benchmarks/bench_scaling.py [--count 6] [--size 2000x1500] [--repeats 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path

from _common import load_average

POSTER_PAIRS = 2424
BIG_SIZE = (4032, 3024)


def _sources(work: Path, count: int, size: tuple[int, int]) -> tuple[Path, Path]:
    from ispviewer.dataset.demo import build_demo_sources

    demo, big = work / f"demo_{count}x{size[0]}x{size[1]}", work / "big_4032x3024"
    for folder, n, wh, seed in ((demo, count, size, 0), (big, 1, BIG_SIZE, 11)):
        if not (folder / "done").exists():
            t = time.perf_counter()
            shutil.rmtree(folder, ignore_errors=True)
            build_demo_sources(folder, count=n, size=wh, seed=seed)
            (folder / "done").touch()
            print(f"wrote {n} source triplet(s) at {wh[0]}x{wh[1]} in {time.perf_counter() - t:.0f} s")
    return demo, big


def _fresh(sources: Path, dst: Path) -> Path:
    from ispviewer.dataset.importer import import_sources

    shutil.rmtree(dst, ignore_errors=True)
    if not import_sources(sources, dst).ok:
        raise SystemExit(f"import of {sources} failed")
    return dst


def _warm() -> None:
    import cv2  # noqa: F401

    import ispviewer.align.pipeline  # noqa: F401


def _quiet(*_args) -> None:
    pass


def _cpu_timed(job) -> tuple[float, float]:
    """Runs on a worker: (CPU seconds, wall seconds) of aligning one triplet, one thread as in a batch."""
    from ispviewer.align.distributed import align_on_worker

    c, t = time.process_time(), time.perf_counter()
    _name, result, error = align_on_worker(job)
    assert error is None, error
    return time.process_time() - c, time.perf_counter() - t


def _time_pool(sources: Path, work: Path, workers: int) -> float:
    from ispviewer.align.batch import align_dataset

    ds = _fresh(sources, work / "ds")
    t = time.perf_counter()
    summary = align_dataset(ds, workers=workers, force=True, log=_quiet)
    elapsed = time.perf_counter() - t
    assert not summary.failed, summary.failed
    return elapsed


class _Cluster:
    """A LocalCluster of ``workers`` one-thread worker processes, started (and warmed up) once."""

    def __init__(self, workers: int):
        from dask.distributed import Client, LocalCluster

        t = time.perf_counter()
        self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                    dashboard_address=None, silence_logs=logging.ERROR)
        self.client = Client(self.cluster)
        self.client.run(_warm)
        self.startup = time.perf_counter() - t

    def time_batch(self, sources: Path, work: Path) -> float:
        from ispviewer.align.distributed import align_dataset_on_cluster

        ds = _fresh(sources, work / "ds")
        t = time.perf_counter()
        summary = align_dataset_on_cluster(ds, self.client, force=True, log=_quiet, progress=lambda n, ok: None)
        elapsed = time.perf_counter() - t
        assert not summary.failed, summary.failed
        return elapsed

    def cpu_per_triplet(self, sources: Path, work: Path) -> float:
        """Median CPU seconds per triplet, one at a time: little affected by other processes' load."""
        import statistics

        from ispviewer.align.batch import BatchSummary, plan_jobs
        from ispviewer.dataset.manifest import Manifest

        with Manifest.open(_fresh(sources, work / "ds")) as m:
            jobs, _ids = plan_jobs(m, BatchSummary(), threshold_px=None, patch_size=128, force=True, log=_quiet)
        return statistics.median(self.client.submit(_cpu_timed, job, pure=False).result()[0] for job in jobs)

    def close(self) -> None:
        self.client.close()
        self.cluster.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=6)
    ap.add_argument("--size", default="2000x1500")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    work = args.workdir or Path(tempfile.gettempdir()) / "ispviewer_bench_scaling"
    work.mkdir(parents=True, exist_ok=True)
    demo, big = _sources(work, args.count, size)
    print(f"start: {load_average()}")
    clusters = {w: _Cluster(w) for w in (1, 2)}
    runs = {("local pool", w): (lambda w=w: _time_pool(demo, work, w)) for w in (1, 2)}
    runs.update({("dask", w): (lambda w=w: clusters[w].time_batch(demo, work)) for w in (1, 2)})
    order = [("local pool", 1), ("dask", 1), ("local pool", 2), ("dask", 2)]
    rows: dict[tuple[str, int], list[float]] = {}
    big_times: list[float] = []
    try:
        for r in range(args.repeats):  # interleaved, order reversed every other round: load changes hit all alike
            for key in order if r % 2 == 0 else order[::-1]:
                rows.setdefault(key, []).append(runs[key]())
            big_times.append(clusters[1].time_batch(big, work))
        cpu_demo, cpu_big = (clusters[1].cpu_per_triplet(src, work) for src in (demo, big))
    finally:
        for c in clusters.values():
            c.close()
    print(f"end:   {load_average()}  (a shared machine: every figure below was taken in this run, "
          "under this load)")
    n = args.count
    print(f"\n{'configuration':<24} {'batch s':>8} {'triplets/min':>13} {'speed-up':>9}   ({n} triplets "
          f"{size[0]}x{size[1]}, best of {args.repeats}; all runs: s)")
    best = {k: min(v) for k, v in rows.items()}
    for (kind, w), seconds in best.items():
        ref = best[(kind, 1)]
        runs_s = " ".join(f"{v:.1f}" for v in rows[(kind, w)])
        print(f"{kind + f', {w} worker(s)':<24} {seconds:>8.1f} {60 * n / seconds:>13.1f} {ref / seconds:>8.2f}x"
              f"   [{runs_s}]")
    for w, c in clusters.items():
        print(f"dask cluster start-up + warm-up, {w} worker(s): {c.startup:.1f} s (once per cluster)")
    per_demo = best[("dask", 1)] / n
    per_big = min(big_times)
    pixels = (BIG_SIZE[0] * BIG_SIZE[1]) / (size[0] * size[1])
    print(f"\n12 MP triplet on 1 Dask worker: {per_big:.1f} s vs {per_demo:.2f} s per demo triplet: "
          f"{per_big / per_demo:.2f}x for {pixels:.2f}x the pixels")
    eff = best[("dask", 1)] / best[("dask", 2)] / 2
    print(f"projected for the poster's {POSTER_PAIRS} pairs at 12 MP ({per_big:.1f} s each per worker; "
          f"linear in workers, each with its own core; 2-worker efficiency measured here: {eff:.0%}):")
    for workers in (1, 2, 16, 64):
        print(f"  {workers:>3} worker(s): {POSTER_PAIRS * per_big / workers / 3600:6.2f} h")
    print(f"\nCPU time per triplet (one thread, little affected by the load): demo {cpu_demo:.2f} s, "
          f"12 MP {cpu_big:.2f} s ({cpu_big / cpu_demo:.2f}x for {pixels:.2f}x the pixels); an idle core "
          f"aligns {60 / cpu_big:.1f} 12 MP triplets/min")
    print(f"projected for the poster's {POSTER_PAIRS} pairs from CPU time (each worker an idle core of this kind):")
    for workers in (1, 2, 16, 64):
        print(f"  {workers:>3} worker(s): {POSTER_PAIRS * cpu_big / workers / 3600:6.2f} h")


if __name__ == "__main__":
    main()
