"""Import captures from a source folder into a dataset (copies files, registers them in the manifest).

Both source layouts of DESIGN.md §3 are accepted:
  per capture:  SRC/<capture>/raw.<ext>, SRC/<capture>/phone.jpg, SRC/<capture>/target.jpg
  by role:      SRC/raw/<stem>.<ext>,  SRC/phone/<stem>.jpg,  SRC/target/<stem>.jpg
The phone image may be a JPEG or a HEIC/HEIF (``phone.heic``).  Each capture's phone frame is the
raw's visible area, cropped by its DNG default crop, turned by its orientation — or, when the phone
image shows the whole visible area, uncropped; a phone image matching neither is refused.  An
optional :class:`CaptureInspector` (the workflow layer's orientation guard) measures what the files
alone cannot: why a size does not match, and whether the raw shows the phone image's scene upright.
Import is idempotent: captures already in the manifest are skipped, decisions are never touched.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ispviewer.dataset.images import (
    JPEG_EXTENSIONS,
    PHONE_IMAGE_EXTENSIONS,
    RAW_EXTENSIONS,
    ImageReadError,
    image_orientation,
    is_heif,
    raw_frames,
    verify_image,
    verify_jpeg,
)
from ispviewer.dataset.manifest import Manifest, ManifestError
from ispviewer.dataset.metadata_refresh import record_metadata
from ispviewer.dataset.records import CaptureFiles, CaptureFormat, RawInfo

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,127}$")


@dataclass(frozen=True)
class SourceCapture:
    name: str
    raw: Path | None
    phone: Path | None
    target: Path | None


class CaptureInspector(Protocol):
    """Checks of a capture that need more than reading its files (see ``ispviewer.workflows``)."""

    def explain_mismatch(self, cap: SourceCapture, frames: list[RawInfo], phone_size: tuple[int, int]) -> str | None:
        """A measured reason why the phone image fits none of the raw's frames (None: no better one)."""

    def guard(self, cap: SourceCapture, frame: RawInfo) -> tuple[str | None, str | None]:
        """(refusal, note): refusal names why the capture must not be imported as it is."""


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (capture, "file: reason")
    notes: list[tuple[str, str]] = field(default_factory=list)  # (capture, note) of imported captures

    @property
    def ok(self) -> bool:
        return not self.skipped

    def summary(self) -> str:
        lines = [f"imported {len(self.added)} new capture(s), {len(self.already_present)} already present, "
                 f"{len(self.skipped)} skipped"]
        lines += [f"  skipped {name}: {why}" for name, why in self.skipped]
        lines += [f"  note {name}: {note}" for name, note in self.notes]
        return "\n".join(lines)


def _find_one(folder: Path, stem: str, extensions: frozenset[str]) -> Path | None:
    for child in sorted(folder.iterdir()):
        if child.stem == stem and child.suffix.lower() in extensions:
            return child
    return None


def discover(src: Path) -> list[SourceCapture]:
    """The captures in a source folder, whichever layout it uses."""
    if not src.is_dir():
        raise ManifestError(f"{src}: source folder does not exist or is not a folder")
    try:
        roles = {d.name.lower(): d for d in src.iterdir() if d.is_dir()}
    except OSError as exc:
        raise ManifestError(f"{src}: cannot list folder ({exc.strerror})") from None
    if {"raw", "phone", "target"} <= roles.keys():
        stems: set[str] = set()
        for role in ("raw", "phone", "target"):
            try:
                stems |= {f.stem for f in roles[role].iterdir() if f.is_file()}
            except OSError as exc:
                raise ManifestError(f"{roles[role]}: cannot list folder ({exc.strerror})") from None
        return [SourceCapture(stem, _find_one(roles["raw"], stem, RAW_EXTENSIONS),
                              _find_one(roles["phone"], stem, PHONE_IMAGE_EXTENSIONS),
                              _find_one(roles["target"], stem, JPEG_EXTENSIONS)) for stem in sorted(stems)]
    captures = []
    for folder in sorted(src.iterdir()):
        if not folder.is_dir():
            continue
        try:
            captures.append(SourceCapture(folder.name, _find_one(folder, "raw", RAW_EXTENSIONS),
                                          _find_one(folder, "phone", PHONE_IMAGE_EXTENSIONS),
                                          _find_one(folder, "target", JPEG_EXTENSIONS)))
        except OSError as exc:
            captures.append(SourceCapture(folder.name, None, None, None))
            del exc
    return captures


def _place(src: Path, dst: Path) -> None:
    """Hard-link when possible (same file system, no copy), else copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".part")
    if tmp.exists():
        tmp.unlink()
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def import_sources(src: str | os.PathLike, dataset: str | os.PathLike, progress=None,
                   inspector: CaptureInspector | None = None) -> ImportReport:
    """Copy every valid capture of ``src`` into ``dataset`` and register it; report the rest."""
    src, dataset = Path(src).resolve(), Path(dataset).resolve()
    captures = discover(src)
    report = ImportReport()
    with Manifest.open(dataset, create=True) as manifest:
        known = {t.name for t in manifest.triplets()}
        for i, cap in enumerate(captures):
            if progress:
                progress(i, len(captures), cap.name)
            if cap.name in known:
                report.already_present.append(cap.name)
                continue
            problem = _check_capture(cap)
            if problem:
                report.skipped.append((cap.name, problem))
                continue
            try:
                frames = raw_frames(cap.raw)
                phone_size = verify_image(cap.phone)
                target_size = verify_jpeg(cap.target)
                frame, problem = _phone_frame(cap, frames, phone_size, inspector)
                note = None
                if frame is not None and inspector is not None:
                    problem, note = inspector.guard(cap, frame)
                capture = CaptureFormat(phone_format="heif" if is_heif(cap.phone) else "jpeg",
                                        phone_orientation=image_orientation(cap.phone),
                                        target_orientation=image_orientation(cap.target), note=note)
            except ImageReadError as exc:
                report.skipped.append((cap.name, str(exc)))
                continue
            if problem:
                report.skipped.append((cap.name, problem))
                continue
            rel = f"captures/{cap.name}"
            phone_ext = cap.phone.suffix.lower()
            if capture.phone_format == "heif" and phone_ext not in (".heic", ".heif"):
                phone_ext = ".heic"  # a HEIF named .jpg is stored under its real format's name
            files = CaptureFiles(raw=f"{rel}/raw{cap.raw.suffix.lower()}", phone=f"{rel}/phone{phone_ext}",
                                 target=f"{rel}/target.jpg")
            try:
                for source, relpath in ((cap.raw, files.raw), (cap.phone, files.phone), (cap.target, files.target)):
                    _place(source, manifest.resolve(relpath))
            except (OSError, ManifestError) as exc:
                report.skipped.append((cap.name, f"cannot copy into the dataset ({exc})"))
                continue
            triplet_id, created = manifest.add_triplet(cap.name, files, frame, target_size, capture)
            if created:
                record_metadata(manifest, triplet_id, files)
            report.added.append(cap.name)
            if note:
                report.notes.append((cap.name, note))
    return report


def _phone_frame(cap: SourceCapture, frames: list[RawInfo], phone_size: tuple[int, int],
                 inspector: CaptureInspector | None) -> tuple[RawInfo | None, str | None]:
    """The raw frame the phone image shows, or why there is none."""
    for frame in frames:
        if (frame.width, frame.height) == tuple(phone_size):
            return frame, None
    offered = " or ".join(f"{f.width}x{f.height}" + (" (default crop)" if f.crop else "") for f in frames)
    why = (f"{cap.phone}: phone image is {phone_size[0]}x{phone_size[1]} but the raw is {offered}"
           + (f" (orientation {frames[0].orientation} applied)" if frames[0].orientation != 1 else ""))
    if inspector is not None:
        measured = inspector.explain_mismatch(cap, frames, phone_size)
        if measured:
            why = f"{why}: {measured}"
    return None, why


def _check_capture(cap: SourceCapture) -> str | None:
    if not _SAFE_NAME.match(cap.name):
        return f"capture name {cap.name!r} is not a plain file name"
    for role, path in (("raw", cap.raw), ("phone image", cap.phone), ("target JPEG", cap.target)):
        if path is None:
            return f"missing {role}"
    return None
