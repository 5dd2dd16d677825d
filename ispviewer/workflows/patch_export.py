"""Training-ready patch export: ZRR folders or webdataset shards, resumable and never half-done.

Layouts (``DIR`` the output folder, ``<split>`` train / val / test, or ``all``):

- ``zrr``: ``DIR/<split>/huawei_raw/<i>.png`` (16-bit RGGB mosaic, 0..1020),
  ``DIR/<split>/canon/<i>.jpg`` (the target patch), ``DIR/<split>/index.jsonl`` (i -> triplet, x, y,
  misalignment, annotator, ...); ``i`` runs 0..N-1 per split;
- ``webdataset``: ``DIR/<split>-NNNNNN.tar`` shards of ``<key>.raw.png``, ``<key>.target.png`` and
  ``<key>.json`` (``--shard-size`` samples each), and ``DIR/<split>-index.jsonl``.

Every file is written under a temporary name and renamed when complete, so a killed export never
leaves a file that looks finished; the index is written last, so a split without it is unfinished.
Each output index has a fingerprint (the patch, its alignment and its source files); a re-run keeps
what matches and redoes or removes the rest.
"""

from __future__ import annotations

import errno
import hashlib
import json
import multiprocessing
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from ispviewer.dataset.atomic import atomic_file
from ispviewer.dataset.bayer_grid import rggb_corner
from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.records import SPLITS, Status, TripletRecord
from ispviewer.workflows.patch_cutting import (
    CutError,
    CutPatch,
    PatchJob,
    PatchWriteError,
    TripletJob,
    cut_triplet,
    write_file,
)

LAYOUTS = ("zrr", "webdataset")
STATE_VERSION = 1


class ExportError(Exception):
    """The export cannot go on (bad arguments, a full disk...); the message names file and reason."""


@dataclass(frozen=True)
class ExportOptions:
    layout: str
    out: Path
    split: str | None = None  # None: every stored split that has triplets; "all": one folder of everything
    status: str = "accepted"
    workers: int = 1
    shard_size: int = 1000
    jpeg_quality: int = 95


@dataclass
class SplitPlan:
    name: str
    jobs: list[tuple[str, TripletJob]]  # (triplet name, job) in index order
    fingerprints: list[str]

    @property
    def count(self) -> int:
        return len(self.fingerprints)


@dataclass
class ExportReport:
    written: dict[str, int] = field(default_factory=dict)  # split -> patches written this run
    reused: dict[str, int] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (triplet, reason)
    incomplete: list[str] = field(default_factory=list)  # splits left without an index

    @property
    def ok(self) -> bool:
        return not self.failed and not self.incomplete


# --------------------------------------------------------------------------- planning


def check_options(opts: ExportOptions) -> None:
    if opts.layout not in LAYOUTS:
        raise ExportError(f"unknown layout {opts.layout!r} (one of {', '.join(LAYOUTS)})")
    if opts.split is not None and opts.split not in (*SPLITS, "all"):
        raise ExportError(f"unknown split {opts.split!r} (train, val, test or all)")
    if opts.status not in {s.value for s in Status}:
        raise ExportError(f"unknown status {opts.status!r} (accepted, rejected or flagged)")
    if opts.workers < 1:
        raise ExportError(f"--workers {opts.workers}: at least 1")
    if opts.shard_size < 1:
        raise ExportError(f"--shard-size {opts.shard_size}: at least 1")
    if not 1 <= opts.jpeg_quality <= 100:
        raise ExportError(f"--jpeg-quality {opts.jpeg_quality}: between 1 and 100")


def _origin(cfa: str) -> tuple[int, int]:
    r = cfa.index("R")
    return -(r // 2), -(r % 2)


def _file_stamp(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return "missing"
    return f"{st.st_size}:{st.st_mtime_ns}"


def plan_export(manifest: Manifest, opts: ExportOptions) -> list[SplitPlan]:
    """What each split folder will hold, index by index."""
    triplets = {t.name: t for t in manifest.triplets() if t.homography is not None}
    if opts.split == "all":
        names = ["all"]
    elif opts.split is not None:
        if not any(t.split == opts.split for t in triplets.values()):
            raise ExportError(f"{manifest.root}: no aligned triplet is in split {opts.split!r} "
                              "(assign splits with `ispviewer split`, or use --split all)")
        names = [opts.split]
    else:
        names = [s for s in SPLITS if any(t.split == s for t in triplets.values())] or ["all"]
    by_triplet: dict[str, list] = {}
    for p in manifest.patches(status=Status(opts.status)):
        if p.triplet in triplets:
            by_triplet.setdefault(p.triplet, []).append(p)
    plans = []
    for split in names:
        members = sorted(n for n, t in triplets.items() if split == "all" or t.split == split)
        jobs, fingerprints = [], []
        for name in members:
            t = triplets[name]
            patch_jobs = []
            for p in sorted(by_triplet.get(name, ()), key=lambda p: (p.y, p.x)):
                corner = rggb_corner(p.x, p.y, p.size, _origin(t.raw.cfa_pattern), (t.raw.width, t.raw.height))
                if corner is None:
                    continue
                index = len(fingerprints)
                record = _record(index, split, t, p, corner)
                patch_jobs.append(PatchJob(index, corner[0], corner[1], p.size, p.dx, p.dy, record))
                fingerprints.append(_fingerprint(manifest, t, record, opts))
            if patch_jobs:
                jobs.append((name, TripletJob(
                    raw=str(manifest.resolve(t.files.raw)), target=str(manifest.resolve(t.files.target)),
                    homography=t.homography, phone_size=(t.raw.width, t.raw.height),
                    origin=_origin(t.raw.cfa_pattern), frame=t.raw, patches=tuple(patch_jobs),
                    target_format="jpg" if opts.layout == "zrr" else "png", jpeg_quality=opts.jpeg_quality)))
        plans.append(SplitPlan(split, jobs, fingerprints))
    return plans


def _record(index: int, split: str, t: TripletRecord, p, corner: tuple[int, int]) -> dict:
    gx, gy = corner
    return {"index": index, "split": split, "triplet": t.name, "x": p.x, "y": p.y, "size": p.size,
            "raw_x": gx, "raw_y": gy, "dx": p.dx, "dy": p.dy, "target_x": gx + p.dx, "target_y": gy + p.dy,
            "misalignment_px": p.misalignment_px, "ncc": p.ncc, "status": p.status.value,
            "decided_by": p.decided_by.value, "annotator": getattr(p, "annotator", None),
            "phone_model": t.phone_model, "cfa_pattern": t.raw.cfa_pattern,
            "illumination": t.metadata.illumination if t.metadata else None,
            "ev100": t.metadata.ev100 if t.metadata else None}


def _fingerprint(manifest: Manifest, t: TripletRecord, record: dict, opts: ExportOptions) -> str:
    data = json.dumps([record, t.homography, t.raw.orientation, t.raw.crop, _file_stamp(manifest.resolve(t.files.raw)),
                       _file_stamp(manifest.resolve(t.files.target)), opts.layout, opts.jpeg_quality],
                      sort_keys=True)
    return hashlib.sha1(data.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- writing


def _write_error(path: Path, exc: OSError) -> ExportError:
    reason = "the disk is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else (exc.strerror or str(exc))
    return ExportError(f"{path}: cannot write ({reason}); files written so far are complete and are kept, "
                       "run the export again to finish")


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    try:
        with atomic_file(path) as fh:
            for row in rows:
                fh.write((json.dumps(row) + "\n").encode())
    except OSError as exc:
        raise _write_error(path, exc) from None


class _Layout:
    """Where a split's files go, which are already done, and how samples are written."""

    def __init__(self, opts: ExportOptions, plan: SplitPlan):
        self.opts, self.plan = opts, plan

    # state: fingerprints of the previous run ---------------------------------
    def load_state(self) -> dict:
        try:
            state = json.loads(self.state_path.read_text())
            return state if state.get("version") == STATE_VERSION else {}
        except (OSError, ValueError, AttributeError):
            return {}

    def save_state(self) -> None:
        try:
            with atomic_file(self.state_path) as fh:
                fh.write(json.dumps({"version": STATE_VERSION, "layout": self.opts.layout,
                                     "shard_size": self.opts.shard_size,
                                     "fingerprints": self.plan.fingerprints}).encode())
        except OSError as exc:
            raise _write_error(self.state_path, exc) from None

    def index_rows(self) -> list[dict]:
        return [p.record for _, job in self.plan.jobs for p in job.patches]


class _ZrrLayout(_Layout):
    def __init__(self, opts, plan):
        super().__init__(opts, plan)
        self.root = opts.out / plan.name
        self.raw_dir, self.target_dir = self.root / "huawei_raw", self.root / "canon"
        self.state_path = self.root / ".export-state.json"
        self.index_path = self.root / "index.jsonl"

    def prepare(self, old: list[str]) -> set[int]:
        """Remove what does not match the plan; the set of indices already done."""
        for d in (self.raw_dir, self.target_dir):
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _write_error(d, exc) from None
        new = self.plan.fingerprints
        present = {}
        for d, ext in ((self.raw_dir, ".png"), (self.target_dir, ".jpg")):
            for f in d.iterdir():
                m = re.fullmatch(r"(\d+)" + re.escape(ext), f.name)
                if m is None:
                    if f.name.startswith(".") and f.name.endswith(".tmp"):
                        _unlink(f)  # left by a killed export
                    continue
                i = int(m.group(1))
                if i < len(new) and i < len(old) and old[i] == new[i]:
                    present[i] = present.get(i, 0) + 1
                else:
                    _unlink(f)
        return {i for i, n in present.items() if n == 2}

    def write(self, cut: CutPatch) -> None:
        if cut.raw_png:  # else the worker wrote the files itself (TripletJob.zrr_root)
            write_file(self.target_dir / f"{cut.index}.jpg", cut.target)
            write_file(self.raw_dir / f"{cut.index}.png", cut.raw_png)

    def finish(self) -> None:
        _write_jsonl(self.index_path, self.index_rows())


class _ShardLayout(_Layout):
    def __init__(self, opts, plan):
        super().__init__(opts, plan)
        self.root = opts.out
        self.state_path = self.root / f".{plan.name}-export-state.json"
        self.index_path = self.root / f"{plan.name}-index.jsonl"
        self.size = opts.shard_size
        self.pending: dict[int, CutPatch] = {}
        self.dead: set[int] = set()

    def shard_path(self, k: int) -> Path:
        return self.root / f"{self.plan.name}-{k:06d}.tar"

    def shards(self) -> int:
        return -(-self.plan.count // self.size)

    def prepare(self, old: list[str], old_size: int | None) -> set[int]:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _write_error(self.root, exc) from None
        new, done = self.plan.fingerprints, set()
        for f in self.root.iterdir():
            m = re.fullmatch(re.escape(self.plan.name) + r"-(\d{6})\.tar", f.name)
            if m is None:
                if f.name.startswith(f".{self.plan.name}-") and f.name.endswith(".tmp"):
                    _unlink(f)
                continue
            k = int(m.group(1))
            lo, hi = k * self.size, min((k + 1) * self.size, len(new))
            old_hi = min((k + 1) * self.size, len(old))  # the samples the file holds
            if old_size == self.size and lo < hi and old_hi == hi and old[lo:hi] == new[lo:hi]:
                done.update(range(lo, hi))
            else:
                _unlink(f)
        return done

    def write(self, cut: CutPatch) -> None:
        self.pending[cut.index] = cut
        self._flush(cut.index // self.size)

    def lost(self, indices: Iterable[int]) -> None:
        """Indices that will never come (their triplet failed): their shards are not written."""
        self.dead.update(indices)
        for k in {i // self.size for i in indices}:
            for i in range(k * self.size, min((k + 1) * self.size, self.plan.count)):
                self.pending.pop(i, None)

    def _flush(self, k: int) -> None:
        lo, hi = k * self.size, min((k + 1) * self.size, self.plan.count)
        if any(i in self.dead for i in range(lo, hi)) or not all(i in self.pending for i in range(lo, hi)):
            return
        import webdataset as wds

        path = self.shard_path(k)
        try:
            with atomic_file(path) as fh, wds.TarWriter(fh, mtime=0) as sink:
                for i in range(lo, hi):
                    cut = self.pending.pop(i)
                    sink.write({"__key__": f"{self.plan.name}_{i:08d}", "raw.png": cut.raw_png,
                                "target.png": cut.target, "json": json.dumps(cut.record).encode()})
        except OSError as exc:
            raise _write_error(path, exc) from None

    def finish(self) -> None:
        _write_jsonl(self.index_path, self.index_rows())


def _layout_for(opts: ExportOptions, plan: SplitPlan) -> _Layout:
    return (_ZrrLayout if opts.layout == "zrr" else _ShardLayout)(opts, plan)


# --------------------------------------------------------------------------- running


class _Progress:
    """Patches done, elapsed time and ETA on stderr: one updating line on a terminal, else a line
    every few seconds (and the last one)."""

    def __init__(self, total: int, stream=sys.stderr, every_s: float = 5.0):
        self.total, self.done, self.start, self.stream = total, 0, time.monotonic(), stream
        self.every_s, self.last = every_s, -every_s

    def step(self, count: int, what: str) -> None:
        self.done += count
        elapsed = time.monotonic() - self.start
        eta = elapsed / max(self.done, 1) * (self.total - self.done)
        line = f"[{self.done}/{self.total} patches] {elapsed:5.1f}s elapsed, ETA {eta:5.1f}s  {what}"
        if self.stream.isatty():
            print("\r" + line.ljust(90), end="" if self.done < self.total else "\n", file=self.stream, flush=True)
        elif elapsed - self.last >= self.every_s or self.done >= self.total:
            self.last = elapsed
            print(line, file=self.stream, flush=True)


def _worker_init() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import cv2

    cv2.setNumThreads(1)


def _run_ordered(jobs: list[TripletJob], workers: int) -> Iterator[tuple[int, list[CutPatch] | str]]:
    """(job number, cut patches or error text) in job order, at most 2 jobs per worker in flight."""
    if workers <= 1 or len(jobs) <= 1:
        for k, job in enumerate(jobs):
            try:
                yield k, cut_triplet(job)
            except CutError as exc:
                yield k, str(exc)
        return
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init,
                               mp_context=multiprocessing.get_context("spawn"))
    try:
        futures, nxt = {}, 0
        for k in range(len(jobs)):
            while nxt < len(jobs) and nxt < k + 2 * workers:
                futures[nxt] = pool.submit(cut_triplet, jobs[nxt])
                nxt += 1
            try:
                yield k, futures.pop(k).result()
            except CutError as exc:
                yield k, str(exc)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def export_patches(dataset: str | os.PathLike, opts: ExportOptions,
                   log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> ExportReport:
    check_options(opts)
    opts = ExportOptions(**{**opts.__dict__, "out": Path(opts.out).resolve()})
    with Manifest.open(dataset, readonly=True) as manifest:
        plans = plan_export(manifest, opts)
    report = ExportReport()
    work = []  # (layout, [(name, job with only the patches to do)], done count)
    for plan in plans:
        layout = _layout_for(opts, plan)
        state = layout.load_state()
        old = list(state.get("fingerprints") or [])
        done = layout.prepare(old, state.get("shard_size")) if isinstance(layout, _ShardLayout) else layout.prepare(old)
        if len(done) < plan.count or not layout.index_path.exists() or old != plan.fingerprints:
            _unlink(layout.index_path)
        layout.save_state()
        todo = []
        for name, job in plan.jobs:
            patches = tuple(p for p in job.patches if p.index not in done)
            if patches:
                zrr_root = str(layout.root) if isinstance(layout, _ZrrLayout) else None
                todo.append((name, TripletJob(**{**job.__dict__, "patches": patches, "zrr_root": zrr_root})))
        report.total[plan.name], report.reused[plan.name], report.written[plan.name] = plan.count, len(done), 0
        work.append((layout, todo))
    progress = _Progress(sum(len(j.patches) for _, todo in work for _, j in todo))
    for layout, todo in work:
        split = layout.plan.name
        try:
            with closing(_run_ordered([job for _, job in todo], opts.workers)) as results:
                failed = _consume(results, todo, layout, report, progress, log)
        except PatchWriteError as exc:
            raise ExportError(str(exc)) from None
        if failed:
            report.incomplete.append(split)
        elif layout.plan.count:
            layout.finish()
    return report


def _consume(results, todo, layout: _Layout, report: ExportReport, progress: _Progress, log) -> bool:
    """Write each triplet's patches as they come; True when a triplet failed."""
    split, failed = layout.plan.name, False
    for k, result in results:
        name, job = todo[k]
        if isinstance(result, str):
            report.failed.append((name, result))
            failed = True
            if isinstance(layout, _ShardLayout):
                layout.lost(p.index for p in job.patches)
            log(f"export-patches: {split}: triplet {name} skipped: {result}")
            continue
        for cut in result:
            layout.write(cut)
        report.written[split] += len(result)
        progress.step(len(result), f"{split} {name}")
    return failed


def summary(report: ExportReport, opts: ExportOptions) -> str:
    lines = []
    for split, total in report.total.items():
        where = opts.out / split if opts.layout == "zrr" else opts.out / f"{split}-*.tar"
        state = " (INCOMPLETE: no index written)" if split in report.incomplete else ""
        lines.append(f"{split}: {total} patch(es), {report.written[split]} written, {report.reused[split]} "
                     f"reused -> {where}{state}")
    if not report.total or not any(report.total.values()):
        lines.append("nothing to export (align the dataset first, or check --status / --split)")
    return "\n".join(lines)

