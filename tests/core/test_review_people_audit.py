"""Who decided (annotator in the history and the export), confirmations, the audit estimate with
its Wilson interval, and the review lines of `ispviewer stats` (Qt-free)."""

import json
import math

import pytest

from ispviewer.align.stats import collect, format_report
from ispviewer.cli import main
from ispviewer.dataset import annotator as annotator_module
from ispviewer.dataset.annotator import current_annotator
from ispviewer.dataset.export import PATCH_FIELDS, patch_rows
from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.records import DecidedBy, Status
from ispviewer.dataset.review.audit import AuditEstimate, audit_estimates, people, wilson_interval
from ispviewer.dataset.review.queues import QueueSpec, build_queue
from tests.core.review_helpers import add_aligned, three_triplets


@pytest.fixture
def ds(tmp_path):
    m = three_triplets(tmp_path / "ds")
    yield m
    m.close()


def test_the_person_comes_from_the_environment_then_the_setting_then_the_login(monkeypatch):
    monkeypatch.setenv("ISPVIEWER_USER", "  Ann Lee ")
    assert current_annotator("setting-name") == "Ann Lee"
    monkeypatch.delenv("ISPVIEWER_USER")
    assert current_annotator("setting-name") == "setting-name"
    monkeypatch.setattr(annotator_module.getpass, "getuser", lambda: "login-name")
    assert current_annotator(None) == current_annotator("  ") == "login-name"

    def no_login():
        raise OSError("no login")
    monkeypatch.setattr(annotator_module.getpass, "getuser", no_login)
    assert current_annotator().startswith("uid-")


def test_a_decision_records_the_person_in_history_and_export(ds, monkeypatch):
    monkeypatch.setenv("ISPVIEWER_USER", "ann")
    p = ds.patches(status=Status.ACCEPTED)[0]
    confirmed = ds.decide(p.id, Status.ACCEPTED)  # same status: a confirmation, the decision is now ann's
    assert (confirmed.status, confirmed.decided_by, confirmed.annotator) == (Status.ACCEPTED, DecidedBy.USER, "ann")
    last = ds.history(p.id)[-1]
    assert (last.actor, last.old_status, last.new_status, last.annotator) == (
        DecidedBy.USER, Status.ACCEPTED, Status.ACCEPTED, "ann")
    assert ds.history(p.id)[0].annotator is None  # the aligner's decision has no person
    rows = list(patch_rows(ds))
    assert "annotator" in PATCH_FIELDS and all(set(r) == set(PATCH_FIELDS) for r in rows)
    mine = [r for r in rows if r["annotator"] == "ann"]
    assert len(mine) == 1 and mine[0]["decided_by"] == "user"
    assert sum(r["annotator"] is None for r in rows) == len(rows) - 1
    q = build_queue(ds, QueueSpec("audit"))
    assert p.id not in q.patch_ids() and q.reviewed == 1  # confirmed: seen by the queue
    undone = ds.decide(p.id, Status.ACCEPTED, actor=DecidedBy.USER, decided_by=DecidedBy.AUTO, annotator="bob")
    assert (undone.decided_by, undone.annotator) == (DecidedBy.AUTO, None)  # back to the aligner...
    assert ds.history(p.id)[-1].annotator == "bob"  # ...by bob, as the history says
    assert p.id in build_queue(ds, QueueSpec("audit")).patch_ids()


def _wilson_by_roots(k, n, z=1.959963984540054):
    """The interval as the roots of (p_hat - p)^2 = z^2 p (1 - p) / n, solved directly."""
    ph = k / n
    a = 1 + z * z / n
    b = -(2 * ph + z * z / n)
    c = ph * ph
    disc = math.sqrt(b * b - 4 * a * c)
    return (-b - disc) / (2 * a), (-b + disc) / (2 * a)


def test_wilson_interval():
    lo, hi = wilson_interval(3, 200)
    assert (round(100 * lo, 1), round(100 * hi, 1)) == (0.5, 4.3)
    for k, n in ((0, 10), (1, 7), (5, 5), (17, 400), (250, 1000)):
        assert wilson_interval(k, n) == pytest.approx(_wilson_by_roots(k, n), abs=1e-12)
    assert wilson_interval(0, 50)[0] == 0.0 and wilson_interval(0, 50)[1] > 0.05  # zero errors, still a bound
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    assert AuditEstimate("accepted", 200, 3).describe() == (
        "audit: 200 auto-accepted patches reviewed, 3 rejected by a person: 1.5% (0.5–4.3%)")


def test_the_audit_counts_patches_reviewed_from_the_audit_queue_only(tmp_path):
    with Manifest.open(tmp_path / "ds", create=True) as m:
        for i in range(5):
            add_aligned(m, f"t{i}", [0.1 * (j + 1) for j in range(10)])  # 50 auto-accepted
        order = build_queue(m, QueueSpec("audit", seed=3)).patch_ids()
        m.decide(order[5], Status.REJECTED, annotator="ann", queue="worst")  # seen, but not from the audit
        q = build_queue(m, QueueSpec("audit", seed=3, limit=21))
        assert (len(q), q.reviewed, q.total) == (20, 1, 21) and order[5] not in q.patch_ids()
        for n, pid in enumerate(q.patch_ids()):
            status = Status.REJECTED if n < 2 else Status.ACCEPTED  # two rejected, the rest confirmed
            m.decide(pid, status, annotator=("ann", "bob")[n % 2], queue="audit")
        assert audit_estimates(m) == [AuditEstimate("accepted", 20, 2)]
        assert build_queue(m, QueueSpec("audit", seed=3, limit=21)).empty
        tallies = {t.name: t for t in people(m)}
        assert tallies["ann"].held == {"accepted": 9, "rejected": 2}
        assert tallies["bob"].held == {"accepted": 9, "rejected": 1}
        text = format_report(collect(m))
    assert "decisions by person:" in text and "  ann: 11 patches (9 accepted, 2 rejected), 11 decisions" in text
    assert "audit: 20 auto-accepted patches reviewed, 2 rejected by a person: 10.0% (2.8–30.1%)" in text


def test_stats_always_lists_people(ds, capsys):
    assert "decisions by person: none yet" in format_report(collect(ds))
    ds.decide(ds.patches()[0].id, Status.FLAGGED, annotator="ann")
    ds.close()
    assert main(["stats", str(ds.root)]) == 0
    out = capsys.readouterr().out
    assert "ann: 1 patches (1 flagged)" in out and "audit:" not in out


def test_queue_command_prints_export_records_in_queue_order(ds, capsys):
    ds.close()
    assert main(["queue", str(ds.root), "--kind", "worst", "--limit", "3"]) == 0
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["misalignment_px"] for r in records] == [3.0, 2.0, 1.6]
    assert all(tuple(r) == PATCH_FIELDS for r in records)
    assert "reviewed 0 of 3" in err
    assert main(["queue", str(ds.root), "--kind", "flagged", "--triplets", "zzz*"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "queue is empty: no patch matches it" in err
    assert main(["queue", str(ds.root), "--shard", "4/3"]) == 2
    assert "shard" in capsys.readouterr().err
    assert main(["queue", str(ds.root), "--illumination", "daylight"]) == 0  # none is set yet
    assert "queue is empty: no patch matches it" in capsys.readouterr().err


def test_an_empty_queue_says_when_everything_was_decided(ds, capsys):
    for p in build_queue(ds, QueueSpec("flagged")).records(ds):
        ds.decide(p.id, Status.REJECTED, annotator="ann")
    ds.close()
    assert main(["queue", str(ds.root), "--kind", "flagged"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "all 3 patch(es) of it were decided by a person" in err
    assert main(["queue", str(ds.root), "--kind", "flagged", "--include-decided"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
