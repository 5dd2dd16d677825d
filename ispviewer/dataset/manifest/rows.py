"""Row decoders: SQLite rows to the typed records of :mod:`ispviewer.dataset.records`, and the
one writer of the append-only decision history."""

from __future__ import annotations

import json
import sqlite3

from ispviewer.dataset.records import (
    AlignState,
    CaptureFiles,
    CaptureFormat,
    CaptureInfo,
    DecidedBy,
    DecisionEvent,
    PatchRecord,
    RawInfo,
    Status,
    TripletRecord,
)


def log_decision(db: sqlite3.Connection, patch_id: int, at: str, actor: DecidedBy, old: Status | None,
                 new: Status, reason: str | None, annotator: str | None = None, queue: str | None = None) -> None:
    db.execute("INSERT INTO decisions (patch_id, at, actor, old_status, new_status, reason, annotator, queue) "
               "VALUES (?,?,?,?,?,?,?,?)",
               (patch_id, at, actor.value, old.value if old else None, new.value, reason, annotator, queue))


def triplet_from_row(r: sqlite3.Row) -> TripletRecord:
    counts = {}
    if r["counts"]:
        for item in r["counts"].split(","):
            status, n = item.split(":")
            counts[status] = int(n)
    keys = r.keys()
    crop = json.loads(r["raw_crop"]) if "raw_crop" in keys and r["raw_crop"] else None
    return TripletRecord(
        id=r["id"], name=r["name"],
        files=CaptureFiles(raw=r["raw_path"], phone=r["phone_path"], target=r["target_path"]),
        raw=RawInfo(width=r["width"], height=r["height"], make=r["phone_make"], model=r["phone_model"],
                    cfa_pattern=r["cfa_pattern"], black_level=r["black_level"], white_level=r["white_level"],
                    orientation=int(r["raw_orientation"]) if "raw_orientation" in keys else 1,
                    crop=tuple(int(v) for v in crop) if crop is not None else None),
        capture=capture_from_row(r),
        target_width=r["target_width"], target_height=r["target_height"],
        align_state=AlignState(r["align_state"]), align_error=r["align_error"],
        homography=tuple(tuple(row) for row in json.loads(r["homography"])) if r["homography"] else None,
        heatmap=r["heatmap_path"], mean_misalignment=r["mean_mis"], patch_counts=counts,
        # `in` on a sqlite3.Row looks at its values, so the column checks go through keys():
        # absent columns are those of older schemas opened read-only
        aligned_target=r["aligned_path"] if "aligned_path" in r.keys() else None,  # noqa: SIM118
        metadata=metadata_from_row(r), split=r["split"] if "split" in r.keys() else None)  # noqa: SIM118


_METADATA_COLUMNS = tuple(CaptureInfo.__dataclass_fields__)


def metadata_from_row(r: sqlite3.Row) -> CaptureInfo | None:
    """The stored capture metadata, None until it was read (or before schema 4)."""
    if "metadata_read" not in r.keys() or not r["metadata_read"]:  # noqa: SIM118 - see triplet_from_row
        return None
    return CaptureInfo(**{name: r[name] for name in _METADATA_COLUMNS})


def capture_from_row(r: sqlite3.Row) -> CaptureFormat:
    """The capture's stored formats (schema 3); defaults for an older read-only manifest."""
    if "phone_format" not in r.keys():  # noqa: SIM118 - an sqlite3.Row's `in` looks at values, not names
        return CaptureFormat()
    return CaptureFormat(phone_format=r["phone_format"], phone_orientation=int(r["phone_orientation"]),
                         target_orientation=int(r["target_orientation"]), note=r["capture_note"])


def patch_from_row(r: sqlite3.Row) -> PatchRecord:
    return PatchRecord(
        id=r["id"], triplet_id=r["triplet_id"], triplet=r["triplet"], x=r["x"], y=r["y"], size=r["size"],
        dx=r["dx"], dy=r["dy"], ncc=r["ncc"], misalignment_px=r["misalignment_px"],
        misalignment_p95=r["misalignment_p95"], measurable=bool(r["measurable"]),
        status=Status(r["status"]), decided_by=DecidedBy(r["decided_by"]), reason=r["reason"],
        annotator=r["annotator"] if "annotator" in r.keys() else None)  # noqa: SIM118 - as above; absent before v5


def event_from_row(r: sqlite3.Row) -> DecisionEvent:
    keys = r.keys()
    return DecisionEvent(id=r["id"], patch_id=r["patch_id"], at=r["at"], actor=DecidedBy(r["actor"]),
                         old_status=Status(r["old_status"]) if r["old_status"] else None,
                         new_status=Status(r["new_status"]), reason=r["reason"],
                         annotator=r["annotator"] if "annotator" in keys else None,
                         queue=r["queue"] if "queue" in keys else None)
