"""Align every triplet of a dataset: worker processes measure, the calling process alone writes.

Workers read the files, align, and write the triplet's heatmap file atomically; the parent stores
each result in the manifest in one transaction as it arrives, so an interrupted batch (Ctrl-C, a
kill) leaves a consistent manifest and a re-run resumes with the triplets not yet aligned.  Each
job writes under fresh versioned names, so a kill between a worker's write and the parent's store
leaves the stored row with its own files (the new ones are orphans for ``ispviewer check --repair``).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ispviewer.align.worker_memory import keep_freed_memory
from ispviewer.dataset.alignment_files import alignment_paths
from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.records import AlignmentResult, AlignState, TripletRecord

if TYPE_CHECKING:  # imported by the job itself, in the worker: the parent stays light
    import numpy as np

    from ispviewer.align.pipeline import TripletAlignment


@dataclass
class BatchSummary:
    aligned: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already aligned
    interrupted: bool = False

    @property
    def failed_count(self) -> int:
        return len(self.failed)


@dataclass(frozen=True)
class AlignJob:
    """One alignment of one triplet, as every backend runs it (picklable: sent to worker processes).

    Paths are relative to the dataset ``root``, as the manifest stores them; :func:`new_job` gives
    the heatmap and aligned target fresh versioned names.
    """

    root: str
    name: str
    phone: str
    target: str
    heatmap: str
    patch_size: int
    threshold_px: float
    aligned: str | None = None  # where to write the aligned target (display cache); None: not written


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C means
    import cv2

    cv2.setNumThreads(1)  # one thread per worker process: the workers already fill the cores
    keep_freed_memory()


def align_job(job: AlignJob) -> tuple[str, AlignmentResult | None, str | None]:
    """Align one triplet: (name, result, None), or (name, None, error message) — it never raises.

    Reads the job's phone and target JPEGs, measures, and writes the triplet's heatmap (and, when
    ``job.aligned`` is set, its aligned-target cache) inside the dataset; it never writes the
    manifest, which the caller does with the result.  Every backend runs this very function: the
    local process pool, Dask workers (:mod:`ispviewer.align.distributed`), ``ispviewer check
    --repair`` and the GUI's re-align.  Spawned workers unpickle it by its qualified name.
    """
    import cv2

    from ispviewer.align.errors import AlignmentError
    from ispviewer.align.pipeline import AlignParams, align_triplet
    from ispviewer.dataset.heatmap_file import save_heatmap
    from ispviewer.dataset.images import ImageReadError, load_bgr
    from ispviewer.dataset.manifest import ManifestError, safe_join

    try:  # every path from the manifest stays inside the dataset (no '..', absolute or symlink escape)
        phone_path, target_path, heatmap_path = (safe_join(Path(job.root), rel)
                                                 for rel in (job.phone, job.target, job.heatmap))
        _prefault_for(phone_path, target_path)
        # in OpenCV's channel order, as decoded: the aligner needs only the luminance (the same
        # BT.601 luma as from RGB, bit for bit); the aligned-target and patch-tile caches are encoded
        # from B, G, R
        phone = load_bgr(phone_path)
        target = load_bgr(target_path)
        params = AlignParams(patch_size=job.patch_size, threshold_px=job.threshold_px)
        aligned = align_triplet(cv2.cvtColor(phone, cv2.COLOR_BGR2GRAY), cv2.cvtColor(target, cv2.COLOR_BGR2GRAY),
                                params, keep_prefiltered=job.aligned is not None)
    except (ImageReadError, AlignmentError, ManifestError) as exc:
        return job.name, None, str(exc)
    except MemoryError:
        return job.name, None, "out of memory while aligning"
    except Exception as exc:  # noqa: BLE001 - a bug or an unforeseen input must not stop the batch
        return job.name, None, f"unexpected {type(exc).__name__}: {exc}"
    try:
        heatmap_path.parent.mkdir(parents=True, exist_ok=True)
        save_heatmap(heatmap_path, aligned.heatmap, aligned.heatmap_scale)
    except OSError as exc:  # e.g. the disk is full: this triplet fails, the batch goes on
        return job.name, None, f"{heatmap_path}: cannot write the heatmap ({exc.strerror or exc})"
    aligned_target = _write_aligned_target(job, phone, target, aligned)
    del phone
    result = AlignmentResult(
        homography=tuple(tuple(float(v) for v in row) for row in aligned.homography),
        patches=tuple(aligned.patches), heatmap=job.heatmap, threshold_px=job.threshold_px,
        params={"patch_size": job.patch_size}, aligned_target=aligned_target)
    return job.name, result, None


def _prefault_for(phone_path: Path, target_path: Path) -> None:
    """In a batch worker's first triplet, fault in the heap it will need at once (see
    :mod:`ispviewer.align.worker_memory`); elsewhere and later a no-op that reads nothing."""
    from ispviewer.align.worker_memory import heap_for_triplet, heap_ready, prefault_heap
    from ispviewer.dataset.images import ImageReadError, jpeg_size

    if heap_ready():
        return
    try:
        (pw, ph), (tw, th) = jpeg_size(phone_path), jpeg_size(target_path)
    except ImageReadError:  # not JPEGs (a HEIC phone image) or unreadable: the decode says why
        return
    prefault_heap(heap_for_triplet(pw * ph, tw * th))


def _write_aligned_target(job: AlignJob, phone: np.ndarray, target: np.ndarray,
                          aligned: TripletAlignment) -> str | None:
    """Write the job's aligned target (a display cache) and, from it and ``phone``, the patch-tile
    cache; the aligned target's relative path, or None if not written."""
    if job.aligned is None:
        return None
    from ispviewer.align.aligned_target import render_aligned_target_from, save_aligned_target
    from ispviewer.align.tile_cache import write_tile_cache

    try:
        from ispviewer.dataset.manifest import safe_join

        path = safe_join(Path(job.root), job.aligned)
        image = render_aligned_target_from(target, aligned.prefiltered, aligned.homography, aligned.phone_size)
        aligned.prefiltered = None
        write_tile_cache(job.root, job.heatmap, phone, image, aligned.patches, channels="bgr")
        save_aligned_target(path, image, channels="bgr")
    except Exception:  # noqa: BLE001 - only caches: the viewer warps the target itself without them
        return None
    return job.aligned


class ProgressLine:
    """A one-line progress bar with elapsed time and ETA (redrawn on a terminal, one line per step otherwise)."""

    def __init__(self, total: int, stream=sys.stderr):
        self.total, self.done, self.start, self.stream = total, 0, time.monotonic(), stream
        self.tty = stream.isatty()

    def step(self, name: str, ok: bool) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
                f"{elapsed:5.0f}s elapsed, ETA {eta:4.0f}s  {name}{'' if ok else ' (failed)'}")
        if self.tty:
            print("\r" + line.ljust(100), end="", file=self.stream, flush=True)
            if self.done == self.total:
                print(file=self.stream)
        else:
            print(line, file=self.stream, flush=True)


def plan_jobs(manifest: Manifest, summary: BatchSummary, *, threshold_px: float | None, patch_size: int,
              force: bool, log: Callable[[str], object] = print) -> tuple[list[AlignJob], dict[str, int]]:
    """The jobs of the triplets to align and their ids by name; triplets left as they are go to ``summary``.

    Shared by every backend (local process pool, Dask cluster) so they select and describe work alike.
    """
    threshold = manifest.threshold_px if threshold_px is None else float(threshold_px)
    todo: list[TripletRecord] = []
    for t in manifest.triplets():
        if t.align_state == AlignState.ALIGNED and not force:
            summary.skipped.append(t.name)
        else:
            todo.append(t)
    if summary.skipped:
        log(f"{len(summary.skipped)} triplet(s) already aligned (use --force to redo them)")
    jobs = [new_job(str(manifest.root), t, patch_size, threshold) for t in todo]
    return jobs, {t.name: t.id for t in todo}


def new_job(root: str, t: TripletRecord, patch_size: int, threshold_px: float) -> AlignJob:
    """The job of one alignment of ``t``: its files go under fresh versioned names
    (:func:`ispviewer.dataset.alignment_files.alignment_paths`), never over the stored ones."""
    heatmap, aligned = alignment_paths(t.name)
    return AlignJob(root, t.name, t.files.phone, t.files.target, heatmap, int(patch_size), float(threshold_px),
                aligned=aligned)


def store_outcome(manifest: Manifest, triplet_id: int, summary: BatchSummary, name: str,
                  result: AlignmentResult | None, error: str | None) -> bool:
    """Store one triplet's outcome in the manifest (one transaction) and note it; True when aligned."""
    if result is not None:
        manifest.store_alignment(triplet_id, result)
        summary.aligned.append(name)
        return True
    manifest.store_alignment_failure(triplet_id, error or "unknown error")
    summary.failed.append((name, error or "unknown error"))
    return False


@contextmanager
def open_batch(root: str | os.PathLike, *, threshold_px: float | None, patch_size: int, force: bool,
               log: Callable[[str], object] = print,
               ) -> Iterator[tuple[Manifest, BatchSummary, list[AlignJob], dict[str, int]]]:
    """(manifest, summary, jobs, ids by name) of a batch; the failed triplets are listed on leaving.

    Shared by every backend, around its own way of running the jobs.
    """
    summary = BatchSummary()
    with Manifest.open(root) as manifest:
        jobs, ids = plan_jobs(manifest, summary, threshold_px=threshold_px, patch_size=patch_size,
                              force=force, log=log)
        yield manifest, summary, jobs, ids
    for name, error in summary.failed:
        log(f"failed {name}: {error}")


def align_dataset(root: str | os.PathLike, *, workers: int = 2, threshold_px: float | None = None,
                  patch_size: int = 128, force: bool = False, log: Callable[[str], object] = print) -> BatchSummary:
    """Align the dataset's triplets (all with ``force``, else those not aligned yet)."""
    with open_batch(root, threshold_px=threshold_px, patch_size=patch_size, force=force,
                    log=log) as (manifest, summary, jobs, ids):
        if not jobs:
            return summary
        progress = ProgressLine(len(jobs))
        # spawn, not fork: a forked child inherits OpenCV's and torch's thread pools mid-state and can hang
        pool = ProcessPoolExecutor(max_workers=max(1, workers), initializer=_worker_init,
                                   mp_context=multiprocessing.get_context("spawn"))
        pending = set()
        try:
            queue = iter(jobs)
            for job in queue:  # keep at most 2 jobs per worker in flight: bounded memory
                pending.add(pool.submit(align_job, job))
                if len(pending) >= 2 * max(1, workers):
                    break
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    name, result, error = fut.result()
                    progress.step(name, store_outcome(manifest, ids[name], summary, name, result, error))
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending.add(pool.submit(align_job, nxt))
        except KeyboardInterrupt:
            summary.interrupted = True
            for fut in pending:
                fut.cancel()
            log("\ninterrupted: every triplet stored so far is safe; run again to resume")
        finally:
            pool.shutdown(wait=not summary.interrupted, cancel_futures=True)
    return summary


