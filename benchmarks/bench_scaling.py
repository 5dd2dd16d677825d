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

The batch section (``--batch-only`` runs it alone) times ``align_dataset`` with the default worker
count (``ispviewer align``'s) on two batches of 12 MP phone / 24 MP target triplets — copies of
bench_align's photographic triplet (4032x3024 phone, 6048x4024 target) and of the 12 MP demo
triplet above — and prints the wall time per triplet next to the decode floor of the same images
(decoding both JPEGs of every triplet, spread over the same number of processes), and the steady
state: the time per triplet once each worker has finished its first triplet (read from the times
of the files each job wrote), which is what a long batch settles to — start-up and each worker's
first, cold triplet (the process touching its memory for the first time) are paid once per
batch — with the projection for the poster's 2,424 pairs from it. With
``--baseline DIR`` (a checkout of an earlier commit, e.g. ``git worktree add /tmp/base <commit>``)
every batch is also timed with that code, alternately with this one (A B B A ...), each batch in a
fresh Python process, and the per-triplet speed-up is printed run for run: on a shared machine
only a ratio taken under the same load means anything.

    python benchmarks/bench_scaling.py [--count 6] [--size 2000x1500] [--repeats 3] [--workdir DIR]
                                       [--batch-only] [--batch 8] [--baseline DIR]
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


def _batch_sources(work: Path, big: Path, copies: int) -> dict[str, Path]:
    """By-role source folders of ``copies`` identical 12 MP triplets (hard links): bench_align's
    photographic triplet and the 12 MP demo triplet."""
    import os

    from bench_align import make_inputs  # a sibling script (benchmarks/ is on sys.path when run)

    info = make_inputs(work / "bench_align")
    raw = Path(info["gt"]).parents[1] / "raw" / (Path(info["gt"]).stem + ".dng")
    kinds = {"bench_align triplet": (raw, Path(info["phone"]), Path(info["target"])),
             "12 MP demo triplet": tuple(next((big / role).glob("*")) for role in ("raw", "phone", "target"))}
    out = {}
    for label, files in kinds.items():
        folder = work / f"batch_{label.split()[0]}_{copies}"
        if not (folder / "done").exists():
            shutil.rmtree(folder, ignore_errors=True)
            for role, src in zip(("raw", "phone", "target"), files):
                (folder / role).mkdir(parents=True)
                for i in range(copies):
                    os.link(src, folder / role / f"t{i:03d}{src.suffix}")
            (folder / "done").touch()
        out[label] = folder
    return out


def _cpu_now() -> float:
    """CPU seconds of this process and its finished (waited-for) children: a pool's workers once shut down."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _decode_pair(paths: tuple[str, str]) -> float:
    from ispviewer.dataset.images import load_rgb

    t = time.process_time()
    load_rgb(paths[0])
    load_rgb(paths[1])
    return time.process_time() - t


def _decode_floor(sources: Path, workers: int) -> tuple[float, float]:
    """(wall, CPU) seconds per triplet to decode every triplet's two JPEGs over ``workers`` warm
    processes (CPU: the decoding processes' CPU time)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pairs = [(str(p), str(sources / "target" / p.name)) for p in sorted((sources / "phone").glob("*.jpg"))]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_decode_pair, pairs[:workers]))  # warm: imports, first decode
        t = time.perf_counter()
        busy = sum(pool.map(_decode_pair, pairs))
        return (time.perf_counter() - t) / len(pairs), busy / len(pairs)


def _finish_times(ds: Path) -> list[float]:
    """When each triplet's alignment job ended (its newest file in the dataset: heatmap, aligned target,
    patch-tile cache, all written by the job, named ``<triplet>.<token>.*``), sorted, epoch seconds.
    Read from the files, so that any version of the code can be timed alike."""
    newest: dict[str, float] = {}
    for folder in ("heatmaps", "aligned", "tiles"):
        for f in (ds / folder).glob("*.*") if (ds / folder).is_dir() else ():
            name = f.name.split(".")[0]
            newest[name] = max(newest.get(name, 0.0), f.stat().st_mtime)
    return sorted(newest.values())


def steady_per_triplet(finished: list[float], workers: int) -> float | None:
    """Seconds per triplet once every worker has finished its first (cold) triplet: what a long
    batch settles to (the fixed costs, process start-up and each worker's first triplet, amortized
    away); None when the batch is too short to tell."""
    if len(finished) < workers + 2:
        return None
    return (finished[-1] - finished[workers - 1]) / (len(finished) - workers)


def _time_batch(sources: Path, work: Path, workers: int) -> tuple[float, float, float | None]:
    """(wall, CPU of every process, steady-state wall per triplet) seconds of one batch, spawning its
    workers included in the first two."""
    from ispviewer.align.batch import align_dataset

    ds = _fresh(sources, work / "ds")
    c, t = _cpu_now(), time.perf_counter()
    summary = align_dataset(ds, workers=workers, force=True, log=_quiet)
    elapsed, cpu = time.perf_counter() - t, _cpu_now() - c
    assert not summary.failed, summary.failed
    finished = _finish_times(ds)
    assert len(finished) == len(summary.aligned), (len(finished), len(summary.aligned))
    return elapsed, cpu, steady_per_triplet(finished, workers)


def _time_batch_in(code: Path, sources: Path, work: Path, workers: int) -> tuple[float, float, float | None]:
    """:func:`_time_batch` in a fresh Python process that imports ``ispviewer`` from ``code``."""
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(code), str(Path(__file__).parent)]))
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--time-one-batch", str(sources),
                          "--workdir", str(work), "--workers", str(workers)],
                         env=env, check=True, capture_output=True, text=True, cwd=str(code))
    wall, cpu, steady, origin = json.loads(out.stdout.strip().splitlines()[-1])
    if Path(origin).resolve() != (code / "ispviewer").resolve():
        raise SystemExit(f"the batch under {code} imported ispviewer from {origin}")
    return wall, cpu, steady


def batch_section(work: Path, big: Path, copies: int, repeats: int, baseline: Path | None = None) -> None:
    import os

    workers = min(2, os.cpu_count() or 1)  # `ispviewer align`'s default
    here = Path(__file__).resolve().parents[1]
    versions = {"this code": here} if baseline is None else {"this code": here, "baseline": baseline.resolve()}
    print(f"\nbatch of {copies} 12 MP / 24 MP triplets, align_dataset with the default {workers} worker(s), "
          f"each batch in a fresh process ({load_average()})" + (f"; baseline: {baseline}" if baseline else "") + ":")
    for label, sources in _batch_sources(work, big, copies).items():
        floors, runs = [], {v: [] for v in versions}
        for r in range(repeats):  # interleaved, A B B A ...: load changes hit every version alike
            floors.append(_decode_floor(sources, workers))
            for version in (list(versions) if r % 2 == 0 else list(versions)[::-1]):
                wall, cpu, steady = _time_batch_in(versions[version], sources, work, workers)
                runs[version].append((wall / copies, cpu / copies, steady))
        floor, floor_cpu = min(floors)
        for version, values in runs.items():
            wall, cpu, _ = min(values)
            print(f"  {label:<20} {version:<10} wall {wall:.3f} s per triplet (best of {repeats}: "
                  f"{' '.join(f'{v[0]:.2f}' for v in values)}) vs decode floor {floor:.3f} s: {wall / floor:.2f}x")
            print(f"  {'':<31} CPU  {cpu:.3f} s per triplet, all processes (runs: "
                  f"{' '.join(f'{v[1]:.2f}' for v in values)}) vs decode {floor_cpu:.3f} s: {cpu / floor_cpu:.2f}x; "
                  f"on {workers} idle core(s): ~{cpu / workers:.2f} s per triplet wall")
            steady = [v[2] for v in values if v[2] is not None]
            if steady:
                best = min(steady)
                fixed = wall * copies - best * copies
                print(f"  {'':<31} steady state (once each worker's first triplet is done): {best:.3f} s per "
                      f"triplet (runs: {' '.join(f'{v:.2f}' for v in steady)}) vs decode floor: {best / floor:.2f}x; "
                      f"{POSTER_PAIRS} pairs: {(fixed + POSTER_PAIRS * best) / 60:.1f} min "
                      f"({fixed:.1f} s start-up and first triplets)")
        if baseline is not None:
            pairs = list(zip(runs["baseline"], runs["this code"]))
            print(f"  {'':<20} speed-up over the baseline, run for run: wall "
                  f"{' '.join(f'{b[0] / n[0]:.2f}x' for b, n in pairs)}, CPU "
                  f"{' '.join(f'{b[1] / n[1]:.2f}x' for b, n in pairs)}"
                  + ("" if any(v[2] is None for p in pairs for v in p) else
                     f", steady state {' '.join(f'{b[2] / n[2]:.2f}x' for b, n in pairs)}"))
    print(f"  ({load_average()}; on a shared machine compare the ratios to the floor, run for run; CPU time is "
          "the figure least moved by other processes)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=6)
    ap.add_argument("--size", default="2000x1500")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--batch", type=int, default=8, help="triplets per batch in the batch section")
    ap.add_argument("--batch-only", action="store_true", help="run only the batch section")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="a checkout of earlier code: the batch section times it too, alternately with this code")
    ap.add_argument("--time-one-batch", type=Path, default=None, help=argparse.SUPPRESS)  # internal: one timed batch
    ap.add_argument("--workers", type=int, default=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.gettempdir()) / "ispviewer_bench_scaling"
    work.mkdir(parents=True, exist_ok=True)
    if args.time_one_batch is not None:
        import json

        import ispviewer

        wall, cpu, steady = _time_batch(args.time_one_batch, work, args.workers)
        print(json.dumps([wall, cpu, steady, str(Path(ispviewer.__file__).parent)]))
        return
    if args.baseline is not None and not (args.baseline / "ispviewer" / "align").is_dir():
        raise SystemExit(f"--baseline {args.baseline}: not a checkout of this project")
    size = tuple(int(v) for v in args.size.lower().split("x"))
    demo, big = _sources(work, args.count, size)
    if args.batch_only:
        batch_section(work, big, args.batch, args.repeats, args.baseline)
        return
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
    batch_section(work, big, args.batch, args.repeats, args.baseline)


if __name__ == "__main__":
    main()
