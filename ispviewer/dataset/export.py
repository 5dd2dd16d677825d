"""Export the manifest as JSON Lines or CSV (the contract of DESIGN.md §3); Parquet in
:mod:`ispviewer.dataset.parquet_export`."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import IO

from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.records import PatchRecord, Status

PATCH_FIELDS = ("triplet", "x", "y", "size", "dx", "dy", "ncc", "misalignment_px", "misalignment_p95",
                "measurable", "status", "decided_by", "reason", "annotator")
TRIPLET_FIELDS = ("triplet", "phone_model", "width", "height", "target_width", "target_height",
                  "cfa_pattern", "black_level", "white_level", "align_state", "align_error", "homography",
                  "split", "illumination", "ev100", "exposure_time", "iso", "f_number", "focal_length",
                  "captured_at", "target_exposure_time", "target_iso", "target_f_number", "target_captured_at",
                  "capture_gap_s", "tags", "raw_orientation", "raw_crop", "phone_format", "capture_note")
_CAPTURE_FIELDS = ("illumination", "ev100", "exposure_time", "iso", "f_number", "focal_length", "captured_at",
                   "target_exposure_time", "target_iso", "target_f_number", "target_captured_at", "capture_gap_s")


def patch_rows(manifest: Manifest, status: Status | None = None) -> Iterable[dict]:
    for p in manifest.patches(status=status):
        yield patch_record(p)


def patch_record(p: PatchRecord) -> dict:
    """One patch as the export writes it (``annotator``: the person whose decision it is, None for auto)."""
    return {"triplet": p.triplet, "x": p.x, "y": p.y, "size": p.size, "dx": p.dx, "dy": p.dy,
            "ncc": p.ncc, "misalignment_px": p.misalignment_px, "misalignment_p95": p.misalignment_p95,
            "measurable": p.measurable, "status": p.status.value, "decided_by": p.decided_by.value,
            "reason": p.reason, "annotator": p.annotator}


def triplet_rows(manifest: Manifest) -> Iterable[dict]:
    tags = manifest.tags()
    for t in manifest.triplets():
        capture = {k: getattr(t.metadata, k) if t.metadata else None for k in _CAPTURE_FIELDS}
        yield {"triplet": t.name, "phone_model": t.phone_model, "width": t.raw.width, "height": t.raw.height,
               "target_width": t.target_width, "target_height": t.target_height,
               "cfa_pattern": t.raw.cfa_pattern, "black_level": t.raw.black_level,
               "white_level": t.raw.white_level, "align_state": t.align_state.value,
               "align_error": t.align_error,
               "homography": [list(r) for r in t.homography] if t.homography else None,
               "split": t.split, **capture, "tags": list(tags.get(t.name, ())),
               # how the raw becomes the phone frame: crop (x, y, w, h) of LibRaw's visible area, then EXIF turn
               "raw_orientation": t.raw.orientation, "raw_crop": list(t.raw.crop) if t.raw.crop else None,
               "phone_format": t.capture.phone_format, "capture_note": t.capture.note}


def write_records(rows: Iterable[dict], fields: tuple[str, ...], fmt: str, out: IO[str]) -> int:
    count = 0
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row) + "\n")
            count += 1
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (_csv_list(k, v) if isinstance(v, list) else ("" if v is None else v))
                             for k, v in row.items()})
            count += 1
    else:
        raise ValueError(f"unknown export format {fmt!r} (jsonl or csv)")
    return count


def _csv_list(key: str, value: list) -> str:
    """Tags as one ';'-separated cell (tags cannot contain ';'), other lists as JSON."""
    return ";".join(value) if key == "tags" else json.dumps(value)
