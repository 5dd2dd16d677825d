"""Bringing people's decisions in from another copy of the same dataset (team review without a
server: each person reviews a shard in their own copy, then the copies are merged).

Per patch that a person decided in the other copy:

- nothing new there (every event of its history is here already): nothing to do;
- decided here by no one since the copies parted (or handed back to the aligner): the other
  copy's decision is taken over, with its history events and annotator;
- decided here too, the same way: the history gains the other copy's events;
- decided here too, differently: a **conflict** — this copy's decision stays, the other one is
  kept in ``merge_conflicts`` (and listed in the report), so neither is lost.

Events from the other copy join this copy's history in order, each starting from the status it
changes here, so the history stays a chain that ends in the patch's status.  The whole merge is
one transaction: killed half-way it leaves nothing.  A copy of another dataset (other captures),
or one no version of this manifest can read, is refused with the reason and changes nothing.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from ispviewer.dataset.manifest.connection import ManifestBase, ManifestError, utc_now
from ispviewer.dataset.manifest.rows import log_decision
from ispviewer.dataset.records import DecidedBy, Status


class MergeRefused(ManifestError):
    """The other copy cannot be merged into this dataset; nothing was changed."""


@dataclass(frozen=True)
class MergeConflict:
    triplet: str
    x: int
    y: int
    size: int
    local_status: str
    local_annotator: str | None
    other_status: str
    other_annotator: str | None

    def describe(self) -> str:
        return (f"{self.triplet} patch ({self.x}, {self.y}) {self.size} px: here {self.local_status} by "
                f"{self.local_annotator or 'someone'}, there {self.other_status} by "
                f"{self.other_annotator or 'someone'}")


@dataclass
class MergeReport:
    source: str
    taken_over: int = 0  # patches whose decision came from the other copy
    agreed: int = 0  # decided the same way in both; history completed
    events_added: int = 0
    conflicts: list[MergeConflict] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"merged from {self.source}: {self.taken_over} decision(s) taken over, {self.agreed} agreed "
                 f"(history completed), {self.events_added} history event(s) added, "
                 f"{len(self.conflicts)} conflict(s)"]
        if self.conflicts:
            lines.append("conflicts (this copy's decision kept, the other copy's recorded beside it):")
            lines += [f"  {c.describe()}" for c in self.conflicts]
        return "\n".join(lines)


def _event_key(r) -> tuple:
    return (r["at"], r["new_status"], r["reason"] or "", r["annotator"] or "")


class MergeTable(ManifestBase):
    """:meth:`merge_from` another copy of this dataset."""

    def merge_from(self, other_root: str | os.PathLike) -> MergeReport:
        other_path = Path(other_root).resolve()
        if other_path == self.root:
            raise MergeRefused(f"{other_path}: is this dataset itself; nothing to merge")
        try:
            other = type(self).open(other_path, readonly=True)
        except ManifestError as exc:
            raise MergeRefused(f"cannot merge from {other_path}: {exc}") from None
        try:
            self._same_captures(other.captures(), other_path)
            theirs = other.user_decisions()
        finally:
            other.close()
        report = MergeReport(str(other_root))
        with self._write() as db:
            local = _patch_ids(db, {key for key, _, _ in theirs})
            missing = [key for key, _, _ in theirs if key not in local]
            if missing:
                shown = "; ".join(f"{t} ({x}, {y}) {s} px" for t, x, y, s in missing[:3])
                raise MergeRefused(f"cannot merge from {other_path}: it holds decisions on {len(missing)} patch(es) "
                                   f"this dataset does not have (aligned differently?), e.g. {shown}; "
                                   "nothing was changed")
            now = utc_now()
            for key, state, events in theirs:
                self._merge_patch(db, key, local[key], state, events, str(other_root), now, report)
        return report

    def _merge_patch(self, db: sqlite3.Connection, key, patch_id: int, state, events, source: str, now: str,
                     report: MergeReport) -> None:
        here = db.execute("SELECT status, decided_by, reason, annotator FROM patches WHERE id = ?",
                          (patch_id,)).fetchone()
        ours = db.execute("SELECT at, new_status, reason, annotator FROM decisions WHERE patch_id = ? "
                          "AND actor = 'user' ORDER BY id", (patch_id,)).fetchall()
        our_keys = {_event_key(r) for r in ours}
        their_keys = {_event_key(e) for e in events}
        new = [e for e in events if _event_key(e) not in our_keys]
        if not new:
            return
        ours_since = [r for r in ours if _event_key(r) not in their_keys]
        decided_here = here["decided_by"] == DecidedBy.USER.value
        if decided_here and ours_since and here["status"] != state["status"]:
            db.execute("INSERT OR IGNORE INTO merge_conflicts (patch_id, merged_at, source, local_status, "
                       "local_annotator, other_status, other_reason, other_annotator, other_at) "
                       "VALUES (?,?,?,?,?,?,?,?,?)",
                       (patch_id, now, source, here["status"], here["annotator"], state["status"],
                        state["reason"], state["annotator"], events[-1]["at"]))
            report.conflicts.append(MergeConflict(*key, here["status"], here["annotator"], state["status"],
                                                  state["annotator"]))
            return
        current = Status(here["status"])
        for e in new:  # each event starts where this copy's history is now
            log_decision(db, patch_id, e["at"], DecidedBy.USER, current, Status(e["new_status"]), e["reason"],
                         annotator=e["annotator"], queue=e["queue"])
            current = Status(e["new_status"])
        report.events_added += len(new)
        agreed = decided_here and here["status"] == state["status"]
        if agreed and ours and ours[-1]["at"] > events[-1]["at"]:
            report.agreed += 1  # this copy's decision is the later one: it stays as it is
            return
        db.execute("UPDATE patches SET status = ?, decided_by = 'user', reason = ?, annotator = ? WHERE id = ?",
                   (state["status"], state["reason"], state["annotator"], patch_id))
        if agreed:
            report.agreed += 1
        else:
            report.taken_over += 1

    def captures(self) -> set[tuple]:
        """(name, raw, phone, target, width, height) of every triplet: what makes two copies one dataset."""
        return {tuple(r) for r in self._read(
            "SELECT name, raw_path, phone_path, target_path, width, height FROM triplets")}

    def user_decisions(self) -> list[tuple[tuple, sqlite3.Row, list[sqlite3.Row]]]:
        """(patch key, its state, its people's history events) of every patch a person decides now
        (patches handed back to the aligner bring nothing to a merge)."""
        patch_cols = {r["name"] for r in self._read("PRAGMA table_info(patches)")}
        event_cols = {r["name"] for r in self._read("PRAGMA table_info(decisions)")}
        annotator = "p.annotator" if "annotator" in patch_cols else "NULL"
        states = self._read(
            f"SELECT p.id, t.name, p.x, p.y, p.size, p.status, p.reason, {annotator} AS annotator FROM patches p "
            "JOIN triplets t ON t.id = p.triplet_id WHERE p.decided_by = 'user' ORDER BY p.id")
        e_annotator = "d.annotator" if "annotator" in event_cols else "NULL"
        e_queue = "d.queue" if "queue" in event_cols else "NULL"
        events: dict[int, list[sqlite3.Row]] = {}
        for r in self._read(f"SELECT d.patch_id, d.at, d.new_status, d.reason, {e_annotator} AS annotator, "
                            f"{e_queue} AS queue FROM decisions d JOIN patches p ON p.id = d.patch_id "
                            "WHERE d.actor = 'user' AND p.decided_by = 'user' ORDER BY d.id"):
            events.setdefault(r["patch_id"], []).append(r)
        return [((s["name"], s["x"], s["y"], s["size"]), s, events[s["id"]]) for s in states if s["id"] in events]

    def _same_captures(self, theirs: set[tuple], other_path: Path) -> None:
        mine = self.captures()
        if mine == theirs:
            return
        only_there = sorted(r[0] for r in theirs - mine)
        only_here = sorted(r[0] for r in mine - theirs)
        parts = []
        if only_there:
            parts.append(f"captures only there: {', '.join(only_there[:3])}" + (" ..." if len(only_there) > 3 else ""))
        if only_here:
            parts.append(f"captures only here: {', '.join(only_here[:3])}" + (" ..." if len(only_here) > 3 else ""))
        raise MergeRefused(f"cannot merge from {other_path}: not a copy of this dataset ({'; '.join(parts)}; "
                           "captures match by name, files and size); nothing was changed")


def _patch_ids(db: sqlite3.Connection, keys: set[tuple]) -> dict[tuple, int]:
    """This copy's patch id for each (triplet, x, y, size) key it has."""
    triplets = dict(db.execute("SELECT name, id FROM triplets").fetchall())
    out = {}
    for key in keys:
        tid = triplets.get(key[0])
        row = None if tid is None else db.execute(
            "SELECT id FROM patches WHERE triplet_id = ? AND x = ? AND y = ? AND size = ?", (tid, *key[1:])).fetchone()
        if row is not None:
            out[key] = row[0]
    return out
