"""The batch runner end to end on a small demo dataset: resumable, user decisions survive, failures recorded."""

import os
import re
import shutil
import sqlite3

import cv2
import numpy as np
import pytest

from ispviewer.align.batch import align_dataset
from ispviewer.cli import main
from ispviewer.dataset.alignment_files import patch_tiles_relpath
from ispviewer.dataset.check import check_dataset
from ispviewer.dataset.demo import build_demo_sources
from ispviewer.dataset.importer import import_sources
from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.records import AlignState, DecidedBy, Status


@pytest.fixture(scope="module")
def demo_sources(tmp_path_factory):
    src = tmp_path_factory.mktemp("demo") / "sources"
    build_demo_sources(src, count=2, size=(480, 360), seed=3)
    return src


@pytest.fixture
def dataset(demo_sources, tmp_path):
    report = import_sources(demo_sources, tmp_path / "ds")
    assert report.ok
    return tmp_path / "ds"


def test_align_resume_and_user_decisions_survive(dataset):
    summary = align_dataset(dataset, workers=2, patch_size=64, log=lambda *a: None)
    assert sorted(summary.aligned) == ["demo_000", "demo_001"] and not summary.failed
    with Manifest.open(dataset) as m:
        t = m.triplet("demo_000")
        assert t.align_state == AlignState.ALIGNED and t.heatmap and m.resolve(t.heatmap).is_file()
        assert re.fullmatch(r"aligned/demo_000\.[0-9a-f]{12}\.jpg", t.aligned_target)  # versioned name
        assert m.resolve(t.aligned_target).is_file() and t.heatmap.startswith("heatmaps/demo_000.")
        patches = m.patches(t.id)
        assert len(patches) > 10
        chosen = patches[3]
        m.decide(chosen.id, Status.FLAGGED, "moving leaf")
    again = align_dataset(dataset, workers=1, patch_size=64, log=lambda *a: None)
    assert again.aligned == [] and sorted(again.skipped) == ["demo_000", "demo_001"]  # resumable
    before = _files(dataset)
    forced = align_dataset(dataset, workers=1, patch_size=64, force=True, log=lambda *a: None)
    assert sorted(forced.aligned) == ["demo_000", "demo_001"]
    after = _files(dataset)
    assert not set(before.values()) & set(after.values())  # fresh names for every file
    assert all((dataset / rel).is_file() for rel in after.values())
    assert not any((dataset / rel).exists() for rel in before.values())  # the replaced files are gone
    assert sorted(p.name for p in (dataset / "heatmaps").iterdir()) == sorted(
        rel.split("/")[1] for (_, kind), rel in after.items() if kind == "heatmap")
    with Manifest.open(dataset) as m:
        p = m.patch(chosen.id)
        assert (p.status, p.decided_by, p.reason) == (Status.FLAGGED, DecidedBy.USER, "moving leaf")


def _files(root) -> dict[tuple[str, str], str]:
    """(triplet, heatmap|aligned) -> the file the manifest references."""
    with Manifest.open(root, readonly=True) as m:
        return {(t.name, kind): rel for t in m.triplets()
                for kind, rel in (("heatmap", t.heatmap), ("aligned", t.aligned_target))}


def test_old_style_dataset_with_unversioned_names_is_realigned(dataset):
    align_dataset(dataset, workers=1, patch_size=64, log=lambda *a: None)
    conn = sqlite3.connect(dataset / "manifest.sqlite")
    with conn:  # as written before versioned names: heatmaps/<name>.npz, aligned/<name>.jpg
        for (name, kind), rel in _files(dataset).items():
            old = f"heatmaps/{name}.npz" if kind == "heatmap" else f"aligned/{name}.jpg"
            os.replace(dataset / rel, dataset / old)
            column = "heatmap_path" if kind == "heatmap" else "aligned_path"
            conn.execute(f"UPDATE triplets SET {column} = ? WHERE name = ?", (old, name))
    conn.close()
    shutil.rmtree(dataset / "tiles")  # written before patch-tile caches existed
    assert check_dataset(dataset).ok and not check_dataset(dataset).orphans
    assert main(["align", str(dataset), "--patch", "64", "--workers", "1", "--force"]) == 0
    after = _files(dataset)
    assert sorted(p.name for p in (dataset / "tiles").iterdir()) == sorted(  # each alignment's own cache
        patch_tiles_relpath(rel).split("/")[1] for (_, kind), rel in after.items() if kind == "heatmap")
    assert all(re.fullmatch(r"(heatmaps|aligned)/demo_00[01]\.[0-9a-f]{12}\.(npz|jpg)", rel) for rel in after.values())
    assert sorted(p.name for p in (dataset / "aligned").iterdir()) == sorted(
        rel.split("/")[1] for (_, kind), rel in after.items() if kind == "aligned")  # old names removed
    report = check_dataset(dataset)
    assert report.ok and not report.orphans, report.summary()


def test_failed_triplet_is_recorded_and_batch_goes_on(dataset, capsys):
    with Manifest.open(dataset) as m:
        target = m.resolve(m.triplet("demo_001").files.target)
    blank = np.full((360, 480, 3), 128, np.uint8)  # no features at all
    target.unlink()  # hard link to the source: replace, do not write through
    cv2.imwrite(str(target), blank)
    rc = main(["align", str(dataset), "--patch", "64", "--workers", "1"])
    assert rc == 1
    with Manifest.open(dataset) as m:
        bad = m.triplet("demo_001")
        assert bad.align_state == AlignState.FAILED and bad.align_error
        assert m.triplet("demo_000").align_state == AlignState.ALIGNED
    assert main(["stats", str(dataset)]) == 0
    assert "failed triplet demo_001" in capsys.readouterr().out


def _measured(m: Manifest, name: str) -> list[tuple]:
    t = m.triplet(name)
    return [t.homography] + sorted((p.x, p.y, p.dx, p.dy, p.ncc, p.misalignment_px, p.measurable, p.status, p.reason)
                             for p in m.patches(t.id))


def test_measurements_do_not_depend_on_threads_or_process(dataset, tmp_path):
    """The same triplet measures the same in a spawned one-thread worker and in this process with
    several OpenCV threads (SIFT then runs in two threads at once): a Dask worker, the local pool,
    the GUI's re-align and ``check --repair`` all store identical figures."""
    from ispviewer.align.batch import BatchSummary, align_job, plan_jobs

    assert not align_dataset(dataset, workers=1, patch_size=64, log=lambda *a: None).failed
    threads = cv2.getNumThreads()
    try:
        with Manifest.open(dataset) as m:
            pooled = [_measured(m, name) for name in ("demo_000", "demo_001")]
            jobs, ids = plan_jobs(m, BatchSummary(), threshold_px=None, patch_size=64, force=True,
                                  log=lambda *a: None)
            for n in (2, 4, 1):
                cv2.setNumThreads(n)
                for job in jobs:
                    name, result, error = align_job(job)
                    assert error is None
                    m.store_alignment(ids[name], result)
                assert [_measured(m, name) for name in ("demo_000", "demo_001")] == pooled, f"{n} threads"
    finally:
        cv2.setNumThreads(threads)
