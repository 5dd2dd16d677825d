"""The batch runner end to end on a small demo dataset: resumable, user decisions survive, failures recorded."""

import shutil

import cv2
import numpy as np
import pytest

from ispviewer.align.batch import align_dataset
from ispviewer.cli import main
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
        assert t.aligned_target == "aligned/demo_000.jpg" and m.resolve(t.aligned_target).is_file()
        patches = m.patches(t.id)
        assert len(patches) > 10
        chosen = patches[3]
        m.decide(chosen.id, Status.FLAGGED, "moving leaf")
    again = align_dataset(dataset, workers=1, patch_size=64, log=lambda *a: None)
    assert again.aligned == [] and sorted(again.skipped) == ["demo_000", "demo_001"]  # resumable
    forced = align_dataset(dataset, workers=1, patch_size=64, force=True, log=lambda *a: None)
    assert sorted(forced.aligned) == ["demo_000", "demo_001"]
    with Manifest.open(dataset) as m:
        p = m.patch(chosen.id)
        assert (p.status, p.decided_by, p.reason) == (Status.FLAGGED, DecidedBy.USER, "moving leaf")


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
