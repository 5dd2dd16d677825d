"""`ispviewer check`: is a dataset whole?  The manifest, the files it references, the aligner's output.

What is checked, per dataset:
  * the manifest: SQLite's ``integrity_check``;
  * each triplet's capture files: inside the root, present, readable, and their headers agree with
    the manifest (raw and phone JPEG the size of the phone frame, target the recorded size).
    Headers only by default; ``deep`` decodes every image fully;
  * each aligned triplet: a homography, a heatmap that loads and covers the phone frame, and the
    aligned target (display cache) when the manifest names one;
  * each patch: inside the phone frame, and its decision history consistent with its status (the
    history ends in the current status, each event starts where the previous one ended, a person's
    decision has a person's event);
  * each aligned triplet's patch-tile cache (the gallery's), when there is one: a damaged one is
    a note (the gallery cuts tiles from the images instead); a missing one is normal;
  * leftovers of interrupted writes (``*.tmp``, ``*.part``) and orphans — heatmaps, aligned
    targets and patch-tile caches that no triplet references (written by an alignment killed
    before its result was stored, see :mod:`ispviewer.dataset.alignment_files`) — notes, not problems.

Checking needs only the dataset's own files.  Repairing re-aligns, so it is a workflow above the
aligner: :func:`ispviewer.workflows.repair.repair_dataset`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ispviewer.dataset.alignment_files import KINDS, owner_of, patch_tiles_relpath, with_patch_tiles
from ispviewer.dataset.heatmap_file import HeatmapError, load_heatmap
from ispviewer.dataset.images import (
    ImageReadError,
    load_packed_raw,
    load_rgb,
    orientation_of,
    verify_image,
    verify_jpeg,
)
from ispviewer.dataset.manifest import MANIFEST_NAME, Manifest, ManifestError
from ispviewer.dataset.orientation import NAMES, oriented_size
from ispviewer.dataset.patch_tiles import PatchTilesError, TileSpec, read_index, read_patch_tiles
from ispviewer.dataset.records import AlignState, DecidedBy, PatchRecord, TripletRecord

#: Temporary files of interrupted writes; --repair removes those older than this (seconds).
LEFTOVER_MIN_AGE_S = 60.0
LEFTOVER_SUFFIXES = (".tmp", ".part")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the dataset: which file, why, and whether ``--repair`` can fix it."""

    path: str  # relative to the dataset root when inside it
    reason: str
    triplet: str | None = None
    repairable: bool = False

    def __str__(self) -> str:
        where = f" [triplet {self.triplet}]" if self.triplet else ""
        fix = " (repairable: --repair re-aligns it)" if self.repairable else ""
        return f"{self.path}: {self.reason}{where}{fix}"


@dataclass
class CheckReport:
    root: Path
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    triplets: int = 0
    patches: int = 0
    leftovers: list[Path] = field(default_factory=list)
    orphans: list[Path] = field(default_factory=list)  # aligner files no triplet references
    without_metadata: list[str] = field(default_factory=list)  # triplets whose capture metadata was never read
    damaged_tile_caches: list[str] = field(default_factory=list)  # triplets whose patch-tile cache is unreadable

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, path: str | Path, reason: str, triplet: str | None = None, repairable: bool = False) -> None:
        self.problems.append(Problem(rel_path(self.root, path), reason, triplet, repairable))

    def summary(self) -> str:
        lines = [f"problem: {p}" for p in self.problems] + [f"note: {n}" for n in self.notes]
        verdict = "no problems" if self.ok else f"{len(self.problems)} problem(s)"
        lines.append(f"checked {self.root}: {self.triplets} triplet(s), {self.patches} patch(es): {verdict}")
        return "\n".join(lines)


def rel_path(root: Path, path: str | Path) -> str:
    """``path`` relative to the dataset ``root`` (POSIX) when inside it, else as given."""
    p = Path(path)
    try:
        return p.relative_to(root).as_posix() if p.is_absolute() else p.as_posix()
    except ValueError:
        return str(p)


# --------------------------------------------------------------------------- checking


def check_dataset(root: str | os.PathLike, *, deep: bool = False,
                  progress: Callable[[int, int, str], None] | None = None) -> CheckReport:
    """Check a dataset without changing it (the manifest is opened read-only)."""
    root = Path(root).resolve()
    report = CheckReport(root)
    try:
        manifest = Manifest.open(root, readonly=True)
    except ManifestError as exc:
        report.add(root / MANIFEST_NAME, f"cannot be opened: {exc}")
        return report
    triplets: list[TripletRecord] = []
    read_whole = False
    with manifest:
        try:
            _check_database(manifest, report)
            triplets = manifest.triplets()
            report.triplets = len(triplets)
            for i, t in enumerate(triplets):
                if progress:
                    progress(i, len(triplets), t.name)
                _check_captures(manifest, t, report, deep)
                _check_alignment(manifest, t, report, deep)
                _check_patches(manifest, t, report)
            read_whole = True
        except (ManifestError, sqlite3.DatabaseError, ValueError, KeyError) as exc:  # damaged: fails mid-read
            report.add(root / MANIFEST_NAME, f"could not be read completely: {exc}")
        report.without_metadata = [t.name for t in triplets if t.metadata is None]
        if report.without_metadata:
            report.notes.append(f"{len(report.without_metadata)} triplet(s) without capture metadata (imported "
                                f"before it was read): --repair or `ispviewer metadata {root}` reads it")
        pending = [t.name for t in triplets if t.align_state == AlignState.PENDING]
        if pending:
            report.notes.append(f"{len(pending)} triplet(s) not aligned yet (ispviewer align {root})")
    _find_leftovers(report)
    if read_whole:  # orphans only when every reference is known
        _find_orphans(report, triplets)
    return report


def _check_database(manifest: Manifest, report: CheckReport) -> None:
    path = manifest.root / MANIFEST_NAME
    for message in manifest.integrity_errors()[:20]:
        report.add(path, f"SQLite integrity check: {message}")


def _resolve(manifest: Manifest, rel: str | None, what: str, t: TripletRecord, report: CheckReport,
             repairable: bool = False) -> Path | None:
    if rel is None:
        return None
    try:
        return manifest.resolve(rel)
    except ManifestError as exc:
        report.add(str(rel), f"{what}: {exc}", t.name, repairable)
        return None


def _file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file, or None."""
    if not path.exists():
        return "file does not exist"
    if not path.is_file():
        return "is not a regular file"
    if path.stat().st_size == 0:
        return "file is empty (0 bytes)"
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        return f"file is not readable ({exc.strerror})"
    return None


def _raw_header_frame(path: Path, t: TripletRecord) -> tuple[tuple[int, int], int]:
    """The phone-frame (width, height) the raw's header gives under the manifest's crop and
    orientation, and the orientation the file itself is tagged with (LibRaw, no unpacking)."""
    import rawpy

    try:
        with rawpy.imread(str(path)) as raw:
            size, tagged = (int(raw.sizes.width), int(raw.sizes.height)), orientation_of(raw)
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        raise ImageReadError(path, f"not a raw LibRaw can read ({type(exc).__name__})") from None
    if t.raw.crop is not None:
        x, y, w, h = t.raw.crop
        if x + w > size[0] or y + h > size[1]:
            raise ImageReadError(path, f"the manifest's crop {t.raw.crop} lies outside the raw's "
                                       f"{size[0]}x{size[1]} visible area")
        size = (w, h)
    return oriented_size(size, t.raw.orientation), tagged


def _check_captures(manifest: Manifest, t: TripletRecord, report: CheckReport, deep: bool) -> None:
    phone_frame = (t.raw.width, t.raw.height)
    expected = {"raw": phone_frame, "phone": phone_frame, "target": (t.target_width, t.target_height)}
    for role in ("raw", "phone", "target"):
        path = _resolve(manifest, getattr(t.files, role), f"{role} file", t, report)
        if path is None:
            continue
        problem = _file_problem(path)
        if problem:
            report.add(path, problem, t.name)
            continue
        try:
            if role == "raw":
                size, tagged = _raw_header_frame(path, t)
                if tagged != t.raw.orientation:
                    report.add(path, f"raw is tagged orientation {tagged} ({NAMES[tagged]}) but the dataset reads it "
                                     f"with orientation {t.raw.orientation}: the network input and the phone image "
                                     "show the scene different ways up (imported before orientation tags were "
                                     "read?); re-import the capture", t.name)
                if deep:
                    load_packed_raw(path, t.raw)
            else:
                size = verify_image(path)  # header, pixel limit, end-of-image marker (JPEG or HEIF)
                if deep:
                    load_rgb(path, reduce=8 if role == "target" else 1)
        except ImageReadError as exc:
            report.add(path, exc.reason, t.name)
            continue
        if size != expected[role]:
            report.add(path, f"is {size[0]}x{size[1]}, the manifest says {expected[role][0]}x{expected[role][1]}",
                       t.name)


def _check_alignment(manifest: Manifest, t: TripletRecord, report: CheckReport, deep: bool) -> None:
    if t.align_state != AlignState.ALIGNED:
        return
    if t.homography is None:
        report.add(MANIFEST_NAME, "aligned triplet without a homography", t.name, repairable=True)
    if t.heatmap is None:
        report.add(f"heatmaps/{t.name}.npz", "aligned triplet has no heatmap", t.name, repairable=True)
    else:
        path = _resolve(manifest, t.heatmap, "heatmap", t, report, repairable=True)
        if path is not None:
            problem = _heatmap_problem(path, (t.raw.width, t.raw.height))
            if problem:
                report.add(path, problem, t.name, repairable=True)
    cache = getattr(t, "aligned_target", None)  # the aligner's display cache (schema 2 and later)
    path = _resolve(manifest, cache, "aligned target", t, report, repairable=True)
    if path is not None:
        problem = _aligned_problem(path, (t.raw.width, t.raw.height), deep)
        if problem:
            report.add(path, problem, t.name, repairable=True)
    _check_tile_cache(manifest, t, report, deep)


def _check_tile_cache(manifest: Manifest, t: TripletRecord, report: CheckReport, deep: bool) -> None:
    """A damaged patch-tile cache is a note: it only costs the gallery speed (a missing one, nothing).
    The index is checked against the file's length; ``deep`` also decodes every tile (checksums)."""
    rel = patch_tiles_relpath(t.heatmap, getattr(t, "aligned_target", None))
    try:
        path = manifest.resolve(rel) if rel else None
    except ManifestError:
        return
    if path is None or not path.is_file():
        return
    try:
        index = read_index(path)
        if deep:
            read_patch_tiles(path, [TileSpec(*(int(v) for v in tuple(e)[:5])) for e in index])
    except PatchTilesError as exc:
        report.damaged_tile_caches.append(t.name)
        report.notes.append(f"{rel}: {exc.reason} [triplet {t.name}]: the gallery cuts this triplet's tiles "
                            "from the images instead (--repair rebuilds it from the stored alignment)")


def _heatmap_problem(path: Path, phone_size: tuple[int, int]) -> str | None:
    try:
        heatmap, scale = load_heatmap(path)
    except HeatmapError as exc:
        return exc.reason
    w, h = phone_size
    expected = (max(1, round(h * scale)), max(1, round(w * scale)))
    if any(abs(a - b) > 1 for a, b in zip(heatmap.shape, expected)):
        return (f"heatmap is {heatmap.shape[1]}x{heatmap.shape[0]} at scale {scale:g}, which does not "
                f"cover the {w}x{h} phone frame")
    return None


def _aligned_problem(path: Path, phone_size: tuple[int, int], deep: bool) -> str | None:
    problem = _file_problem(path)
    if problem:
        return problem
    try:
        size = verify_jpeg(path)
        if deep:
            load_rgb(path)
    except ImageReadError as exc:
        return exc.reason
    if size != phone_size:
        return f"aligned target is {size[0]}x{size[1]}, not the phone frame's {phone_size[0]}x{phone_size[1]}"
    return None


def _check_patches(manifest: Manifest, t: TripletRecord, report: CheckReport) -> None:
    patches = manifest.patches(t.id)
    report.patches += len(patches)
    for p in patches:
        where = f"{MANIFEST_NAME} (patch {p.id} at {p.x},{p.y})"
        if p.size <= 0 or p.x < 0 or p.y < 0 or p.x + p.size > t.raw.width or p.y + p.size > t.raw.height:
            report.add(where, f"patch of {p.size} px lies outside the {t.raw.width}x{t.raw.height} phone frame",
                       t.name)
        problem = history_problem(p, manifest.history(p.id))
        if problem:
            report.add(where, problem, t.name)


def history_problem(patch: PatchRecord, history) -> str | None:
    """Why a patch's decision history disagrees with its current status, or None."""
    if not history:
        return "has no decision history"
    if history[0].old_status is not None:
        return f"history starts from {history[0].old_status.value}, not from nothing"
    for before, event in zip(history, history[1:]):
        if event.old_status != before.new_status:
            return (f"history event {event.id} changes {event.old_status.value if event.old_status else 'nothing'}"
                    f" but the previous event left {before.new_status.value}")
    if history[-1].new_status != patch.status:
        return f"status is {patch.status.value} but the last decision in its history is {history[-1].new_status.value}"
    if patch.decided_by == DecidedBy.USER and not any(e.actor == DecidedBy.USER for e in history):
        return "decided by a person, but no person's decision is in its history"
    return None


def _find_leftovers(report: CheckReport) -> None:
    folders = [report.root / folder for folder in KINDS] + [report.root / "captures"]
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            if path.suffix in LEFTOVER_SUFFIXES and path.is_file() and not path.is_symlink():
                report.leftovers.append(path)
    if report.leftovers:
        names = ", ".join(rel_path(report.root, p) for p in report.leftovers[:5])
        more = f" and {len(report.leftovers) - 5} more" if len(report.leftovers) > 5 else ""
        report.notes.append(f"{len(report.leftovers)} leftover temporary file(s) of interrupted writes: "
                            f"{names}{more} (--repair removes them)")


def referenced_files(triplets: list[TripletRecord]) -> set[str]:
    """The heatmaps and aligned targets the triplets' rows name and the patch-tile caches their
    names imply (relative paths)."""
    return {rel for t in triplets for rel in with_patch_tiles((t.heatmap, getattr(t, "aligned_target", None)))}


def orphan_files(root: Path, triplets: list[TripletRecord]) -> list[Path]:
    """Files in heatmaps/, aligned/ and tiles/ named by the aligner's scheme for one of ``triplets`` that
    no triplet references."""
    names, referenced = {t.name for t in triplets}, referenced_files(triplets)
    found = []
    for folder in KINDS:
        if not (root / folder).is_dir() or (root / folder).is_symlink():
            continue
        for path in sorted((root / folder).iterdir()):
            rel = f"{folder}/{path.name}"
            if (rel not in referenced and owner_of(rel, names) is not None and path.is_file()
                    and not path.is_symlink()):
                found.append(path)
    return found


def _find_orphans(report: CheckReport, triplets: list[TripletRecord]) -> None:
    report.orphans = orphan_files(report.root, triplets)
    if report.orphans:
        names = ", ".join(rel_path(report.root, p) for p in report.orphans[:5])
        more = f" and {len(report.orphans) - 5} more" if len(report.orphans) > 5 else ""
        report.notes.append(f"{len(report.orphans)} orphan file(s) no triplet references (an alignment "
                            f"stopped before storing its result): {names}{more} (--repair removes them)")
