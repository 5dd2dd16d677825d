"""Merging people's decisions from another copy of the dataset: taken over with history and
annotator, agreements, conflicts kept on both sides, refusals that change nothing, and a killed
merge that leaves all or none (Qt-free)."""

import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ispviewer.cli import main
from ispviewer.dataset.check import history_problem
from ispviewer.dataset.manifest import Manifest, MergeRefused
from ispviewer.dataset.records import DecidedBy, Status
from tests.core.review_helpers import add_aligned, three_triplets

REPO = Path(__file__).resolve().parents[2]


def patch_at(m, triplet, x, y):
    return next(p for p in m.patches(m.triplet(triplet).id) if (p.x, p.y) == (x, y))


@pytest.fixture
def copies(tmp_path):
    """Two copies of one dataset that share a decision made before they parted."""
    three_triplets(tmp_path / "here").close()
    with Manifest.open(tmp_path / "here") as m:
        m.decide(patch_at(m, "a", 0, 0).id, Status.REJECTED, "shared", annotator="carol")
    shutil.copytree(tmp_path / "here", tmp_path / "there")
    return tmp_path / "here", tmp_path / "there"


def snapshot(root):
    conn = sqlite3.connect(root / "manifest.sqlite")
    try:
        return [conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
                for t in ("patches", "decisions", "merge_conflicts")]
    finally:
        conn.close()


def consistent(m):
    return [(p.triplet, p.x, p.y, problem) for p in m.patches() if (problem := history_problem(p, m.history(p.id)))]


def test_merge_takes_over_agrees_and_keeps_both_sides_of_a_conflict(copies):
    here, there = copies
    with Manifest.open(there) as t:
        t.decide(patch_at(t, "b", 32, 0).id, Status.FLAGGED, "odd", annotator="bob", queue="worst")
        t.decide(patch_at(t, "c", 0, 0).id, Status.REJECTED, annotator="bob")
        t.decide(patch_at(t, "b", 0, 0).id, Status.REJECTED, "ghost", annotator="bob", queue="audit")
        t.decide(patch_at(t, "a", 0, 0).id, Status.ACCEPTED, annotator="bob")  # changed after the copies parted
    with Manifest.open(here) as h:
        h.decide(patch_at(h, "c", 0, 0).id, Status.REJECTED, annotator="ann")  # the same way: agreement
        h.decide(patch_at(h, "b", 0, 0).id, Status.ACCEPTED, annotator="ann")  # differently: conflict
        report = h.merge_from(there)
        assert (report.taken_over, report.agreed, len(report.conflicts)) == (2, 1, 1)
        flagged = patch_at(h, "b", 32, 0)
        assert (flagged.status, flagged.decided_by, flagged.annotator, flagged.reason) == (
            Status.FLAGGED, DecidedBy.USER, "bob", "odd")
        last = h.history(flagged.id)[-1]
        assert (last.annotator, last.queue, last.old_status, last.new_status) == ("bob", "worst", Status.REJECTED,
                                                                                  Status.FLAGGED)
        moved_on = patch_at(h, "a", 0, 0)  # nobody here changed it since: the newer decision is taken
        assert (moved_on.status, moved_on.annotator) == (Status.ACCEPTED, "bob")
        assert [e.annotator for e in h.history(moved_on.id) if e.actor == DecidedBy.USER] == ["carol", "bob"]
        conflict = patch_at(h, "b", 0, 0)
        assert (conflict.status, conflict.annotator) == (Status.ACCEPTED, "ann")  # this copy's decision stays
        c = report.conflicts[0]
        assert (c.triplet, c.x, c.y, c.local_status, c.other_status, c.other_annotator) == (
            "b", 0, 0, "accepted", "rejected", "bob")
        assert "here accepted by ann, there rejected by bob" in report.summary()
        agreed = patch_at(h, "c", 0, 0)
        assert [e.annotator for e in h.history(agreed.id) if e.actor == DecidedBy.USER] == ["ann", "bob"]
        assert consistent(h) == []
        before = snapshot(here)
        again = h.merge_from(there)  # merging twice adds nothing, still reports the conflict
        assert (again.taken_over, again.agreed, again.events_added, len(again.conflicts)) == (0, 0, 0, 1)
        assert snapshot(here) == before
    conn = sqlite3.connect(here / "manifest.sqlite")  # the other side of the conflict is kept
    assert conn.execute("SELECT other_status, other_annotator, other_reason FROM merge_conflicts").fetchall() == [
        ("rejected", "bob", "ghost")]
    conn.close()


def test_merge_back_the_other_way_converges(copies):
    here, there = copies
    with Manifest.open(there) as t:
        t.decide(patch_at(t, "b", 32, 0).id, Status.FLAGGED, annotator="bob")
    with Manifest.open(here) as h:
        h.decide(patch_at(h, "c", 32, 0).id, Status.ACCEPTED, annotator="ann")
        h.merge_from(there)
    with Manifest.open(there) as t:
        report = t.merge_from(here)
        assert (report.taken_over, len(report.conflicts)) == (1, 0)
        assert consistent(t) == []
        mine = {(p.triplet, p.x, p.y, p.status, p.annotator) for p in t.patches() if p.decided_by == DecidedBy.USER}
    with Manifest.open(here) as h:
        assert mine == {(p.triplet, p.x, p.y, p.status, p.annotator) for p in h.patches()
                        if p.decided_by == DecidedBy.USER}


def test_a_copy_of_another_dataset_is_refused_and_nothing_changes(copies, tmp_path):
    here, there = copies
    with Manifest.open(there) as t:
        t.decide(patch_at(t, "b", 32, 0).id, Status.FLAGGED, annotator="bob")
        add_aligned(t, "d", [0.5, 0.6])  # other captures
    before = snapshot(here)
    with Manifest.open(here) as h:
        with pytest.raises(MergeRefused, match="not a copy of this dataset.*captures only there: d"):
            h.merge_from(there)
        with pytest.raises(MergeRefused, match="is this dataset itself"):
            h.merge_from(here)
        with pytest.raises(MergeRefused, match="no ispviewer dataset here"):
            h.merge_from(tmp_path / "nowhere")
    assert snapshot(here) == before


def test_a_newer_schema_is_refused_and_nothing_changes(copies):
    here, there = copies
    conn = sqlite3.connect(there / "manifest.sqlite")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = snapshot(here)
    assert main(["merge", str(here), str(there)]) == 2
    assert snapshot(here) == before


def test_patches_missing_here_refuse_the_merge(copies):
    here, there = copies
    with Manifest.open(there) as t:
        pid = patch_at(t, "b", 32, 0).id
        t.decide(pid, Status.FLAGGED, annotator="bob")
    conn = sqlite3.connect(there / "manifest.sqlite")  # as if that copy had been aligned with other patches
    conn.execute("UPDATE patches SET x = 1000 WHERE id = ?", (pid,))
    conn.commit()
    conn.close()
    before = snapshot(here)
    with Manifest.open(here) as h, pytest.raises(MergeRefused, match="does not have"):
        h.merge_from(there)
    assert snapshot(here) == before


def test_merge_command_reports_conflicts_in_its_exit_status(copies, capsys):
    here, there = copies
    with Manifest.open(there) as t:
        t.decide(patch_at(t, "b", 32, 0).id, Status.FLAGGED, annotator="bob")
    assert main(["merge", str(here), str(there)]) == 0
    assert "1 decision(s) taken over" in capsys.readouterr().out
    with Manifest.open(there) as t:
        t.decide(patch_at(t, "c", 32, 0).id, Status.ACCEPTED, annotator="bob")
    with Manifest.open(here) as h:
        h.decide(patch_at(h, "c", 32, 0).id, Status.FLAGGED, annotator="ann")
    assert main(["merge", str(here), str(there)]) == 1
    assert "1 conflict(s)" in capsys.readouterr().out


KILLER = textwrap.dedent("""
    import os, signal, sys
    from ispviewer.dataset.manifest import Manifest, merge
    calls = {"n": 0}
    real = merge.log_decision
    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == int(sys.argv[3]):
            os.kill(os.getpid(), signal.SIGKILL)  # killed in the middle of the merge
        return real(*args, **kwargs)
    merge.log_decision = dying
    with Manifest.open(sys.argv[1]) as m:
        m.merge_from(sys.argv[2])
""")


def test_a_killed_merge_leaves_all_or_none(copies):
    here, there = copies
    with Manifest.open(there) as t:
        for name in ("a", "b", "c"):
            for p in t.patches(t.triplet(name).id)[1:5]:
                t.decide(p.id, Status.FLAGGED, annotator="bob")
    before = snapshot(here)
    proc = subprocess.run([sys.executable, "-c", KILLER, str(here), str(there), "6"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert snapshot(here) == before  # none of it
    with Manifest.open(here) as h:
        assert consistent(h) == []
        report = h.merge_from(there)  # and a later merge brings all of it
        assert report.taken_over == 12 and consistent(h) == []
