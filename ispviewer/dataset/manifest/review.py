"""Dataset-wide review: the rows review queues are built from, where each person stands in a
queue, who decided what, and the outcome of audited patches.

Queue candidates come back as NumPy arrays (built by SQLite's ``group_concat`` and parsed by
NumPy, because creating 300K Python row objects alone would take longer than the whole queue
may): the patch ids, their triplets and the kind's sort key (see :data:`CANDIDATE_KINDS`), and
the ids of every patch a person decided, all read in one snapshot; the ordering itself is done
by the caller.  Each kind reads the narrow index schema 6 keeps for it (a dataset opened
read-only at an older schema scans the table instead, with the same result).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ispviewer.dataset.manifest.connection import ManifestBase, ManifestError, decoded, utc_now
from ispviewer.dataset.manifest.rows import patch_from_row
from ispviewer.dataset.records import PatchRecord

#: Quantum of the integer misalignment keys, px (ordering is exact to a millionth of a pixel).
KEY_SCALE = 1_000_000

#: patches a person decided (from any queue) that the aligner had given an audited status before
_AUDITED = ("(p.decided_by = 'user' AND p.id IN (SELECT d.patch_id FROM decisions d WHERE d.id IN "
            "(SELECT MIN(id) FROM decisions WHERE actor = 'user' GROUP BY patch_id) "
            "AND d.old_status IN ({statuses})))")
_MEASURED = "p.measurable = 1 AND p.misalignment_px IS NOT NULL"
_FLAGGED = "(p.measurable = 0 OR p.misalignment_px IS NULL OR p.status = 'flagged')"

#: kind -> (condition, sort key, index read).  Keys are integers: misalignment in KEY_SCALE
#: units, or the reading position y << 20 | x (None: the patch id).  The index (schema 6) holds
#: every column the kind reads, so the table itself is not read; None: a plain table scan, which
#: beats reading ~90% of the table through any index.
CANDIDATE_KINDS = {
    "worst": (_MEASURED, f"CAST(round(p.misalignment_px * {KEY_SCALE}) AS INTEGER)", "patches_queue_measured"),
    "near-threshold": (_MEASURED + " AND p.misalignment_px BETWEEN :threshold - :band AND :threshold + :band",
                       f"CAST(round(abs(p.misalignment_px - :threshold) * {KEY_SCALE}) AS INTEGER)",
                       "patches_queue_measured"),
    "flagged": (_FLAGGED, "((p.y << 20) | p.x)", "patches_queue_flagged"),
    "audit": ("((p.decided_by = 'auto' AND p.status IN ({statuses})) OR " + _AUDITED + ")", None, None),
}
_PERSON_INDEX = "patches_decided_by_person"


@dataclass(frozen=True)
class QueueCandidates:
    """Every patch a queue holds (decided ones included), in no particular order."""

    patch_ids: np.ndarray  # int64
    triplet_ids: np.ndarray  # int64, aligned with patch_ids
    keys: np.ndarray  # int64, the kind's sort key, aligned with patch_ids
    person_decided: np.ndarray  # int64, sorted: the ids of every patch a person decided (whole dataset)


class ReviewTable(ManifestBase):
    """Queue candidates, review positions, decisions per person, audit outcomes."""

    # ----------------------------------------------------------------- triplets for filters

    def triplet_columns(self) -> frozenset[str]:
        """The columns the triplets table has (optional ones, such as a split, may be absent)."""
        return frozenset(r["name"] for r in self._read("PRAGMA table_info(triplets)"))

    def triplet_filter_rows(self, columns: tuple[str, ...] = ()) -> list[sqlite3.Row]:
        """(id, name, phone_model, *columns) of every triplet, for filters and shards."""
        known = self.triplet_columns()
        for column in columns:
            if column not in known:
                raise ManifestError(f"{self.root}: the triplets have no {column!r} column")
        extra = "".join(f", t.{c} AS {c}" for c in columns)
        return self._read("SELECT t.id, t.name, t.phone_model AS model, "
                          f"trim(t.phone_make || ' ' || t.phone_model) AS phone_model{extra} FROM triplets t")

    # ----------------------------------------------------------------- queue candidates

    def queue_candidates(self, kind: str, *, threshold_px: float, band_px: float = 0.3,
                         audit_statuses: tuple[str, ...] = ("accepted",),
                         triplet_ids: list[int] | None = None) -> QueueCandidates:
        """The patches a queue of ``kind`` holds, decided ones included, and who decided (one snapshot)."""
        sql, params, people = self._queue_sql(kind, threshold_px, band_px, audit_statuses, triplet_ids)
        with self._lock:
            try:
                with _snapshot(self._conn):
                    ids, triplets, keys = self._conn.execute(sql, params).fetchone()
                    (decided,) = self._conn.execute(people).fetchone()
            except sqlite3.DatabaseError as exc:
                raise ManifestError(f"{self.root}: cannot be read ({exc}); run `ispviewer check`") from None
        ids = _int_array(ids)
        return QueueCandidates(ids, _int_array(triplets), ids.copy() if keys is None else _int_array(keys),
                               np.sort(_int_array(decided)))

    def queue_plan(self, kind: str, *, threshold_px: float, band_px: float = 0.3,
                   audit_statuses: tuple[str, ...] = ("accepted",), triplet_ids: list[int] | None = None) -> str:
        """How SQLite reads a queue's candidates (its query plan, one line per step)."""
        sql, params, people = self._queue_sql(kind, threshold_px, band_px, audit_statuses, triplet_ids)
        rows = self._read("EXPLAIN QUERY PLAN " + sql, params) + self._read("EXPLAIN QUERY PLAN " + people)
        return "\n".join(str(r["detail"]) for r in rows)

    def _queue_sql(self, kind: str, threshold_px: float, band_px: float, audit_statuses: tuple[str, ...],
                   triplet_ids: list[int] | None) -> tuple[str, dict, str]:
        if kind not in CANDIDATE_KINDS:
            raise ValueError(f"unknown queue kind {kind!r}")
        statuses = ", ".join(f"'{s}'" for s in audit_statuses if s in ("accepted", "rejected")) or "''"
        condition, key, index = CANDIDATE_KINDS[kind]
        condition = condition.replace("{statuses}", statuses)
        params: dict[str, object] = {"threshold": float(threshold_px), "band": float(band_px)}
        if triplet_ids is not None:
            condition += " AND p.triplet_id IN (SELECT value FROM json_each(:triplets))"
            params["triplets"] = json.dumps([int(t) for t in triplet_ids])
        indexes = self._indexes()
        # the planner is told: without statistics it may pick an index that it reads row by row
        source = f"INDEXED BY {index}" if index in indexes else "NOT INDEXED"
        keys_sql = f"group_concat({key})" if key else "NULL"
        sql = (f"SELECT group_concat(p.id), group_concat(p.triplet_id), {keys_sql} "
               f"FROM patches p {source} WHERE {condition}")
        people = ("SELECT group_concat(p.id) FROM patches p "
                  f"{'INDEXED BY ' + _PERSON_INDEX if _PERSON_INDEX in indexes else ''} WHERE p.decided_by = 'user'")
        return sql, params, people

    @decoded
    def patches_by_id(self, patch_ids) -> dict[int, PatchRecord]:
        """The patches with these ids (missing ones are left out), read in chunks."""
        ids = [int(i) for i in patch_ids]
        out: dict[int, PatchRecord] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = self._read("SELECT p.*, t.name AS triplet FROM patches p JOIN triplets t ON t.id = p.triplet_id "
                              f"WHERE p.id IN ({','.join('?' * len(chunk))})", tuple(chunk))
            out.update((r["id"], patch_from_row(r)) for r in rows)
        return out

    def user_decided(self, patch_ids) -> set[int]:
        """Which of these patches hold a person's decision now."""
        ids = [int(i) for i in patch_ids]
        out: set[int] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            out.update(r[0] for r in self._read(
                f"SELECT id FROM patches WHERE decided_by = 'user' AND id IN ({','.join('?' * len(chunk))})",
                tuple(chunk)))
        return out

    # ----------------------------------------------------------------- positions

    def review_position(self, annotator: str, queue_key: str) -> int | None:
        """The patch ``annotator`` was at in the queue ``queue_key`` (None: not started)."""
        if "review_positions" not in self._tables():
            return None  # an older dataset opened read-only
        rows = self._read("SELECT patch_id FROM review_positions WHERE annotator = ? AND queue_key = ?",
                          (annotator, queue_key))
        return rows[0]["patch_id"] if rows else None

    def set_review_position(self, annotator: str, queue_key: str, patch_id: int | None) -> None:
        with self._write() as db:
            db.execute("INSERT INTO review_positions (annotator, queue_key, patch_id, updated_at) VALUES (?,?,?,?) "
                       "ON CONFLICT(annotator, queue_key) DO UPDATE SET patch_id = excluded.patch_id, "
                       "updated_at = excluded.updated_at", (annotator, queue_key, patch_id, utc_now()))

    # ----------------------------------------------------------------- people and the audit

    def decisions_by_annotator(self) -> list[sqlite3.Row]:
        """(annotator, status, patches) of the patches people hold now, and (annotator, events)
        of their history, as rows with columns annotator, status, patches, events."""
        person = "coalesce(annotator, '')" if "annotator" in self._columns("patches") else "''"
        held = self._read(f"SELECT {person} AS annotator, status, COUNT(*) AS patches, NULL AS events "
                          "FROM patches WHERE decided_by = 'user' GROUP BY 1, 2 ORDER BY 1, 2")
        person = "coalesce(annotator, '')" if "annotator" in self._columns("decisions") else "''"
        made = self._read(f"SELECT {person} AS annotator, NULL AS status, NULL AS patches, COUNT(*) AS events "
                          "FROM decisions WHERE actor = 'user' GROUP BY 1 ORDER BY 1")
        return held + made

    def audit_outcomes(self) -> list[sqlite3.Row]:
        """(sampled_status, status) of every patch a person decided from the audit queue: the
        aligner's status when the person first decided it, and its status now."""
        if "queue" not in self._columns("decisions"):
            return []
        return self._read(
            "SELECT d.old_status AS sampled_status, p.status AS status FROM patches p "
            "JOIN decisions d ON d.id = (SELECT MIN(e.id) FROM decisions e WHERE e.patch_id = p.id "
            "AND e.actor = 'user') WHERE p.decided_by = 'user' AND d.queue = 'audit'")

    # ----------------------------------------------------------------- helpers

    def _tables(self) -> set[str]:
        return {r[0] for r in self._read("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def _indexes(self) -> set[str]:
        return {r[0] for r in self._read("SELECT name FROM sqlite_master WHERE type = 'index'")}

    def _columns(self, table: str) -> set[str]:
        return {r["name"] for r in self._read(f"PRAGMA table_info({table})")}


@contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """One read transaction (the statements inside see the same state of the file), unless the
    connection is inside a transaction already."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")


def _int_array(text: str | None) -> np.ndarray:
    """``group_concat`` of integers -> int64 array (empty for NULL: no rows)."""
    if not text:
        return np.zeros(0, np.int64)
    return np.fromstring(text, dtype=np.int64, sep=",")
