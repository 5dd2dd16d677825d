"""Read the capture metadata of triplets from their files and store it in the manifest.

Import calls :func:`record_metadata` for each new triplet; ``ispviewer metadata DATASET`` (and
``check --repair``) call :func:`refresh_metadata` for triplets imported before the manifest had
metadata, or for all of them after the files or the illumination bounds changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ispviewer.dataset.capture_metadata import read_capture_metadata
from ispviewer.dataset.manifest import Manifest, ManifestError
from ispviewer.dataset.records import CaptureFiles


@dataclass
class MetadataReport:
    filled: list[str] = field(default_factory=list)
    without_exposure: list[str] = field(default_factory=list)  # read, but EV100 cannot be computed
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"capture metadata read for {len(self.filled)} triplet(s)"
                 + (f", {len(self.without_exposure)} without exposure data (no illumination)"
                    if self.without_exposure else "")]
        lines += [f"  {name}: {why}" for name, why in self.unreadable]
        return "\n".join(lines)


def record_metadata(manifest: Manifest, triplet_id: int, files: CaptureFiles) -> bool:
    """Read and store one triplet's metadata; True when its EV100 (hence illumination) is known."""
    meta = read_capture_metadata(manifest.resolve(files.raw), manifest.resolve(files.phone),
                                 manifest.resolve(files.target), manifest.illumination_bounds)
    manifest.store_capture_metadata(triplet_id, meta)
    return meta.ev100 is not None


def refresh_metadata(manifest: Manifest, *, force: bool = False) -> MetadataReport:
    """Fill the metadata of every triplet that has none yet (all of them with ``force``)."""
    report = MetadataReport()
    for t in manifest.triplets():
        if t.metadata is not None and not force:
            continue
        missing = [rel for rel in (t.files.raw, t.files.phone, t.files.target)
                   if not manifest.resolve(rel).is_file()]
        if missing:
            report.unreadable.append((t.name, f"{manifest.resolve(missing[0])}: file does not exist"))
            continue
        try:
            known = record_metadata(manifest, t.id, t.files)
        except ManifestError as exc:
            report.unreadable.append((t.name, str(exc)))
            continue
        report.filled.append(t.name)
        if not known:
            report.without_exposure.append(t.name)
    return report
