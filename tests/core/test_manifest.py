import dataclasses
import json
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from ispviewer.dataset import schema
from ispviewer.dataset.manifest import MANIFEST_NAME, Manifest, ManifestError, ManifestReadOnly
from ispviewer.dataset.records import AlignmentResult, CaptureFiles, DecidedBy, PatchMeasurement, RawInfo, Status

FILES = CaptureFiles("captures/a/raw.dng", "captures/a/phone.jpg", "captures/a/target.jpg")
RAW = RawInfo(64, 48, "Apple", "iPhone 6s", "RGGB", 528.0, 4095.0)
IDENTITY = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


def result(*mis, threshold=1.2):
    patches = tuple(PatchMeasurement(x=32 * i, y=0, size=32, dx=0.1, dy=-0.2, ncc=0.9, misalignment_px=m,
                                     misalignment_p95=None if m is None else m * 2, measurable=m is not None)
                    for i, m in enumerate(mis))
    return AlignmentResult(IDENTITY, patches, None, threshold)


@pytest.fixture
def manifest(tmp_path):
    with Manifest.open(tmp_path / "ds", create=True) as m:
        yield m


def test_auto_status_from_alignment(manifest):
    tid, created = manifest.add_triplet("a", FILES, RAW, (96, 72))
    assert created
    manifest.store_alignment(tid, result(0.4, 1.5, None))
    statuses = [(p.status, p.decided_by) for p in manifest.patches(tid)]
    assert statuses == [(Status.ACCEPTED, DecidedBy.AUTO), (Status.REJECTED, DecidedBy.AUTO),
                        (Status.FLAGGED, DecidedBy.AUTO)]
    t = manifest.triplet("a")
    assert t.patch_counts == {"accepted": 1, "rejected": 1, "flagged": 1}
    assert t.mean_misalignment == pytest.approx(0.95)


def test_realignment_keeps_user_decisions(manifest):
    tid, _ = manifest.add_triplet("a", FILES, RAW, (96, 72))
    manifest.store_alignment(tid, result(0.4, 1.5))
    first = manifest.patches(tid)[0]
    manifest.decide(first.id, Status.REJECTED, "blurry")
    manifest.store_alignment(tid, result(0.2, 0.3))  # would accept both
    after = manifest.patches(tid)
    assert (after[0].status, after[0].decided_by, after[0].reason) == (Status.REJECTED, DecidedBy.USER, "blurry")
    assert after[0].misalignment_px == pytest.approx(0.2)  # measurement refreshed
    assert after[1].status == Status.ACCEPTED
    history = manifest.history(first.id)
    assert [(h.actor, h.new_status) for h in history] == [(DecidedBy.AUTO, Status.ACCEPTED),
                                                          (DecidedBy.USER, Status.REJECTED)]


def grid(size, *mis, x0=0, threshold=1.2):
    """An alignment whose patches are ``size`` px squares in a row from ``x0``, one per misalignment."""
    patches = tuple(PatchMeasurement(x=x0 + size * i, y=0, size=size, dx=0.3, dy=0.1, ncc=0.8, misalignment_px=m,
                                     misalignment_p95=None if m is None else m * 2, measurable=m is not None)
                    for i, m in enumerate(mis))
    return AlignmentResult(IDENTITY, patches, None, threshold)


def test_no_realignment_deletes_or_overwrites_a_user_decision(manifest):
    """Whatever a re-alignment measures (same grid, other patch size, no patches, a failure), every
    patch a person decided keeps its status, reason, author and history."""
    tid, _ = manifest.add_triplet("a", FILES, RAW, (96, 72))
    manifest.store_alignment(tid, grid(32, 0.4, 1.5, None))
    first, second, third = manifest.patches(tid)
    manifest.decide(first.id, Status.REJECTED, "blurry")  # the aligner had accepted it
    manifest.decide(second.id, Status.ACCEPTED, "fine by eye")  # the aligner had rejected it
    manifest.decide(third.id, Status.FLAGGED, "check the sky")
    decided = {p.id: (p.x, p.y, p.size, p.status, p.decided_by, p.reason) for p in manifest.patches(tid)}
    histories = {pid: manifest.history(pid) for pid in decided}

    def user_decisions_unchanged():
        for pid, before in decided.items():
            p = manifest.patch(pid)  # raises if the row was deleted
            assert (p.x, p.y, p.size, p.status, p.decided_by, p.reason) == before
            assert manifest.history(pid) == histories[pid]  # no automatic event on top of a person's

    for realignment in (grid(32, 0.1, 3.0, 0.2),  # same grid: the aligner would decide all three otherwise
                        grid(48, 0.2, 0.2, x0=8),  # another patch size: none of the old squares comes back
                        grid(32),  # no measurable patch at all
                        grid(32, 5.0, 5.0, 5.0, threshold=0.1)):
        manifest.store_alignment(tid, realignment)
        user_decisions_unchanged()
    manifest.store_alignment_failure(tid, "too few SIFT matches")
    user_decisions_unchanged()
    manifest.store_alignment(tid, grid(32, 0.1, 0.1, 0.1))  # back on the first grid: measured again, still theirs
    user_decisions_unchanged()
    assert [manifest.patch(pid).misalignment_px for pid in decided] == pytest.approx([0.1, 0.1, 0.1])
    manifest.apply_threshold(0.05)  # nor a new threshold
    user_decisions_unchanged()


def test_threshold_changes_auto_decisions_only(manifest):
    tid, _ = manifest.add_triplet("a", FILES, RAW, (96, 72))
    manifest.store_alignment(tid, result(0.4, 0.8, 1.5))
    user = manifest.patches(tid)[0]
    manifest.decide(user.id, Status.ACCEPTED)
    assert manifest.threshold_preview(0.5) == {"rejected": 2, "accepted": 0}
    assert manifest.apply_threshold(0.5) == 1
    assert [p.status for p in manifest.patches(tid)] == [Status.ACCEPTED, Status.REJECTED, Status.REJECTED]
    assert manifest.threshold_px == 0.5


EDGE_OF_SEARCH = "match at the edge of the search range"  # the aligner's caveat (ispviewer.align.trust)


def test_threshold_changes_keep_the_edge_of_search_caveat(manifest):
    """A patch matched at the edge of the search range says so whatever the threshold, and a
    patch that stays rejected names the threshold in force."""
    tid, _ = manifest.add_triplet("a", FILES, RAW, (96, 72))
    edge, plain = (PatchMeasurement(x=32 * i, y=0, size=32, dx=8.0, dy=0.0, ncc=0.9, misalignment_px=m,
                                    misalignment_p95=m, measurable=True, cause=cause)
                   for i, (m, cause) in enumerate(((1.5, EDGE_OF_SEARCH), (1.5, None))))
    manifest.store_alignment(tid, AlignmentResult(IDENTITY, (edge, plain), None, 1.2))

    def reasons():
        return [(p.status, p.reason) for p in manifest.patches(tid)]

    assert reasons() == [(Status.REJECTED, f"misalignment 1.50 px > 1.2 px; {EDGE_OF_SEARCH}"),
                         (Status.REJECTED, "misalignment 1.50 px > 1.2 px")]
    assert manifest.apply_threshold(2.0) == 2  # both accepted: the caveat stays with the edge patch
    assert reasons() == [(Status.ACCEPTED, EDGE_OF_SEARCH), (Status.ACCEPTED, None)]
    assert manifest.apply_threshold(1.0) == 2  # rejected again: the caveat comes back with the new figure
    assert reasons() == [(Status.REJECTED, f"misalignment 1.50 px > 1 px; {EDGE_OF_SEARCH}"),
                         (Status.REJECTED, "misalignment 1.50 px > 1 px")]
    assert manifest.apply_threshold(1.4) == 0  # still rejected: same decision, the reason follows
    assert reasons() == [(Status.REJECTED, f"misalignment 1.50 px > 1.4 px; {EDGE_OF_SEARCH}"),
                         (Status.REJECTED, "misalignment 1.50 px > 1.4 px")]
    edge_id = manifest.patches(tid)[0].id
    assert [h.reason for h in manifest.history(edge_id)][-1] == f"misalignment 1.50 px > 1 px; {EDGE_OF_SEARCH}"


def test_reimport_is_idempotent(manifest):
    tid, _ = manifest.add_triplet("a", FILES, RAW, (96, 72))
    assert manifest.add_triplet("a", FILES, RAW, (96, 72)) == (tid, False)


def test_decision_survives_kill_right_after_return(tmp_path):
    root = tmp_path / "ds"
    with Manifest.open(root, create=True) as m:
        tid, _ = m.add_triplet("a", FILES, RAW, (96, 72))
        m.store_alignment(tid, result(0.4))
        pid = m.patches(tid)[0].id
    script = textwrap.dedent(f"""
        import os, sys
        from ispviewer.dataset.manifest import Manifest
        m = Manifest.open({str(root)!r})
        m.decide({pid}, "rejected", "killed")
        sys.stdout.write("returned\\n"); sys.stdout.flush()
        os.kill(os.getpid(), 9)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9 and "returned" in proc.stdout
    conn = sqlite3.connect(root / "manifest.sqlite")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT status, decided_by, reason FROM patches WHERE id = ?", (pid,)).fetchone() == (
        "rejected", "user", "killed")


def test_newer_schema_is_refused_untouched(tmp_path):
    root = tmp_path / "ds"
    Manifest.open(root, create=True).close()
    path = root / "manifest.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(ManifestError, match="newer ispviewer"):
        Manifest.open(root)
    assert path.read_bytes() == before


def test_foreign_database_is_refused_untouched(tmp_path):
    root = tmp_path / "ds"
    root.mkdir()
    conn = sqlite3.connect(root / "manifest.sqlite")
    conn.execute("CREATE TABLE other (x)")
    conn.commit()
    conn.close()
    before = (root / "manifest.sqlite").read_bytes()
    with pytest.raises(ManifestError, match="another program"):
        Manifest.open(root)
    assert (root / "manifest.sqlite").read_bytes() == before


def test_garbage_file_is_refused(tmp_path):
    root = tmp_path / "ds"
    root.mkdir()
    (root / "manifest.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(ManifestError, match="not a readable"):
        Manifest.open(root)


def test_missing_dataset(tmp_path):
    with pytest.raises(ManifestError, match="no ispviewer dataset"):
        Manifest.open(tmp_path / "nothing")


def test_readonly_refuses_writes(tmp_path):
    root = tmp_path / "ds"
    with Manifest.open(root, create=True) as m:
        m.add_triplet("a", FILES, RAW, (96, 72))
    with Manifest.open(root, readonly=True) as m:
        assert [t.name for t in m.triplets()] == ["a"]
        with pytest.raises(ManifestReadOnly):
            m.set_setting("x", "1")


@pytest.mark.parametrize("bad", ["../outside.dng", "/etc/passwd", "captures/../../x", "C:/x"])
def test_paths_cannot_leave_the_dataset(manifest, bad):
    with pytest.raises(ManifestError, match="refusing"):
        manifest.resolve(bad)
    with pytest.raises(ManifestError):
        manifest.add_triplet("evil", CaptureFiles(bad, "p.jpg", "t.jpg"), RAW, (1, 1))


def test_symlink_out_of_root_is_refused(manifest, tmp_path):
    (manifest.root / "link").symlink_to(tmp_path)
    with pytest.raises(ManifestError, match="outside"):
        manifest.resolve("link/secret")


def test_history_is_append_only(manifest):
    tid, _ = manifest.add_triplet("a", FILES, RAW, (96, 72))
    manifest.store_alignment(tid, result(0.4))
    other = sqlite3.connect(manifest.root / MANIFEST_NAME)  # a writer other than this API is refused too
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            other.execute("UPDATE decisions SET new_status = 'rejected'")
    finally:
        other.close()
    assert len(manifest.history(manifest.patches(tid)[0].id)) == 1


def test_aligned_target_is_stored_replaced_and_cleared(manifest):
    tid, _ = manifest.add_triplet("a", FILES, RAW, (96, 72))
    assert manifest.triplet("a").aligned_target is None
    manifest.store_alignment(tid, dataclasses.replace(result(0.4), aligned_target="aligned/a.jpg"))
    assert manifest.triplet("a").aligned_target == "aligned/a.jpg"
    manifest.store_alignment(tid, dataclasses.replace(result(0.4), aligned_target="aligned/a-2.jpg"))
    assert manifest.triplet(tid).aligned_target == "aligned/a-2.jpg"  # re-alignment replaces it
    manifest.store_alignment(tid, result(0.4))  # an aligner that wrote none: the old one is not kept
    assert manifest.triplet("a").aligned_target is None
    manifest.store_alignment(tid, dataclasses.replace(result(0.4), aligned_target="aligned/a.jpg"))
    manifest.store_alignment_failure(tid, "too few SIFT matches")
    assert manifest.triplet("a").aligned_target is None
    with pytest.raises(ManifestError, match="refusing"):
        manifest.store_alignment(tid, dataclasses.replace(result(0.4), aligned_target="../a.jpg"))


def test_replaced_alignment_files_are_removed_once_the_new_row_is_stored(manifest):
    root = manifest.root
    tid, _ = manifest.add_triplet("a", FILES, RAW, (96, 72))
    other, _ = manifest.add_triplet("b", dataclasses.replace(FILES, raw="captures/b/raw.dng"), RAW, (96, 72))
    for rel in ("heatmaps/a.npz", "aligned/a.jpg", "heatmaps/a.1.npz", "aligned/a.1.jpg", "heatmaps/shared.npz"):
        (root / rel).parent.mkdir(exist_ok=True)
        (root / rel).write_bytes(b"x")

    def store(triplet, heatmap, aligned):
        manifest.store_alignment(triplet, dataclasses.replace(result(0.4), heatmap=heatmap, aligned_target=aligned))

    store(tid, "heatmaps/a.npz", "aligned/a.jpg")  # an old-style (unversioned) alignment
    store(tid, "heatmaps/a.1.npz", "aligned/a.1.jpg")
    assert not (root / "heatmaps/a.npz").exists() and not (root / "aligned/a.jpg").exists()
    store(tid, "heatmaps/a.1.npz", "aligned/a.1.jpg")  # the same files again: nothing removed
    assert (root / "heatmaps/a.1.npz").is_file() and (root / "aligned/a.1.jpg").is_file()
    store(other, "heatmaps/shared.npz", None)
    store(tid, "heatmaps/shared.npz", "aligned/a.1.jpg")
    assert not (root / "heatmaps/a.1.npz").exists()
    store(tid, "heatmaps/a.2.npz", "aligned/a.1.jpg")
    assert (root / "heatmaps/shared.npz").is_file()  # still referenced by triplet b
    manifest.store_alignment_failure(tid, "too few matches")  # drops the aligned target, keeps the heatmap
    assert not (root / "aligned/a.1.jpg").exists() and (root / "heatmaps/shared.npz").is_file()
    (root / "captures/a").mkdir(parents=True)
    (root / "captures/a/phone.jpg").write_bytes(b"photo")
    store(tid, "captures/a/phone.jpg", None)  # never a capture, whatever the manifest names
    store(tid, "heatmaps/a.3.npz", None)
    assert (root / "captures/a/phone.jpg").read_bytes() == b"photo"


def _write_v1_manifest(root, monkeypatch) -> tuple[int, int]:
    """A manifest as schema version 1 wrote it: an aligned triplet, two patches, a user decision."""
    with monkeypatch.context() as mp:
        mp.setattr(schema, "SCHEMA_VERSION", 1)
        with Manifest.open(root, create=True) as m:
            pass  # the version 1 schema
        with sqlite3.connect(root / MANIFEST_NAME) as db:  # rows as version 1 stored them (its columns only)
            tid = db.execute(
                "INSERT INTO triplets (name, raw_path, phone_path, target_path, width, height, target_width, "
                "target_height, phone_make, phone_model, cfa_pattern, black_level, white_level, imported_at) "
                "VALUES ('a', ?, ?, ?, ?, ?, 96, 72, ?, ?, ?, ?, ?, '2026-01-01')",
                (FILES.raw, FILES.phone, FILES.target, RAW.width, RAW.height, RAW.make, RAW.model,
                 RAW.cfa_pattern, RAW.black_level, RAW.white_level)).lastrowid
            db.execute("UPDATE triplets SET align_state = 'aligned', homography = ?, "
                       "heatmap_path = 'heatmaps/a.npz' WHERE id = ?", (json.dumps(IDENTITY), tid))
            for x in (0, 32):
                db.execute("INSERT INTO patches (triplet_id, x, y, size, dx, dy, ncc, misalignment_px, "
                           "status, decided_by) VALUES (?, ?, 0, 32, 0.1, 0.2, 0.9, 0.4, 'accepted', 'auto')",
                           (tid, x))
        db.close()
        with Manifest.open(root) as m:
            pid = m.patches(tid)[0].id
        with sqlite3.connect(root / MANIFEST_NAME) as db:  # as version 1 decided: no annotator column yet
            db.execute("UPDATE patches SET status = 'rejected', decided_by = 'user', reason = 'blurry' "
                       "WHERE id = ?", (pid,))
            db.execute("INSERT INTO decisions (patch_id, at, actor, old_status, new_status, reason) "
                       "VALUES (?, '2026-01-01T00:00:00.000+00:00', 'user', NULL, 'rejected', 'blurry')", (pid,))
        db.close()
    conn = sqlite3.connect(root / "manifest.sqlite")
    columns = [r[1] for r in conn.execute("PRAGMA table_info(triplets)")]
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1 and "aligned_path" not in columns
    conn.close()
    return tid, pid


def test_v1_manifest_migrates_keeping_every_decision(tmp_path, monkeypatch):
    root = tmp_path / "ds"
    tid, pid = _write_v1_manifest(root, monkeypatch)
    with Manifest.open(root) as m:
        t = m.triplet("a")
        assert t.aligned_target is None and t.heatmap == "heatmaps/a.npz" and t.homography == IDENTITY
        # capture geometry (v3): read exactly as before — sensor orientation, whole visible area, JPEG
        assert (t.raw.orientation, t.raw.crop, t.capture.phone_format, t.capture.note) == (1, None, "jpeg", None)
        p = m.patch(pid)
        assert (p.status, p.decided_by, p.reason) == (Status.REJECTED, DecidedBy.USER, "blurry")
        assert [(h.actor, h.new_status) for h in m.history(pid)] == [(DecidedBy.USER, Status.REJECTED)]
        assert len(m.patches(tid)) == 2
        m.store_alignment(tid, dataclasses.replace(result(0.2), aligned_target="aligned/a.jpg"))
        assert m.triplet("a").aligned_target == "aligned/a.jpg"
        assert m.patch(pid).status == Status.REJECTED  # the user's decision survives re-alignment
    conn = sqlite3.connect(root / "manifest.sqlite")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION == 5
    conn.close()
    backup = sqlite3.connect(root / "manifest.sqlite.v1.bak")  # the v1 file as it was, before migrating
    assert backup.execute("PRAGMA user_version").fetchone()[0] == 1
    assert backup.execute("SELECT status, decided_by, reason FROM patches WHERE id = ?", (pid,)).fetchone() == (
        "rejected", "user", "blurry")
    backup.close()


def test_v1_manifest_opens_read_only_without_migrating(tmp_path, monkeypatch):
    root = tmp_path / "ds"
    _, pid = _write_v1_manifest(root, monkeypatch)
    with Manifest.open(root, readonly=True) as m:
        assert m.triplet("a").aligned_target is None
        assert m.patch(pid).status == Status.REJECTED
    conn = sqlite3.connect(root / "manifest.sqlite")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()
    assert not (root / "manifest.sqlite.v1.bak").exists()
