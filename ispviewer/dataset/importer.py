"""Import captures from a source folder into a dataset (copies files, registers them in the manifest).

Both source layouts of DESIGN.md §3 are accepted:
  per capture:  SRC/<capture>/raw.<ext>, SRC/<capture>/phone.jpg, SRC/<capture>/target.jpg
  by role:      SRC/raw/<stem>.<ext>,  SRC/phone/<stem>.jpg,  SRC/target/<stem>.jpg
Import is idempotent: captures already in the manifest are skipped, decisions are never touched.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ispviewer.dataset.images import JPEG_EXTENSIONS, RAW_EXTENSIONS, ImageReadError, read_raw_info, verify_jpeg
from ispviewer.dataset.manifest import Manifest, ManifestError
from ispviewer.dataset.records import CaptureFiles

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,127}$")


@dataclass(frozen=True)
class SourceCapture:
    name: str
    raw: Path | None
    phone: Path | None
    target: Path | None


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (capture, "file: reason")

    @property
    def ok(self) -> bool:
        return not self.skipped

    def summary(self) -> str:
        lines = [f"imported {len(self.added)} new capture(s), {len(self.already_present)} already present, "
                 f"{len(self.skipped)} skipped"]
        lines += [f"  skipped {name}: {why}" for name, why in self.skipped]
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
                              _find_one(roles["phone"], stem, JPEG_EXTENSIONS),
                              _find_one(roles["target"], stem, JPEG_EXTENSIONS)) for stem in sorted(stems)]
    captures = []
    for folder in sorted(src.iterdir()):
        if not folder.is_dir():
            continue
        try:
            captures.append(SourceCapture(folder.name, _find_one(folder, "raw", RAW_EXTENSIONS),
                                          _find_one(folder, "phone", JPEG_EXTENSIONS),
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


def import_sources(src: str | os.PathLike, dataset: str | os.PathLike, progress=None) -> ImportReport:
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
                raw_info = read_raw_info(cap.raw)
                phone_size = verify_jpeg(cap.phone)
                target_size = verify_jpeg(cap.target)
            except ImageReadError as exc:
                report.skipped.append((cap.name, str(exc)))
                continue
            if phone_size != (raw_info.width, raw_info.height):
                report.skipped.append((cap.name, f"{cap.phone}: phone JPEG is {phone_size[0]}x{phone_size[1]} "
                                                 f"but the raw is {raw_info.width}x{raw_info.height}"))
                continue
            rel = f"captures/{cap.name}"
            files = CaptureFiles(raw=f"{rel}/raw{cap.raw.suffix.lower()}", phone=f"{rel}/phone.jpg",
                                 target=f"{rel}/target.jpg")
            try:
                for source, relpath in ((cap.raw, files.raw), (cap.phone, files.phone), (cap.target, files.target)):
                    _place(source, manifest.resolve(relpath))
            except (OSError, ManifestError) as exc:
                report.skipped.append((cap.name, f"cannot copy into the dataset ({exc})"))
                continue
            manifest.add_triplet(cap.name, files, raw_info, target_size)
            report.added.append(cap.name)
    return report


def _check_capture(cap: SourceCapture) -> str | None:
    if not _SAFE_NAME.match(cap.name):
        return f"capture name {cap.name!r} is not a plain file name"
    for role, path in (("raw", cap.raw), ("phone JPEG", cap.phone), ("target JPEG", cap.target)):
        if path is None:
            return f"missing {role}"
    return None
