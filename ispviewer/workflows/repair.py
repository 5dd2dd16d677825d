"""``ispviewer check --repair``: rebuild what a check found broken, by re-aligning (user decisions kept).

Checking (:mod:`ispviewer.dataset.check`) needs only the dataset's files; repairing re-runs the
aligner's per-triplet job, so it lives above both.  It never deletes or rewrites a decision: a
re-alignment goes through ``Manifest.store_alignment``, which replaces automatic decisions only.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections import Counter
from collections.abc import Callable

from ispviewer.align.batch import align_job, new_job
from ispviewer.align.tile_cache import rebuild_tile_cache
from ispviewer.dataset.check import LEFTOVER_MIN_AGE_S, CheckReport, referenced_files, rel_path
from ispviewer.dataset.manifest import Manifest, ManifestError
from ispviewer.dataset.records import TripletRecord

#: Patch size of a re-alignment when the triplet has no patches to take it from.
DEFAULT_PATCH = 128


def repair_dataset(root: str | os.PathLike, report: CheckReport,
                   log: Callable[[str], object] = print) -> list[str]:
    """Rebuild what ``report`` marks repairable; returns what was done (one line each).

    Triplets with a missing or broken heatmap or aligned-target cache are re-aligned one by one
    in this process and stored in one transaction each (user decisions are kept); a damaged
    patch-tile cache is written again from the stored alignment.  Leftover
    temporary files and orphans older than :data:`~ispviewer.dataset.check.LEFTOVER_MIN_AGE_S` are
    removed (orphans only if still unreferenced when removed).  Decisions are never deleted.
    """
    done: list[str] = []
    names = list(dict.fromkeys(p.triplet for p in report.problems if p.repairable and p.triplet))
    if names:
        with Manifest.open(root) as manifest:
            for name in names:
                t = manifest.triplet(name)
                log(f"re-aligning {name} ...")
                try:
                    error = realign_triplet(manifest, t)
                except ManifestError as exc:  # e.g. a read-only dataset, a full disk
                    error = str(exc)
                if error:
                    done.append(f"could not repair {name}: {error}")
                else:
                    done.append(f"re-aligned {name}: heatmap and aligned target rebuilt, user decisions kept")
    now = time.time()
    for path in report.leftovers:
        try:
            if now - path.stat().st_mtime >= LEFTOVER_MIN_AGE_S:
                path.unlink()
                done.append(f"removed leftover {rel_path(report.root, path)}")
        except OSError:
            pass
    done += _remove_orphans(report, now)
    done += _rebuild_tile_caches(root, [n for n in report.damaged_tile_caches if n not in names])
    if report.without_metadata:
        from ispviewer.dataset.metadata_refresh import refresh_metadata

        with Manifest.open(root) as manifest:
            filled = refresh_metadata(manifest)
        done.append(filled.summary().splitlines()[0].replace("capture metadata read", "read capture metadata"))
        done += [f"could not read the capture metadata of {line.strip()}" for line in filled.summary().splitlines()[1:]]
    return done


def _remove_orphans(report: CheckReport, now: float) -> list[str]:
    if not report.orphans:
        return []
    try:  # the references as they are now: the re-alignments above may have changed them
        with Manifest.open(report.root, readonly=True) as manifest:
            referenced = referenced_files(manifest.triplets())
    except (ManifestError, sqlite3.DatabaseError):
        return []
    done = []
    for path in report.orphans:
        rel = rel_path(report.root, path)
        try:
            if rel not in referenced and now - path.stat().st_mtime >= LEFTOVER_MIN_AGE_S:
                path.unlink()
                done.append(f"removed orphan {rel}")
        except OSError:
            pass
    return done


def _rebuild_tile_caches(root, names: list[str]) -> list[str]:
    """Write the damaged patch-tile caches again from the stored alignments (nothing re-aligned)."""
    done = []
    if not names:
        return done
    with Manifest.open(root) as manifest:
        for name in names:
            try:
                written = rebuild_tile_cache(manifest, manifest.triplet(name))
            except ManifestError as exc:
                done.append(f"could not rebuild the patch-tile cache of {name}: {exc}")
                continue
            done.append(f"rebuilt the patch-tile cache {written.relpath} of {name} from its stored alignment"
                        if written.relpath else f"could not rebuild the patch-tile cache of {name}: {written.error}")
    return done


def _patch_size(manifest: Manifest, t: TripletRecord) -> int:
    sizes = Counter(p.size for p in manifest.patches(t.id))
    return sizes.most_common(1)[0][0] if sizes else DEFAULT_PATCH


def realign_triplet(manifest: Manifest, t: TripletRecord, patch_size: int | None = None) -> str | None:
    """Align one triplet again, in this process, with the batch's own per-triplet job, and store it.

    Returns an error message, or None once stored.  ``patch_size`` defaults to the triplet's own.
    """
    job = new_job(str(manifest.root), t, patch_size or _patch_size(manifest, t), manifest.threshold_px)
    try:
        for rel in (job.heatmap, job.aligned, t.files.phone, t.files.target):
            manifest.resolve(rel)
    except ManifestError as exc:
        return str(exc)
    _, result, error = align_job(job)
    if result is None:
        return error or "alignment failed"
    manifest.store_alignment(t.id, result)
    return None
