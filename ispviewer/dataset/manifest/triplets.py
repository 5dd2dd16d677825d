"""Triplets and their alignment results."""

from __future__ import annotations

import json
import sqlite3

from ispviewer.dataset.alignment_files import remove_replaced
from ispviewer.dataset.manifest.connection import ManifestBase, ManifestError, decoded, utc_now
from ispviewer.dataset.manifest.rows import log_decision, triplet_from_row
from ispviewer.dataset.records import (
    AlignmentResult,
    CaptureFiles,
    CaptureFormat,
    DecidedBy,
    RawInfo,
    Status,
    TripletRecord,
)
from ispviewer.dataset.rules import auto_status


class TripletTable(ManifestBase):
    """Registering captures, reading triplets, storing (or failing) their alignment."""

    def add_triplet(self, name: str, files: CaptureFiles, raw: RawInfo,
                    target_size: tuple[int, int], capture: CaptureFormat | None = None) -> tuple[int, bool]:
        """Register a capture; returns (id, created).  An existing name is left as it is.

        ``raw`` describes the phone frame (its orientation and crop are stored with it),
        ``capture`` the images' formats and the import's note, all in the same transaction.
        """
        capture = CaptureFormat() if capture is None else capture
        for rel in (files.raw, files.phone, files.target):
            self.resolve(rel)  # refuse unsafe paths before they reach the database
        with self._write() as db:
            row = db.execute("SELECT id FROM triplets WHERE name = ?", (name,)).fetchone()
            if row is not None:
                return int(row[0]), False
            cur = db.execute(
                "INSERT INTO triplets (name, raw_path, phone_path, target_path, width, height, "
                "target_width, target_height, phone_make, phone_model, cfa_pattern, black_level, "
                "white_level, imported_at, raw_orientation, raw_crop, phone_format, phone_orientation, "
                "target_orientation, capture_note) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (name, files.raw, files.phone, files.target, raw.width, raw.height,
                 target_size[0], target_size[1], raw.make, raw.model, raw.cfa_pattern,
                 raw.black_level, raw.white_level, utc_now(), int(raw.orientation),
                 json.dumps(list(raw.crop)) if raw.crop is not None else None, capture.phone_format,
                 int(capture.phone_orientation), int(capture.target_orientation), capture.note))
            return int(cur.lastrowid), True

    _TRIPLET_SQL = """
        SELECT t.*,
               (SELECT AVG(misalignment_px) FROM patches p
                 WHERE p.triplet_id = t.id AND p.misalignment_px IS NOT NULL) AS mean_mis,
               (SELECT group_concat(status || ':' || n) FROM
                   (SELECT status, COUNT(*) AS n FROM patches p WHERE p.triplet_id = t.id
                     GROUP BY status)) AS counts
        FROM triplets t"""

    @decoded
    def triplets(self) -> list[TripletRecord]:
        return [triplet_from_row(r) for r in self._read(self._TRIPLET_SQL + " ORDER BY t.name")]

    @decoded
    def triplet(self, key: str | int) -> TripletRecord:
        column = "t.id" if isinstance(key, int) else "t.name"
        rows = self._read(self._TRIPLET_SQL + f" WHERE {column} = ?", (key,))
        if not rows:
            raise ManifestError(f"{self.root}: no triplet {key!r}")
        return triplet_from_row(rows[0])

    # ----------------------------------------------------------------- alignment

    def store_alignment(self, triplet_id: int, result: AlignmentResult) -> None:
        """Replace the triplet's alignment; auto decisions are re-made, user decisions survive.

        Once stored, the heatmap and aligned target the previous row referenced are removed when
        the new row names other files (best effort, see :mod:`ispviewer.dataset.alignment_files`).
        """
        for rel in (result.heatmap, result.aligned_target):
            if rel is not None:
                self.resolve(rel)
        now = utc_now()
        with self._write() as db:
            replaced = self._files_of(db, triplet_id)
            db.execute(
                "UPDATE triplets SET align_state = 'aligned', align_error = NULL, homography = ?, "
                "heatmap_path = ?, aligned_path = ?, align_params = ?, aligned_at = ? WHERE id = ?",
                (json.dumps([list(map(float, r)) for r in result.homography]), result.heatmap,
                 result.aligned_target, json.dumps(dict(result.params, threshold_px=result.threshold_px)),
                 now, triplet_id))
            existing = {(r["x"], r["y"], r["size"]): r for r in db.execute(
                "SELECT id, x, y, size, status, decided_by FROM patches WHERE triplet_id = ?", (triplet_id,))}
            seen = set()
            for m in result.patches:
                key = (m.x, m.y, m.size)
                seen.add(key)
                status, reason = auto_status(m.misalignment_px, m.measurable, result.threshold_px, m.cause)
                values = (m.dx, m.dy, m.ncc, m.misalignment_px, m.misalignment_p95, int(m.measurable))
                old = existing.get(key)
                if old is None:
                    cur = db.execute(
                        "INSERT INTO patches (triplet_id, x, y, size, dx, dy, ncc, misalignment_px, "
                        "misalignment_p95, measurable, status, decided_by, reason) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?,'auto',?)",
                        (triplet_id, *key, *values, status.value, reason))
                    log_decision(db, cur.lastrowid, now, DecidedBy.AUTO, None, status, reason)
                elif old["decided_by"] == DecidedBy.USER.value:
                    db.execute("UPDATE patches SET dx=?, dy=?, ncc=?, misalignment_px=?, misalignment_p95=?, "
                               "measurable=?, stale=0 WHERE id=?", (*values, old["id"]))
                else:
                    db.execute("UPDATE patches SET dx=?, dy=?, ncc=?, misalignment_px=?, misalignment_p95=?, "
                               "measurable=?, stale=0, status=?, reason=? WHERE id=?",
                               (*values, status.value, reason, old["id"]))
                    if old["status"] != status.value:
                        log_decision(db, old["id"], now, DecidedBy.AUTO, Status(old["status"]), status, reason)
            for key, old in existing.items():
                if key in seen:
                    continue
                if old["decided_by"] == DecidedBy.USER.value:
                    db.execute("UPDATE patches SET stale = 1 WHERE id = ?", (old["id"],))
                else:
                    db.execute("DELETE FROM patches WHERE id = ?", (old["id"],))
        remove_replaced(self.root, replaced, (result.heatmap, result.aligned_target))

    def _files_of(self, db: sqlite3.Connection, triplet_id: int) -> list[str]:
        """The aligner files the triplet's row references that no other row references."""
        row = db.execute("SELECT heatmap_path, aligned_path FROM triplets WHERE id = ?", (triplet_id,)).fetchone()
        files = [rel for rel in (row or ()) if rel]
        return [rel for rel in files if db.execute(
            "SELECT 1 FROM triplets WHERE id != ? AND (heatmap_path = ? OR aligned_path = ?) LIMIT 1",
            (triplet_id, rel, rel)).fetchone() is None]

    def store_alignment_failure(self, triplet_id: int, error: str) -> None:
        """Record why a triplet could not be aligned; its patches and decisions are kept, its
        aligned target (display cache) is dropped: its file is removed once this is stored (best
        effort; ``ispviewer check --repair`` removes any that remain as orphans)."""
        with self._write() as db:
            replaced = self._files_of(db, triplet_id)
            db.execute("UPDATE triplets SET align_state = 'failed', align_error = ?, aligned_at = ?, "
                       "aligned_path = NULL WHERE id = ?", (error, utc_now(), triplet_id))
            keep = db.execute("SELECT heatmap_path FROM triplets WHERE id = ?", (triplet_id,)).fetchone()
        remove_replaced(self.root, replaced, tuple(keep or ()))

