"""Alignment, inference and generic tasks on a real Dask LocalCluster (2 worker processes): single writer,
retries, worker death, Ctrl-C, resume. Skipped where Dask distributed is not installed."""

import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

distributed = pytest.importorskip("dask.distributed")
cloudpickle = pytest.importorskip("cloudpickle")

from helpers import write_dng  # noqa: E402
from ispviewer.align.batch import align_dataset  # noqa: E402
from ispviewer.align.distributed import align_dataset_on_cluster  # noqa: E402
from ispviewer.cli import main  # noqa: E402
from ispviewer.cluster import run_tasks  # noqa: E402
from ispviewer.dataset.alignment_files import patch_tiles_relpath  # noqa: E402
from ispviewer.dataset.demo import build_demo_sources  # noqa: E402
from ispviewer.dataset.importer import import_sources  # noqa: E402
from ispviewer.dataset.manifest import Manifest  # noqa: E402
from ispviewer.dataset.patch_tiles import read_index  # noqa: E402
from ispviewer.dataset.records import AlignState  # noqa: E402

# the task functions below run on the workers, which cannot import this test module: ship them by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def cluster():
    import logging

    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                                  silence_logs=logging.ERROR) as lc, distributed.Client(lc) as client:
        yield lc, client


@pytest.fixture(scope="module")
def demo_sources(tmp_path_factory):
    src = tmp_path_factory.mktemp("demo") / "sources"
    build_demo_sources(src, count=3, size=(480, 360), seed=3)
    return src


@pytest.fixture
def dataset(demo_sources, tmp_path):
    assert import_sources(demo_sources, tmp_path / "ds").ok
    return tmp_path / "ds"


def _quiet(*_args):
    pass


def _wait_idle(lc, seconds=10.0):
    deadline = time.monotonic() + seconds
    while lc.scheduler.tasks and time.monotonic() < deadline:
        time.sleep(0.1)
    return not lc.scheduler.tasks


def _measurements(m: Manifest, t) -> list[tuple]:
    return sorted((p.x, p.y, p.dx, p.dy, round(p.misalignment_px, 6)) for p in m.patches(t.id))


def test_cli_aligns_on_cluster_same_as_local_job_and_resumes(cluster, dataset, demo_sources, tmp_path, capsys):
    lc, _client = cluster
    rc = main(["align", str(dataset), "--patch", "64", "--scheduler", lc.scheduler_address])
    assert rc == 0, capsys.readouterr().err
    with Manifest.open(dataset) as m:
        triplets = m.triplets()
        assert [t.align_state for t in triplets] == [AlignState.ALIGNED] * 3
        assert all(m.resolve(t.heatmap).is_file() for t in triplets)
        for t in triplets:  # and each alignment's patch-tile cache, with every patch
            assert len(read_index(m.resolve(patch_tiles_relpath(t.heatmap)))) == len(m.patches(t.id))
        stored = [_measurements(m, t) for t in triplets]
    # the workers ran the very function the local pool runs: same measurements for the same triplets.
    # The reference comes from the local pool's own freshly spawned worker, not from this process:
    # a measurement does not depend on threads or on what a process ran before (test_align_batch),
    # but this process imported the aligner when the session started, and a suite run while the
    # checkout changes (a merge) would compare two versions of the code.
    local = tmp_path / "local"
    assert import_sources(demo_sources, local).ok
    assert not align_dataset(local, workers=1, patch_size=64, log=_quiet).failed
    with Manifest.open(local) as m:
        assert [_measurements(m, t) for t in m.triplets()] == stored
    assert len(stored[0]) > 10
    again = align_dataset_on_cluster(dataset, _client, patch_size=64, log=_quiet)
    assert again.aligned == [] and len(again.skipped) == 3  # resumable, nothing re-run


def test_failed_triplet_reported_then_ctrl_c_leaves_consistent_manifest(cluster, dataset):
    lc, client = cluster
    with Manifest.open(dataset) as m:
        target = m.resolve(m.triplet("demo_001").files.target)
    target.unlink()  # hard link to the source: replace, do not write through
    cv2.imwrite(str(target), np.full((360, 480, 3), 128, np.uint8))  # no features at all

    def interrupt_after_first(name, ok):
        raise KeyboardInterrupt

    summary = align_dataset_on_cluster(dataset, client, patch_size=64, log=_quiet, progress=interrupt_after_first)
    assert summary.interrupted and len(summary.aligned) + len(summary.failed) == 1
    assert _wait_idle(lc), "pending tasks were not cancelled on the cluster"
    with Manifest.open(dataset) as m:
        states = [t.align_state for t in m.triplets()]
    assert states.count(AlignState.PENDING) == 2  # untouched, not half-written

    summary = align_dataset_on_cluster(dataset, client, patch_size=64, log=_quiet, progress=lambda n, ok: None)
    assert not summary.interrupted and len(summary.aligned) + len(summary.failed) >= 2  # the rest, resumed
    assert [name for name, _reason in summary.failed] == ["demo_001"]  # reported per triplet
    with Manifest.open(dataset) as m:
        bad = m.triplet("demo_001")
        assert bad.align_state == AlignState.FAILED and bad.align_error
        assert m.triplet("demo_000").align_state == AlignState.ALIGNED
        assert m.triplet("demo_002").align_state == AlignState.ALIGNED


def test_workers_that_cannot_see_the_dataset_fail_once_clearly(cluster, dataset, tmp_path, capsys):
    lc, _client = cluster
    rc = main(["align", str(dataset), "--scheduler", lc.scheduler_address, "--worker-root", str(tmp_path / "nope")])
    assert rc == 2 and "cannot see the dataset" in capsys.readouterr().err
    with Manifest.open(dataset) as m:
        assert all(t.align_state == AlignState.PENDING for t in m.triplets())


def _flaky(item, marker_dir):
    """Fails the first time it runs for ``item`` (a transient error), succeeds after."""
    marker = Path(marker_dir) / f"{item}.tried"
    if not marker.exists():
        marker.touch()
        raise OSError(f"transient failure for {item}")
    return item * 10


def _dies_once(item, marker_dir):
    """Kills its worker process the first time it runs (a crash mid-task), succeeds after."""
    marker = Path(marker_dir) / f"{item}.died"
    if not marker.exists():
        marker.touch()
        os._exit(1)
    return item + 100


def test_run_tasks_retries_reports_and_survives_a_dead_worker(cluster, tmp_path):
    _lc, client = cluster
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir(), (tmp_path / "c").mkdir()
    ok = {o.item: o for o in run_tasks(client, _flaky, [1, 2], retries=1, extra_args=(str(tmp_path / "a"),))}
    assert {k: (o.value, o.error) for k, o in ok.items()} == {1: (10, None), 2: (20, None)}
    bad = list(run_tasks(client, _flaky, [3], retries=0, extra_args=(str(tmp_path / "b"),)))
    assert bad[0].value is None and "OSError: transient failure for 3" in bad[0].error
    survived = list(run_tasks(client, _dies_once, [5], retries=0, extra_args=(str(tmp_path / "c"),)))
    assert (survived[0].value, survived[0].error) == (105, None)  # the scheduler re-ran it on a live worker


def test_infer_on_cluster_matches_local_render_and_reports_bad_raw(cluster, tmp_path, capsys):
    import torch

    from ispviewer.model import build_model, save_checkpoint

    lc, _client = cluster
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "w.pt", build_model("kpn"), {})
    write_dng(tmp_path / "a.dng", 64, 48, "GRBG")
    (tmp_path / "broken.dng").write_bytes(b"II*\x00" + b"\x00" * 100)
    common = ["--weights", str(tmp_path / "w.pt"), "--tile", "16"]
    assert main(["infer", str(tmp_path / "a.dng"), "--out", str(tmp_path / "local.png"), *common]) == 0
    rc = main(["infer", str(tmp_path / "a.dng"), str(tmp_path / "broken.dng"), "--out", str(tmp_path / "remote"),
               "--scheduler", lc.scheduler_address, *common])
    assert rc == 1 and "broken.dng" in capsys.readouterr().err
    remote, local = cv2.imread(str(tmp_path / "remote" / "a.png")), cv2.imread(str(tmp_path / "local.png"))
    assert remote is not None and remote.shape == (48, 64, 3)
    assert np.array_equal(remote, local)
    assert not (tmp_path / "remote" / "broken.png").exists()
