"""The fast queue build (narrow index reads, packed sorts) orders exactly as the queue rules say:
checked against a plain reference written from the patch records, on random datasets with ties;
and schema 6's indexes, read-only older datasets (no indexes) and the packed sort's fallback."""

import hashlib
import sqlite3

import numpy as np
import pytest

from ispviewer.dataset import schema
from ispviewer.dataset.manifest import MANIFEST_NAME, Manifest
from ispviewer.dataset.records import DecidedBy, Status
from ispviewer.dataset.review.filters import TripletSelection
from ispviewer.dataset.review.ordering import lex_order
from ispviewer.dataset.review.queues import QueueSpec, build_queue
from tests.core.review_helpers import add_aligned

KINDS = ("worst", "near-threshold", "flagged", "audit")


def random_dataset(root, seed: int) -> Manifest:
    """Triplets registered out of name order, misalignments with exact and sub-quantum ties,
    unmeasurable patches, people's decisions (confirmations, changes, flags) and a re-alignment."""
    rng = np.random.default_rng(seed)
    m = Manifest.open(root, create=True)
    names = [f"t{i:02d}" for i in rng.permutation(7)]
    for i, name in enumerate(names):
        values = []
        for _ in range(int(rng.integers(3, 14))):
            r = rng.random()
            if r < 0.1:
                values.append(None)
            elif r < 0.3:
                values.append(float(rng.choice([1.25, 1.15, 0.9, 2.0])))  # exact ties, also around 1.2
            elif r < 0.4:
                values.append(1.3 + float(rng.choice([0.0, 1e-9, 2e-7])))  # ties below the key quantum
            else:
                values.append(float(rng.lognormal(np.log(0.8), 0.6)))
        add_aligned(m, name, values, phone=("iphone", "xiaomi")[i % 2])
    patches = m.patches()
    for p in rng.choice(patches, size=len(patches) // 4, replace=False):
        status = (Status.ACCEPTED, Status.REJECTED, Status.FLAGGED)[int(rng.integers(3))]
        m.decide(p.id, status, annotator="ann", queue=("audit", None)[int(rng.integers(2))])
    again = names[0]  # a re-alignment gives new patch ids in the middle of the table
    add_aligned(m, again, [0.5, 1.25, None, 3.5, 1.3])
    return m


def audit_hash(patch_id: int, seed: int) -> int:
    """splitmix64 of (seed, id), written out in Python integers."""
    mask = (1 << 64) - 1
    z = (patch_id + (seed * 0x9E3779B97F4A7C15 + 1)) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def reference(m: Manifest, spec: QueueSpec) -> tuple[list[int], list[int]]:
    """(entries' patch ids, the whole order's ids) from the queue rules, record by record."""
    t = m.threshold_px
    people_first = {}  # the aligner's status when a person first decided the patch
    for p in m.patches():
        events = [e for e in m.history(p.id) if e.actor == DecidedBy.USER]
        if events:
            people_first[p.id] = events[0].old_status
    selected = spec.selection.triplet_ids(m)
    rank = {name: i for i, name in enumerate(sorted(r.name for r in m.triplets()))}
    statuses = {Status.ACCEPTED, Status.REJECTED} if spec.audit_rejected else {Status.ACCEPTED}
    rows = []
    for p in m.patches():
        if selected is not None and p.triplet_id not in selected:
            continue
        measured = p.measurable and p.misalignment_px is not None
        if spec.kind.value == "worst" and measured:
            rows.append(((-round(p.misalignment_px * 1e6), rank[p.triplet], p.id), p))
        elif spec.kind.value == "near-threshold" and measured and \
                t - spec.band_px <= p.misalignment_px <= t + spec.band_px:
            rows.append(((round(abs(p.misalignment_px - t) * 1e6), rank[p.triplet], p.id), p))
        elif spec.kind.value == "flagged" and (not measured or p.status == Status.FLAGGED):
            rows.append(((rank[p.triplet], p.y, p.x, p.id), p))
        elif spec.kind.value == "audit" and (
                (p.decided_by == DecidedBy.AUTO and p.status in statuses)
                or (p.decided_by == DecidedBy.USER and people_first.get(p.id) in statuses)):
            rows.append(((audit_hash(p.id, spec.seed), p.id), p))
    rows.sort(key=lambda r: r[0])
    if spec.limit is not None:
        rows = rows[:spec.limit]
    order = [p.id for _, p in rows]
    entries = [p.id for _, p in rows if spec.include_decided or p.decided_by != DecidedBy.USER]
    return entries, order


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_queues_match_the_rules_record_by_record(tmp_path, seed):
    with random_dataset(tmp_path / "ds", seed) as m:
        for kind in KINDS:
            for spec in (QueueSpec(kind), QueueSpec(kind, include_decided=True), QueueSpec(kind, limit=9),
                         QueueSpec(kind, band_px=0.06, seed=3, audit_rejected=True),
                         QueueSpec(kind, selection=TripletSelection(phone="Mi 11")),
                         QueueSpec(kind, selection=TripletSelection(shard=(2, 3)))):
                q = build_queue(m, spec)
                entries, order = reference(m, spec)
                assert q.patch_ids() == entries, spec
                assert [int(i) for i in q.order] == order, spec
                assert q.reviewed == sum(m.patch(i).decided_by == DecidedBy.USER for i in order)
                assert [q.triplet_of(j) for j in range(len(q))] == [m.patch(i).triplet_id for i in entries]
                for j, pid in enumerate(entries):
                    assert q.position(pid) == j


def test_schema_6_indexes_are_what_the_queues_read(tmp_path):
    with random_dataset(tmp_path / "ds", 4) as m:
        conn = sqlite3.connect(m.root / MANIFEST_NAME)
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"patches_queue_measured", "patches_queue_flagged", "patches_decided_by_person"} <= names
        conn.close()
        for kind in KINDS:  # each kind reads its index alone, never the table row by row
            plan = m.queue_plan(kind, threshold_px=1.2, triplet_ids=[1, 2])
            assert ("COVERING INDEX" in plan or "SCAN p" in plan) and "USING INDEX patches_by" not in plan, plan
        assert "COVERING INDEX patches_queue_measured" in m.queue_plan("worst", threshold_px=1.2)
        assert "COVERING INDEX patches_queue_flagged" in m.queue_plan("flagged", threshold_px=1.2)
        assert "COVERING INDEX patches_decided_by_person" in m.queue_plan("flagged", threshold_px=1.2)


def test_a_v5_dataset_migrates_to_6_and_read_only_it_gives_the_same_queues(tmp_path, monkeypatch):
    root = tmp_path / "ds"
    with monkeypatch.context() as mp:
        mp.setattr(schema, "SCHEMA_VERSION", 5)
        random_dataset(root, 5).close()
    conn = sqlite3.connect(root / MANIFEST_NAME)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 5
    conn.close()
    specs = [QueueSpec(k, include_decided=True) for k in KINDS] + [QueueSpec(k) for k in KINDS]
    with Manifest.open(root, readonly=True) as old:  # no indexes of schema 6: table scans
        before = [(build_queue(old, s).patch_ids(), reference(old, s)[0]) for s in specs]
    assert all(got == want for got, want in before)
    assert not (root / "manifest.sqlite.v5.bak").exists()
    with Manifest.open(root) as m:  # migrates (a backup of the v5 file first)
        after = [build_queue(m, s).patch_ids() for s in specs]
    assert after == [got for got, _ in before]
    conn = sqlite3.connect(root / MANIFEST_NAME)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 6
    conn.close()
    assert (root / "manifest.sqlite.v5.bak").exists()


def test_lex_order_is_lexsort_also_when_the_keys_do_not_fit_in_one_integer():
    rng = np.random.default_rng(0)
    for n in (0, 1, 2, 17, 5000):
        keys = [rng.integers(-3, 4, n), rng.integers(0, 1 << 40, n), rng.integers(0, 2, n)]
        want = np.lexsort(tuple(reversed(keys)))
        for budget in (63, 20):  # packed, and the fallback
            assert np.array_equal(lex_order(keys, budget_bits=budget), want)
    assert np.array_equal(lex_order([np.array([5, 5, 5])]), [0, 1, 2])  # equal keys keep the input order
    digest = hashlib.sha1(lex_order([rng.integers(0, 9, 1000), rng.integers(0, 9, 1000)]).tobytes())
    assert digest.hexdigest()  # an int64 array, as the callers index with it


def naive_next_open(q, position, step, triplet_id=None, other_than=None):
    n = len(q)
    walk = range(position + 1, n) if step > 0 else range(min(position, n) - 1, -1, -1)
    for j in walk:
        if j < 0:
            continue
        i = q.entries[j]
        if q.decided[i] or (triplet_id is not None and q.triplet_ids[i] != triplet_id) or \
                (other_than is not None and q.triplet_ids[i] == other_than):
            continue
        return j
    return None


def test_next_open_walks_exactly_like_looking_at_every_entry(tmp_path):
    rng = np.random.default_rng(7)
    with random_dataset(tmp_path / "ds", 6) as m:
        for spec in (QueueSpec("worst", include_decided=True), QueueSpec("worst"), QueueSpec("audit")):
            q = build_queue(m, spec)
            ids = q.patch_ids()
            for pid in rng.choice(ids, size=len(ids) // 3, replace=False):
                q.mark(int(pid))  # decided while walking
            triplets = sorted({int(t) for t in q.triplet_ids}) + [10_000]
            for position in range(-2, len(q) + 2):
                for step in (1, -1):
                    assert q.next_open(position, step) == naive_next_open(q, position, step)
                    for t in triplets:
                        assert q.next_open(position, step, triplet_id=t) == \
                            naive_next_open(q, position, step, triplet_id=t), (position, step, t)
                        assert q.next_open(position, step, other_than=t) == \
                            naive_next_open(q, position, step, other_than=t), (position, step, t)


def test_next_open_across_long_runs_of_decided_entries():
    from ispviewer.dataset.review.queues import Queue

    rng = np.random.default_rng(3)
    n = 6000
    order = rng.permutation(n).astype(np.int64) + 1
    triplet_ids = rng.integers(1, 6, n).astype(np.int64)
    decided = rng.random(n) < 0.98  # long runs to skip, in chunks of growing size
    q = Queue(QueueSpec("worst", include_decided=True), 1.2, order, triplet_ids, decided, np.arange(n))
    for position in list(range(-1, 40)) + list(rng.integers(0, n, 60)) + [n - 1, n]:
        for step in (1, -1):
            assert q.next_open(int(position), step) == naive_next_open(q, int(position), step)
            for t in (1, 3, 9):
                assert q.next_open(int(position), step, triplet_id=t) == \
                    naive_next_open(q, int(position), step, triplet_id=t)
                assert q.next_open(int(position), step, other_than=t) == \
                    naive_next_open(q, int(position), step, other_than=t)
