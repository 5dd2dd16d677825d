"""``ispviewer check``, capture part: the orientation guard over a dataset's triplets.

Each triplet's raw, in the phone frame the manifest records, is compared with its phone image
as at import (:mod:`.capture_guard`).  A raw whose scene shows another way up than its phone
image is a problem (the network would learn from mismatched pairs); a capture the guard cannot
verify is a note.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ispviewer.dataset.images import ImageReadError, load_packed_raw, load_rgb
from ispviewer.dataset.manifest import Manifest, ManifestError
from ispviewer.workflows import capture_guard
from ispviewer.workflows.capture_import import GUARD_REDUCE


@dataclass
class CaptureCheckReport:
    problems: list[tuple[str, str]] = field(default_factory=list)  # (triplet, reason)
    notes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        return ([f"{name}: {why}" for name, why in self.problems]
                + [f"note {name}: {why}" for name, why in self.notes])


def check_capture_orientation(dataset: str | os.PathLike, progress=None) -> CaptureCheckReport:
    report = CaptureCheckReport()
    with Manifest.open(dataset, readonly=True) as manifest:
        triplets = manifest.triplets()
        for i, t in enumerate(triplets):
            if progress:
                progress(i, len(triplets), t.name)
            try:
                raw_path, phone_path = manifest.resolve(t.files.raw), manifest.resolve(t.files.phone)
                packed = load_packed_raw(raw_path, t.raw)
                phone = load_rgb(phone_path, reduce=GUARD_REDUCE)
            except (ImageReadError, ManifestError):
                continue  # unreadable files are the file check's problems, reported there
            verdict = capture_guard.guard(packed, phone)
            if verdict.refused:
                report.problems.append((t.name, f"{raw_path}: {verdict.refused}"))
            elif verdict.note:
                report.notes.append((t.name, verdict.note))
    return report
