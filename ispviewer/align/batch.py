"""Align every triplet of a dataset: worker processes measure, the calling process alone writes.

Workers read the files, align, and write the triplet's heatmap file atomically; the parent stores
each result in the manifest in one transaction as it arrives, so an interrupted batch (Ctrl-C, a
kill) leaves a consistent manifest and a re-run resumes with the triplets not yet aligned.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.records import AlignmentResult, AlignState, TripletRecord
from ispviewer.dataset.rules import DEFAULT_THRESHOLD_PX


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
class _Job:
    root: str
    name: str
    phone: str
    target: str
    heatmap: str
    patch_size: int
    threshold_px: float


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C means
    import cv2

    cv2.setNumThreads(1)


def _align_job(job: _Job) -> tuple[str, AlignmentResult | None, str | None]:
    """Runs in a worker: (name, result, None) or (name, None, error message)."""
    from ispviewer.align.heatmap import save_heatmap
    from ispviewer.align.errors import AlignmentError
    from ispviewer.align.pipeline import AlignParams, align_triplet
    from ispviewer.dataset.images import ImageReadError, load_rgb

    try:
        phone = load_rgb(Path(job.root) / job.phone)
        target = load_rgb(Path(job.root) / job.target)
        params = AlignParams(patch_size=job.patch_size, threshold_px=job.threshold_px)
        aligned = align_triplet(phone, target, params)
    except (ImageReadError, AlignmentError) as exc:
        return job.name, None, str(exc)
    except MemoryError:
        return job.name, None, "out of memory while aligning"
    except Exception as exc:  # a bug or an unforeseen input must not stop the batch
        return job.name, None, f"unexpected {type(exc).__name__}: {exc}"
    heatmap_path = Path(job.root) / job.heatmap
    heatmap_path.parent.mkdir(parents=True, exist_ok=True)
    save_heatmap(heatmap_path, aligned.heatmap, aligned.heatmap_scale)
    result = AlignmentResult(
        homography=tuple(tuple(float(v) for v in row) for row in aligned.homography),
        patches=tuple(aligned.patches), heatmap=job.heatmap, threshold_px=job.threshold_px,
        params={"patch_size": job.patch_size})
    return job.name, result, None


class _Progress:
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


def align_dataset(root: str | os.PathLike, *, workers: int = 2, threshold_px: float | None = None,
                  patch_size: int = 128, force: bool = False, log=print) -> BatchSummary:
    """Align the dataset's triplets (all with ``force``, else those not aligned yet)."""
    summary = BatchSummary()
    with Manifest.open(root) as manifest:
        threshold = manifest.threshold_px if threshold_px is None else float(threshold_px)
        todo: list[TripletRecord] = []
        for t in manifest.triplets():
            if t.align_state == AlignState.ALIGNED and not force:
                summary.skipped.append(t.name)
            else:
                todo.append(t)
        if summary.skipped:
            log(f"{len(summary.skipped)} triplet(s) already aligned (use --force to redo them)")
        if not todo:
            return summary
        ids = {t.name: t.id for t in todo}
        jobs = [_Job(str(manifest.root), t.name, t.files.phone, t.files.target, f"heatmaps/{t.name}.npz",
                     patch_size, threshold) for t in todo]
        progress = _Progress(len(jobs))
        # spawn, not fork: a forked child inherits OpenCV's and torch's thread pools mid-state and can hang
        pool = ProcessPoolExecutor(max_workers=max(1, workers), initializer=_worker_init,
                                   mp_context=multiprocessing.get_context("spawn"))
        pending = set()
        try:
            queue = iter(jobs)
            for job in queue:  # keep at most 2 jobs per worker in flight: bounded memory
                pending.add(pool.submit(_align_job, job))
                if len(pending) >= 2 * max(1, workers):
                    break
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    name, result, error = fut.result()
                    if result is not None:
                        manifest.store_alignment(ids[name], result)
                        summary.aligned.append(name)
                    else:
                        manifest.store_alignment_failure(ids[name], error)
                        summary.failed.append((name, error))
                    progress.step(name, result is not None)
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending.add(pool.submit(_align_job, nxt))
        except KeyboardInterrupt:
            summary.interrupted = True
            for fut in pending:
                fut.cancel()
            log("\ninterrupted: every triplet stored so far is safe; run again to resume")
        finally:
            pool.shutdown(wait=not summary.interrupted, cancel_futures=True)
    for name, error in summary.failed:
        log(f"failed {name}: {error}")
    return summary


