"""Patches, decisions and their history, the threshold."""

from __future__ import annotations

import sqlite3

from ispviewer.dataset.annotator import current_annotator
from ispviewer.dataset.manifest.connection import ManifestBase, ManifestError, decoded, utc_now
from ispviewer.dataset.manifest.rows import event_from_row, log_decision, patch_from_row
from ispviewer.dataset.records import DecidedBy, DecisionEvent, PatchRecord, Status
from ispviewer.dataset.rules import auto_status, caveat_of


class PatchTable(ManifestBase):
    """Reading patches, deciding them (one durable transaction each), thresholds, statistics rows."""

    _PATCH_SQL = "SELECT p.*, t.name AS triplet FROM patches p JOIN triplets t ON t.id = p.triplet_id"

    @decoded
    def patches(self, triplet_id: int | None = None, status: Status | str | None = None) -> list[PatchRecord]:
        where, args = [], []
        if triplet_id is not None:
            where.append("p.triplet_id = ?")
            args.append(triplet_id)
        if status is not None:
            where.append("p.status = ?")
            args.append(Status(status).value)
        sql = self._PATCH_SQL + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY t.name, p.y, p.x"
        return [patch_from_row(r) for r in self._read(sql, tuple(args))]

    @decoded
    def patch(self, patch_id: int) -> PatchRecord:
        rows = self._read(self._PATCH_SQL + " WHERE p.id = ?", (patch_id,))
        if not rows:
            raise ManifestError(f"{self.root}: no patch {patch_id}")
        return patch_from_row(rows[0])

    def decide(self, patch_id: int, status: Status | str, reason: str | None = None,
               actor: DecidedBy = DecidedBy.USER, decided_by: DecidedBy | None = None,
               annotator: str | None = None, queue: str | None = None) -> PatchRecord:
        """Set a patch's status in one durable transaction and append it to the history.

        ``decided_by`` defaults to ``actor``; undo passes ``decided_by=AUTO`` to give a patch back
        to the aligner while the history still records that a person did it.  A person's decision
        is recorded under ``annotator`` (default: :func:`current_annotator`), also when the status
        stays the same: that is how a person confirms the aligner's decision.  ``queue`` names the
        review queue the decision was made from (the audit estimate counts ``audit`` ones).
        """
        status = Status(status)
        actor = DecidedBy(actor)
        decided_by = DecidedBy(decided_by or actor)
        person = (annotator or current_annotator()) if actor == DecidedBy.USER else None
        with self._write() as db:
            row = db.execute("SELECT status FROM patches WHERE id = ?", (patch_id,)).fetchone()
            if row is None:
                raise ManifestError(f"{self.root}: no patch {patch_id}")
            db.execute("UPDATE patches SET status = ?, decided_by = ?, reason = ?, annotator = ? WHERE id = ?",
                       (status.value, decided_by.value, reason,
                        person if decided_by == DecidedBy.USER else None, patch_id))
            log_decision(db, patch_id, utc_now(), actor, Status(row["status"]), status, reason,
                         annotator=person, queue=queue)
        return self.patch(patch_id)

    @decoded
    def history(self, patch_id: int) -> list[DecisionEvent]:
        rows = self._read("SELECT * FROM decisions WHERE patch_id = ? ORDER BY id", (patch_id,))
        return [event_from_row(r) for r in rows]

    def threshold_preview(self, threshold_px: float) -> dict[str, int]:
        """How many auto-decided patches a new threshold would reject and accept (user ones untouched)."""
        row = self._read(
            "SELECT SUM(misalignment_px > ?) AS rejected, SUM(misalignment_px <= ?) AS accepted "
            "FROM patches WHERE decided_by = 'auto' AND measurable = 1 AND misalignment_px IS NOT NULL",
            (threshold_px, threshold_px))[0]
        return {"rejected": int(row["rejected"] or 0), "accepted": int(row["accepted"] or 0)}

    def apply_threshold(self, threshold_px: float) -> int:
        """Re-decide every auto decision with a new threshold; returns how many patches changed status.

        A patch keeps the aligner's caveat (e.g. match at the edge of the search range) in its
        reason; a patch that stays rejected gets the reason that names the new threshold (no new
        history event: its decision did not change).
        """
        now = utc_now()
        changed = 0
        with self._write() as db:
            rows = db.execute("SELECT id, status, reason, misalignment_px, measurable FROM patches "
                              "WHERE decided_by = 'auto'").fetchall()
            for r in rows:
                status, reason = auto_status(r["misalignment_px"], bool(r["measurable"]), threshold_px,
                                             caveat_of(r["status"], r["reason"]))
                if status.value != r["status"]:
                    db.execute("UPDATE patches SET status = ?, reason = ? WHERE id = ?",
                               (status.value, reason, r["id"]))
                    log_decision(db, r["id"], now, DecidedBy.AUTO, Status(r["status"]), status, reason)
                    changed += 1
                elif reason != r["reason"]:
                    db.execute("UPDATE patches SET reason = ? WHERE id = ?", (reason, r["id"]))
            db.execute("INSERT INTO meta(key, value) VALUES ('threshold_px', ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (repr(float(threshold_px)),))
        return changed

    def misalignment_table(self) -> list[sqlite3.Row]:
        """Rows (misalignment_px, measurable, status, decided_by, phone_model, triplet) for statistics."""
        return self._read(
            "SELECT p.misalignment_px, p.measurable, p.status, p.decided_by, t.name AS triplet, "
            "trim(t.phone_make || ' ' || t.phone_model) AS phone_model "
            "FROM patches p JOIN triplets t ON t.id = p.triplet_id")

    def integrity_errors(self) -> list[str]:
        """SQLite's own integrity check; an empty list means the database file is sound."""
        rows = self._read("PRAGMA integrity_check")
        return [] if [r[0] for r in rows] == ["ok"] else [r[0] for r in rows]


