"""Review queues over the whole dataset: order, skipping decided patches, limits, filters,
shards, saved positions (Qt-free)."""

import sqlite3

import pytest

from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.records import Status
from ispviewer.dataset.review import filters
from ispviewer.dataset.review.filters import FilterUnavailable, TripletSelection, parse_shard, shard_of
from ispviewer.dataset.review.progress import QueueProgress
from ispviewer.dataset.review.queues import QueueSpec, build_queue
from tests.core.review_helpers import add_aligned, key, three_triplets


@pytest.fixture
def ds(tmp_path):
    m = three_triplets(tmp_path / "ds")
    yield m
    m.close()


def values(m, spec):
    q = build_queue(m, spec)
    return [(p.triplet, p.misalignment_px) for p in q.records(m)]


def test_worst_is_largest_first_across_triplets_and_leaves_out_unmeasurable(ds):
    got = values(ds, QueueSpec("worst"))
    assert [v for _, v in got] == [3.0, 2.0, 1.6, 1.3, 1.25, 1.15, 1.1, 1.0, 0.85, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
    assert got[:3] == [("a", 3.0), ("b", 2.0), ("c", 1.6)]


def test_near_threshold_is_closest_first_within_the_band(ds):
    got = values(ds, QueueSpec("near-threshold"))  # threshold 1.2, band 0.3
    # ties (|1.25-1.2| = |1.15-1.2|) go by triplet name, then the aligner's reading order
    assert got == [("a", 1.25), ("c", 1.15), ("b", 1.1), ("b", 1.3), ("a", 1.0)]
    assert values(ds, QueueSpec("near-threshold", band_px=0.06)) == [("a", 1.25), ("c", 1.15)]
    ds.apply_threshold(2.0)  # the queue follows the dataset's threshold
    assert values(ds, QueueSpec("near-threshold", band_px=0.1)) == [("b", 2.0)]


def test_flagged_is_reading_order_per_triplet_by_name(ds):
    q = build_queue(ds, QueueSpec("flagged"))
    assert [key(p) for p in q.records(ds)] == [("a", 32, 0), ("b", 96, 0), ("c", 64, 0)]
    tid = ds.triplet("c").id
    extra = [p for p in ds.patches(tid) if p.misalignment_px == 0.3][0]
    other = [p for p in ds.patches(tid) if p.misalignment_px == 0.4][0]
    ds.decide(extra.id, Status.FLAGGED, annotator="ann")  # a person's flag is decided: skipped...
    q = build_queue(ds, QueueSpec("flagged", include_decided=True))  # ...unless asked for
    assert [key(p) for p in q.records(ds)] == [("a", 32, 0), ("b", 96, 0), ("c", 64, 0), ("c", 0, 32)]
    assert other.id not in q.patch_ids()


def test_a_queue_skips_what_a_person_decided_but_counts_it_as_reviewed(ds):
    q = build_queue(ds, QueueSpec("worst"))
    first, second = q.records(ds, 0, 2)
    ds.decide(first.id, Status.REJECTED, annotator="ann")  # same status as the aligner's: a confirmation
    q = build_queue(ds, QueueSpec("worst"))
    assert q.records(ds, 0, 1)[0].id == second.id
    assert (len(q), q.reviewed, q.total) == (14, 1, 15)
    q = build_queue(ds, QueueSpec("worst", include_decided=True))
    assert q.patch_ids(0, 1) == [first.id] and len(q) == 15


def test_limit_is_a_fixed_set_that_shrinks_as_people_decide(ds):
    spec = QueueSpec("worst", limit=4)
    q = build_queue(ds, spec)
    ids = q.patch_ids()
    assert len(ids) == 4
    ds.decide(ids[1], Status.ACCEPTED, annotator="ann")
    q = build_queue(ds, spec)
    assert q.patch_ids() == [ids[0], ids[2], ids[3]] and (q.reviewed, q.total) == (1, 4)


def test_audit_is_a_seeded_sample_of_auto_accepted_patches(ds):
    accepted = {p.id for p in ds.patches(status=Status.ACCEPTED)}
    a = build_queue(ds, QueueSpec("audit", seed=1)).patch_ids()
    assert set(a) == accepted and len(a) == 10
    assert build_queue(ds, QueueSpec("audit", seed=1)).patch_ids() == a  # reproducible
    orders = {tuple(build_queue(ds, QueueSpec("audit", seed=s)).patch_ids()) for s in range(6)}
    assert len(orders) > 1  # the seed matters
    ds.decide(a[2], Status.REJECTED, annotator="ann", queue="audit")  # reviewing keeps the sample's order
    q = build_queue(ds, QueueSpec("audit", seed=1))
    assert q.patch_ids() == a[:2] + a[3:] and (q.reviewed, q.total) == (1, 10)
    with_rejected = build_queue(ds, QueueSpec("audit", seed=1, audit_rejected=True)).patch_ids()
    rejected = {p.id for p in ds.patches(status=Status.REJECTED) if p.decided_by.value == "auto"}
    assert set(with_rejected) == (accepted - {a[2]}) | rejected


def test_filters_by_phone_and_triplet_name(ds):
    phone = QueueSpec("worst", selection=TripletSelection(phone="iphone 6S"))
    assert {t for t, _ in values(ds, phone)} == {"b", "c"}
    full = QueueSpec("worst", selection=TripletSelection(phone="Xiaomi Mi 11"))
    assert {t for t, _ in values(ds, full)} == {"a"}
    named = QueueSpec("worst", selection=TripletSelection(name_pattern="[ab]"))
    assert [v for _, v in values(ds, named)] == [3.0, 2.0, 1.3, 1.25, 1.1, 1.0, 0.85, 0.7, 0.5, 0.2]
    none = QueueSpec("worst", selection=TripletSelection(name_pattern="z*"))
    q = build_queue(ds, none)
    assert q.empty and q.total == 0


def test_column_filters_apply_where_the_dataset_has_the_column(ds, monkeypatch):
    conn = sqlite3.connect(ds.root / "manifest.sqlite")  # splits and illumination as a person set them
    conn.execute("UPDATE triplets SET split = CASE name WHEN 'c' THEN 'test' ELSE 'train' END, "
                 "illumination = CASE name WHEN 'a' THEN 'Daylight' ELSE 'indoor' END")
    conn.commit()
    conn.close()
    split = QueueSpec("worst", selection=TripletSelection(columns=(("split", "TEST"),)))
    assert {t for t, _ in values(ds, split)} == {"c"}
    both = QueueSpec("worst", selection=TripletSelection(columns=(("split", "train"), ("illumination", "daylight"))))
    assert {t for t, _ in values(ds, both)} == {"a"}
    # a filter whose column this dataset's manifest does not have is refused with the reason
    monkeypatch.setattr(filters, "COLUMN_FILTERS", filters.COLUMN_FILTERS + (
        filters.ColumnFilter("weather", "weather", "only this weather"),))
    assert "weather" not in {f.name for f in filters.available_filters(ds)}
    weather = QueueSpec("worst", selection=TripletSelection(columns=(("weather", "rain"),)))
    with pytest.raises(FilterUnavailable, match="no 'weather'"):
        build_queue(ds, weather)


def test_shards_split_a_queue_by_triplet_deterministically(tmp_path):
    with Manifest.open(tmp_path / "ds", create=True) as m:
        for i in range(12):
            add_aligned(m, f"t{i:02d}", [0.1 * (j + 1) for j in range(4)], size=32)
        whole = build_queue(m, QueueSpec("worst")).patch_ids()
        shards = [build_queue(m, QueueSpec("worst", selection=TripletSelection(shard=(k, 3)))) for k in (1, 2, 3)]
        ids = [q.patch_ids() for q in shards]
        assert sorted(sum(ids, [])) == sorted(whole) and sum(map(len, ids)) == len(whole)
        for q in shards:  # each triplet lies in one shard only, and each shard keeps the queue's order
            assert [i for i in whole if i in set(q.patch_ids())] == q.patch_ids()
        triplets = [{p.triplet for p in q.records(m)} for q in shards]
        assert not (triplets[0] & triplets[1]) and not (triplets[1] & triplets[2]) and all(triplets)
        assert all(shard_of(t, 3) == k for k, names in zip((1, 2, 3), triplets) for t in names)
    assert parse_shard("2/3") == (2, 3)
    for bad in ("0/3", "4/3", "1/0", "x", "1-3"):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_positions_persist_per_person_and_skip_what_was_decided(tmp_path, ds):
    spec = QueueSpec("worst")
    q = build_queue(ds, spec)
    QueueProgress(ds, "ann").save(q, 3)
    QueueProgress(ds, "bob").save(q, 1)
    at3 = q.patch_ids(3, 4)[0]
    with Manifest.open(ds.root) as again:  # the app closed and came back
        q2 = build_queue(again, spec)
        assert QueueProgress(again, "ann").resume(q2) == 3 and QueueProgress(again, "bob").resume(q2) == 1
        again.decide(at3, Status.ACCEPTED, annotator="ann")  # decided elsewhere: continue after it
        q3 = build_queue(again, spec)
        assert q3.patch_ids(QueueProgress(again, "ann").resume(q3))[0] == q.patch_ids(4, 5)[0]
        other = QueueSpec("worst", limit=5)  # another queue has its own position
        assert QueueProgress(again, "ann").resume(build_queue(again, other)) == 0


def test_read_only_datasets_keep_positions_for_the_session_only(ds):
    root = ds.root
    ds.close()  # everything checkpointed into the file
    before = (root / "manifest.sqlite").read_bytes()
    with Manifest.open(root, readonly=True) as ro:
        q = build_queue(ro, QueueSpec("flagged"))
        progress = QueueProgress(ro, "ann")
        assert not progress.persistent
        progress.save(q, 2)
        assert progress.resume(q) == 2
        assert QueueProgress(ro, "ann").resume(q) == 0  # a new session starts over
    assert (root / "manifest.sqlite").read_bytes() == before


def test_walking_open_entries_within_a_triplet(ds):
    q = build_queue(ds, QueueSpec("worst"))
    b = ds.triplet("b").id
    walk, i = [], -1
    while (i := q.next_open(i, 1, triplet_id=b)) is not None:
        walk.append(ds.patch(q.patch_ids(i, i + 1)[0]).misalignment_px)
    assert walk == [2.0, 1.3, 1.1, 0.5, 0.2]
    q.mark(q.patch_ids(1, 2)[0])  # a decision made meanwhile is skipped by the walk
    assert q.next_open(0, 1) == 2 and q.reviewed == 1 and q.next_open(2, -1) == 0
