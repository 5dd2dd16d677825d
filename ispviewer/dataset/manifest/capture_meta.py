"""Capture metadata and tags of triplets (schema 4)."""

from __future__ import annotations

import re

from ispviewer.dataset.capture_metadata import BOUNDS_SETTING, CaptureMetadata, illumination, parse_bounds
from ispviewer.dataset.manifest.connection import ManifestBase, ManifestError, decoded

_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,63}$")


class CaptureMetaTable(ManifestBase):
    """Storing what the files say about each capture; tags a person gives a triplet."""

    def store_capture_metadata(self, triplet_id: int, meta: CaptureMetadata) -> None:
        p, t = meta.phone, meta.target
        with self._write() as db:
            cur = db.execute(
                "UPDATE triplets SET exposure_time=?, iso=?, f_number=?, focal_length=?, captured_at=?, "
                "target_exposure_time=?, target_iso=?, target_f_number=?, target_focal_length=?, "
                "target_captured_at=?, ev100=?, illumination=?, capture_gap_s=?, metadata_read=1 WHERE id=?",
                (p.exposure_time, p.iso, p.f_number, p.focal_length, p.captured_at,
                 t.exposure_time, t.iso, t.f_number, t.focal_length, t.captured_at,
                 meta.ev100, meta.illumination, meta.capture_gap_s, triplet_id))
            if cur.rowcount != 1:
                raise ManifestError(f"{self.root}: no triplet with id {triplet_id}")

    @property
    @decoded
    def illumination_bounds(self) -> tuple[float, ...]:
        """EV100 upper bounds of night, low light and indoor (the rest is daylight)."""
        return parse_bounds(self.setting(BOUNDS_SETTING))

    def set_illumination_bounds(self, bounds: tuple[float, ...]) -> int:
        """Store new bounds and re-classify every triplet whose EV100 is known; returns how many."""
        text = ",".join(f"{b:g}" for b in bounds)
        parse_bounds(text)  # refuse anything not a valid setting before storing it
        with self._write() as db:
            db.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (BOUNDS_SETTING, text))
            rows = db.execute("SELECT id, ev100 FROM triplets WHERE ev100 IS NOT NULL").fetchall()
            for r in rows:
                db.execute("UPDATE triplets SET illumination = ? WHERE id = ?",
                           (illumination(r["ev100"], bounds), r["id"]))
        return len(rows)

    # ----------------------------------------------------------------- tags

    def tag_triplets(self, names: list[str], add: tuple[str, ...] = (), remove: tuple[str, ...] = ()) -> None:
        """Add and remove tags on the named triplets, all or nothing."""
        for tag in (*add, *remove):
            if not _TAG.match(tag):
                raise ManifestError(f"tag {tag!r}: use letters, digits and _ . : + - (at most 64, no spaces)")
        with self._write() as db:
            ids = []
            for name in names:
                row = db.execute("SELECT id FROM triplets WHERE name = ?", (name,)).fetchone()
                if row is None:
                    raise ManifestError(f"{self.root}: no triplet {name!r} (nothing was tagged)")
                ids.append(row[0])
            for tid in ids:
                for tag in add:
                    db.execute("INSERT OR IGNORE INTO triplet_tags (triplet_id, tag) VALUES (?, ?)", (tid, tag))
                for tag in remove:
                    db.execute("DELETE FROM triplet_tags WHERE triplet_id = ? AND tag = ?", (tid, tag))

    def tags(self) -> dict[str, tuple[str, ...]]:
        """Tags of every triplet by name (triplets without tags are absent); {} before schema 4."""
        if not self._has_table("triplet_tags"):
            return {}
        out: dict[str, list[str]] = {}
        for r in self._read("SELECT t.name, g.tag FROM triplet_tags g JOIN triplets t ON t.id = g.triplet_id "
                            "ORDER BY t.name, g.tag"):
            out.setdefault(r["name"], []).append(r["tag"])
        return {k: tuple(v) for k, v in out.items()}

    def _has_table(self, name: str) -> bool:
        return bool(self._read("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)))
