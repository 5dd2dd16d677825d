"""Align a dataset's triplets on a Dask distributed cluster; this process alone writes the manifest.

Same selection, summary, progress and resume semantics as the local process pool
(:func:`ispviewer.align.batch.align_dataset`): the workers run the very same per-triplet function,
read the triplet's files from the shared dataset folder and write its heatmap (and aligned-target
cache) there; the measurements come back to this process, which stores each triplet in one
manifest transaction as it arrives. Ctrl-C cancels the tasks still on the cluster and leaves a
manifest in which every stored triplet is complete; a re-run aligns what is left.
"""

from __future__ import annotations

import os
from contextlib import closing
from dataclasses import replace
from pathlib import Path

from ispviewer.align.batch import AlignJob, BatchSummary, ProgressLine, align_job, open_batch, store_outcome
from ispviewer.cluster import ClusterError, run_tasks
from ispviewer.dataset.manifest import MANIFEST_NAME

_THREADS_SET = False


def align_on_worker(job: AlignJob):
    """Runs on a Dask worker: one OpenCV thread per task (start workers with one task thread per core)."""
    global _THREADS_SET
    if not _THREADS_SET:
        import cv2

        cv2.setNumThreads(1)
        _THREADS_SET = True
    return align_job(job)


def _sees_dataset(root: str) -> bool:
    """Runs on a Dask worker: is the dataset folder there, under this path?"""
    return (Path(root) / MANIFEST_NAME).is_file()


def check_workers_see(client, worker_root: str) -> None:
    """Fail early, once, when a worker cannot see the dataset (rather than every triplet failing)."""
    if not client.submit(_sees_dataset, worker_root, pure=False).result():
        raise ClusterError(f"a Dask worker cannot see the dataset at {worker_root} (no {MANIFEST_NAME} "
                           "there): share the folder with the workers and pass --worker-root with the "
                           "path they see it under")


def align_dataset_on_cluster(root: str | os.PathLike, client, *, threshold_px: float | None = None,
                             patch_size: int = 128, force: bool = False, retries: int = 2,
                             worker_root: str | os.PathLike | None = None, log=print,
                             progress=None) -> BatchSummary:
    """Align the dataset's triplets (all with ``force``, else those not aligned yet) on ``client``'s cluster.

    ``worker_root``: the dataset folder as the workers see it (default: the same path as here).
    ``retries``: how many times Dask re-runs a triplet whose task raised; a worker that dies makes
    the scheduler run its task elsewhere. A triplet that still fails is stored as failed, with the reason.
    ``progress(name, ok)`` is called after each stored triplet (default: a progress line on stderr).
    """
    with open_batch(root, threshold_px=threshold_px, patch_size=patch_size, force=force,
                    log=log) as (manifest, summary, jobs, ids):
        if not jobs:
            return summary
        seen_from = str(worker_root) if worker_root is not None else str(manifest.root)
        jobs = [replace(job, root=seen_from) for job in jobs]
        step = progress or ProgressLine(len(jobs)).step
        try:
            check_workers_see(client, seen_from)
            outcomes = run_tasks(client, align_on_worker, jobs, retries=retries, name=lambda j: j.name,
                                 prefix="ispviewer-align")
            with closing(outcomes):
                for outcome in outcomes:
                    if outcome.error is not None:
                        name, result, error = outcome.item.name, None, f"on the cluster: {outcome.error}"
                    else:
                        name, result, error = outcome.value
                    step(name, store_outcome(manifest, ids[name], summary, name, result, error))
        except KeyboardInterrupt:
            summary.interrupted = True
            log("\ninterrupted: the cluster's pending tasks were cancelled; every triplet stored so far "
                "is safe; run again to resume")
    return summary
