"""`ispviewer check [--repair]`: what it finds in a damaged dataset, and what it rebuilds."""

import os
import sqlite3
import time

import pytest

from ispviewer.align.batch import align_job, new_job
from ispviewer.cli import main
from ispviewer.dataset.alignment_files import patch_tiles_relpath
from ispviewer.dataset.check import LEFTOVER_MIN_AGE_S, check_dataset
from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.records import DecidedBy, Status
from reliability_helpers import copy_dataset, demo_template


@pytest.fixture
def ds(tmp_path):
    return copy_dataset(demo_template(align=True), tmp_path / "ds")


def problems(root):
    return [(p.path, p.reason) for p in check_dataset(root).problems]


def test_clean_dataset_passes(ds, capsys):
    assert main(["check", str(ds)]) == 0
    out = capsys.readouterr().out
    assert "4 triplet(s)" in out and "no problems" in out


def test_damaged_files_are_reported_with_file_and_reason(ds, capsys):
    (ds / "captures/demo_000/phone.jpg").write_bytes((ds / "captures/demo_000/phone.jpg").read_bytes()[:2000])
    (ds / "captures/demo_001/target.jpg").unlink()
    (ds / "captures/demo_002/raw.dng").write_bytes(b"II*\x00garbage" * 50)
    assert main(["check", str(ds)]) == 1
    out = capsys.readouterr().out
    assert "captures/demo_000/phone.jpg: JPEG is truncated" in out
    assert "captures/demo_001/target.jpg: file does not exist" in out
    assert "captures/demo_002/raw.dng: not a raw LibRaw can read" in out
    assert "3 problem(s)" in out


def test_wrong_size_and_unsafe_paths(ds, tmp_path):
    conn = sqlite3.connect(ds / "manifest.sqlite")
    with conn:
        conn.execute("UPDATE triplets SET target_width = target_width + 2 WHERE name = 'demo_000'")
        conn.execute("UPDATE triplets SET raw_path = '../../etc/passwd' WHERE name = 'demo_001'")
    conn.close()
    (ds / "captures/demo_002/phone.jpg").unlink()
    (ds / "captures/demo_002/phone.jpg").symlink_to(tmp_path / "elsewhere.jpg")
    found = dict(problems(ds))
    assert "the manifest says" in found["captures/demo_000/target.jpg"]
    assert "refusing" in found["../../etc/passwd"]
    assert "links outside" in found["captures/demo_002/phone.jpg"]


def test_history_that_disagrees_with_the_status_is_reported(ds):
    conn = sqlite3.connect(ds / "manifest.sqlite")
    with conn:  # a write that bypassed the manifest API: status changed, no history event
        pid = conn.execute("SELECT id FROM patches WHERE status = 'accepted' LIMIT 1").fetchone()[0]
        conn.execute("UPDATE patches SET status = 'rejected', decided_by = 'user' WHERE id = ?", (pid,))
    conn.close()
    (reason,) = [r for _, r in problems(ds)]
    assert "last decision in its history is accepted" in reason


def test_corrupt_manifest_is_reported_not_raised(ds, capsys):
    path = ds / "manifest.sqlite"
    data = bytearray(path.read_bytes())
    for offset in range(4096 + 100, len(data), 4096):  # damage every page after the first
        data[offset:offset + 64] = b"\xa5" * 64
    path.write_bytes(bytes(data))
    assert main(["check", str(ds)]) == 1
    assert "manifest.sqlite" in capsys.readouterr().out


def test_repair_rebuilds_heatmaps_and_aligned_targets_and_keeps_decisions(ds, capsys):
    with Manifest.open(ds) as m:
        t0, t1 = m.triplet("demo_000"), m.triplet("demo_001")
        user = m.patches(t0.id)[0]
        m.decide(user.id, Status.FLAGGED, "kept by repair")
        history_before = m.history(user.id)
    (ds / t0.heatmap).unlink()
    (ds / t1.heatmap).write_bytes(b"PK\x03\x04 not a zip")
    cache = getattr(t1, "aligned_target", None)
    if cache is not None:
        (ds / cache).write_bytes((ds / cache).read_bytes()[:1000])
    before = problems(ds)
    assert len(before) == (3 if cache else 2)
    assert main(["check", str(ds), "--repair"]) == 0
    out = capsys.readouterr().out
    assert "re-aligned demo_000" in out and "re-aligned demo_001" in out
    assert out.rstrip().endswith("no problems")
    with Manifest.open(ds, readonly=True) as m:
        kept = m.patch(user.id)
        assert (kept.status, kept.decided_by, kept.reason) == (Status.FLAGGED, DecidedBy.USER, "kept by repair")
        assert m.history(user.id)[:len(history_before)] == history_before  # nothing deleted
    assert check_dataset(ds).ok


def test_repair_cannot_fix_missing_captures_and_says_so(ds, capsys):
    (ds / "captures/demo_000/target.jpg").unlink()
    with Manifest.open(ds, readonly=True) as m:
        (ds / m.triplet("demo_000").heatmap).unlink()
    assert main(["check", str(ds), "--repair"]) == 1
    out = capsys.readouterr().out
    assert "could not repair demo_000" in out and "target.jpg" in out


def test_alignment_killed_before_its_store_leaves_orphans_that_repair_removes(ds, capsys):
    with Manifest.open(ds, readonly=True) as m:
        t = m.triplet("demo_000")
        referenced = {t.heatmap, t.aligned_target}
        # the worker's part of `align --force`, as if the parent was killed before storing the result
        job = new_job(str(ds), t, 64, m.threshold_px)
    name, result, error = align_job(job)
    assert error is None and {result.heatmap, result.aligned_target} == {job.heatmap, job.aligned}
    orphans = {job.heatmap, job.aligned, patch_tiles_relpath(job.heatmap)}  # the patch-tile cache too
    assert not orphans & referenced and all((ds / rel).is_file() for rel in orphans)
    (ds / "heatmaps/unrelated.npz").write_bytes(b"not the aligner's")  # no such triplet: left alone
    with Manifest.open(ds, readonly=True) as m:
        after = m.triplet("demo_000")
        assert (after.heatmap, after.aligned_target, after.homography) == (t.heatmap, t.aligned_target, t.homography)
    assert all((ds / rel).is_file() for rel in referenced)  # the stored row's files are untouched
    report = check_dataset(ds)
    assert report.ok, report.summary()  # consistent: orphans are notes, not problems
    assert {p.relative_to(ds).as_posix() for p in report.orphans} == orphans
    assert any("orphan" in n and job.heatmap in n for n in report.notes)
    assert main(["check", str(ds), "--repair"]) == 0
    assert all((ds / rel).is_file() for rel in orphans)  # too recent: perhaps an alignment still running
    old = time.time() - LEFTOVER_MIN_AGE_S - 5
    for rel in orphans:
        os.utime(ds / rel, (old, old))
    capsys.readouterr()
    assert main(["check", str(ds), "--repair"]) == 0
    out = capsys.readouterr().out
    assert all(f"removed orphan {rel}" in out for rel in orphans), out
    assert not any((ds / rel).exists() for rel in orphans)
    assert all((ds / rel).is_file() for rel in referenced) and (ds / "heatmaps/unrelated.npz").is_file()
    assert check_dataset(ds).orphans == []
