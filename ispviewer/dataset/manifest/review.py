"""Dataset-wide review: the rows review queues are built from, where each person stands in a
queue, who decided what, and the outcome of audited patches.

Queue candidates come back as two int64 arrays (built by SQLite's ``group_concat`` and parsed
by NumPy, because creating 300K Python row objects alone would take longer than the whole queue
may): ``packed`` holds ``triplet_id << 33 | patch_id << 1 | decided_by_a_person`` and ``key``
the kind's sort key (see :data:`CANDIDATE_KINDS`); the ordering itself is done by the caller.
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np

from ispviewer.dataset.manifest.connection import ManifestBase, ManifestError, decoded, utc_now
from ispviewer.dataset.manifest.rows import patch_from_row
from ispviewer.dataset.records import PatchRecord

#: Quantum of the integer misalignment keys, px (ordering is exact to a millionth of a pixel).
KEY_SCALE = 1_000_000

_PACKED = "((p.triplet_id << 33) | (p.id << 1) | (p.decided_by = 'user'))"
#: patches a person decided (from any queue) that the aligner had given an audited status before
_AUDITED = ("(p.decided_by = 'user' AND p.id IN (SELECT d.patch_id FROM decisions d WHERE d.id IN "
            "(SELECT MIN(id) FROM decisions WHERE actor = 'user' GROUP BY patch_id) "
            "AND d.old_status IN ({statuses})))")

#: kind -> (condition, sort key).  Keys are integers: misalignment in KEY_SCALE units, or the
#: reading position y << 20 | x (None: the patch id, which ``packed`` holds already).
CANDIDATE_KINDS = {
    "worst": ("p.measurable = 1 AND p.misalignment_px IS NOT NULL",
              f"CAST(round(p.misalignment_px * {KEY_SCALE}) AS INTEGER)"),
    "near-threshold": ("p.measurable = 1 AND p.misalignment_px IS NOT NULL "
                       "AND p.misalignment_px BETWEEN :threshold - :band AND :threshold + :band",
                       f"CAST(round(abs(p.misalignment_px - :threshold) * {KEY_SCALE}) AS INTEGER)"),
    "flagged": ("(p.measurable = 0 OR p.misalignment_px IS NULL OR p.status = 'flagged')",
                "((p.y << 20) | p.x)"),
    # "+p.status": a full scan beats ~90% of the table read through the status index
    "audit": ("((p.decided_by = 'auto' AND +p.status IN ({statuses})) OR " + _AUDITED + ")", None),
}


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
                         triplet_ids: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(packed, key)`` of every patch a queue of ``kind`` holds, decided ones included."""
        if kind not in CANDIDATE_KINDS:
            raise ValueError(f"unknown queue kind {kind!r}")
        statuses = ", ".join(f"'{s}'" for s in audit_statuses if s in ("accepted", "rejected")) or "''"
        condition, key = CANDIDATE_KINDS[kind]
        condition = condition.replace("{statuses}", statuses)
        params: dict[str, object] = {"threshold": float(threshold_px), "band": float(band_px)}
        if triplet_ids is not None:
            condition += " AND p.triplet_id IN (SELECT value FROM json_each(:triplets))"
            params["triplets"] = json.dumps([int(t) for t in triplet_ids])
        keys_sql = f"group_concat({key})" if key else "NULL"
        sql = f"SELECT group_concat({_PACKED}), {keys_sql} FROM patches p WHERE {condition}"
        with self._lock:
            try:
                packed, keys = self._conn.execute(sql, params).fetchone()
            except sqlite3.DatabaseError as exc:
                raise ManifestError(f"{self.root}: cannot be read ({exc}); run `ispviewer check`") from None
        if not packed:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        packed = np.fromstring(packed, dtype=np.int64, sep=",")
        if key is None:
            return packed, (packed >> 1) & ((1 << 32) - 1)
        return packed, np.fromstring(keys, dtype=np.int64, sep=",")

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

    def _columns(self, table: str) -> set[str]:
        return {r["name"] for r in self._read(f"PRAGMA table_info({table})")}
