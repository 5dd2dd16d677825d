"""Import with the capture guard: the dataset importer plus the checks that need alignment.

:class:`GuardedInspector` answers the importer's two questions for each capture — why a phone
image fits none of the raw's frames (measured, :mod:`.raw_relation`) and whether the raw, in its
phone frame, shows the phone image's scene upright (:mod:`.capture_guard`).
"""

from __future__ import annotations

import os

from ispviewer.dataset.images import ImageReadError, load_packed_raw, load_rgb
from ispviewer.dataset.importer import ImportReport, SourceCapture, import_sources
from ispviewer.dataset.records import RawInfo
from ispviewer.workflows import capture_guard, raw_relation

#: phone images are decoded at 1/GUARD_REDUCE for the checks (the JPEG's own DCT scaling)
GUARD_REDUCE = 4


class GuardedInspector:
    def explain_mismatch(self, cap: SourceCapture, frames: list[RawInfo], phone_size: tuple[int, int]) -> str | None:
        try:
            packed = load_packed_raw(cap.raw, frames[0])
            phone = load_rgb(cap.phone, reduce=1)
        except ImageReadError as exc:
            return str(exc)
        return raw_relation.explain(packed, phone)

    def guard(self, cap: SourceCapture, frame: RawInfo) -> tuple[str | None, str | None]:
        packed = load_packed_raw(cap.raw, frame)
        verdict = capture_guard.guard(packed, load_rgb(cap.phone, reduce=GUARD_REDUCE))
        return (f"{cap.raw}: {verdict.refused}" if verdict.refused else None), verdict.note


def import_captures(src: str | os.PathLike, dataset: str | os.PathLike, progress=None) -> ImportReport:
    """``ispviewer import``: every valid capture of ``src`` into ``dataset``, guarded."""
    return import_sources(src, dataset, progress=progress, inspector=GuardedInspector())
