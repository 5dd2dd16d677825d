"""Tiles of the patch gallery: each the phone patch and its matched target patch at 1:1.

Tiles are read in background threads from the triplet's patch-tile cache, which the aligner
writes (:mod:`ispviewer.dataset.patch_tiles`: a few kilobytes per tile).  Patches the cache does
not hold — datasets aligned before it, a damaged cache (said once per file) — are cut from the
triplet's phone JPEG and aligned target instead (decoded once per triplet, a few triplets kept).
Finished tiles are kept in a bounded cache.  Each request bumps a generation: the answers of an
older page that are still useful are cached, and only the current page's arrival is announced.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from ispviewer.dataset.alignment_files import patch_tiles_relpath
from ispviewer.dataset.manifest import ManifestError
from ispviewer.dataset.patch_tiles import PatchTilesError, crop, read_patch_tiles, spec_of
from ispviewer.dataset.records import PatchRecord
from ispviewer.gui.background import Offload
from ispviewer.gui.sources import load_aligned_target, load_phone, make_request

#: finished tiles kept (each ~100 KB at 128 px): about ten pages of 48
TILE_CACHE = 480
#: decoded triplets kept by the workers (phone + aligned target)
IMAGE_CACHE = 4


@dataclass(frozen=True)
class Tile:
    phone: QImage
    target: QImage


def _qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class _Images:
    """Decoded (phone, aligned target) per triplet, a few kept; shared by the worker threads."""

    def __init__(self, size: int = IMAGE_CACHE):
        self._lock = threading.Lock()
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._size = size

    def get(self, request) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            if request.triplet_id in self._cache:
                self._cache.move_to_end(request.triplet_id)
                return self._cache[request.triplet_id]
        pair = (load_phone(request), load_aligned_target(request))
        with self._lock:
            self._cache[request.triplet_id] = pair
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return pair


@dataclass(frozen=True)
class TileJob:
    """One triplet's tiles to make: its load request and where its patch-tile cache would be (None: no name)."""

    request: object  # LoadRequest
    cache: Path | None


@dataclass
class TileAnswer:
    """(phone crop, target crop) per patch id, and why the patch-tile cache was not used (or None)."""

    crops: dict[int, tuple[np.ndarray, np.ndarray]]
    cache_problem: PatchTilesError | None = None


def cut_tiles(images: _Images, job: TileJob, patches: list[PatchRecord]) -> TileAnswer:
    """(phone crop, target crop) per patch of one triplet (worker thread): from the patch-tile
    cache where it holds them, else cut from the full images."""
    answer = TileAnswer({})
    specs = {p.id: spec_of(p) for p in patches}
    if job.cache is not None and job.cache.is_file():  # none: aligned before the cache existed
        try:
            cached = read_patch_tiles(job.cache, specs.values())
        except PatchTilesError as exc:
            answer.cache_problem, cached = exc, {}
        for p in patches:
            pair = cached.get(specs[p.id].key)
            if pair is not None:
                answer.crops[p.id] = pair
    rest = [p for p in patches if p.id not in answer.crops]
    if rest:
        phone, target = images.get(job.request)
        for p in rest:
            s = specs[p.id]
            answer.crops[p.id] = (crop(phone, s.x, s.y, s.size), crop(target, s.tx, s.ty, s.size))
    return answer


class TileSource(QObject):
    """Finished tiles by patch id; :meth:`request` makes the missing ones in the background."""

    ready = Signal()  # tiles of the current request arrived
    failed = Signal(str)  # a triplet's tiles could not be made (the reason)
    notice = Signal(str)  # something the user should know once (a damaged patch-tile cache)

    def __init__(self, workers: int = 2, parent: QObject | None = None):
        super().__init__(parent)
        self._offload = Offload("gallery", workers=workers)
        self._images = _Images()
        self._tiles: OrderedDict[int, Tile] = OrderedDict()
        self._generation = 0
        self._epoch = 0  # bumped when the cached tiles are forgotten: older answers are dropped
        self._in_flight: set[int] = set()
        self._wanted: set[int] = set()  # the current page's patches
        self._records: dict[int, object] = {}  # triplet id -> TripletRecord, for load requests
        self._reported: set[str] = set()  # damaged patch-tile caches already said
        self.session = None

    def attach(self, session) -> None:
        self.session = session
        self.forget()

    def detach(self) -> None:
        """The dataset closes: nothing of it is kept."""
        self.session = None
        self.forget()

    def forget(self) -> None:
        self._tiles.clear()
        self._records.clear()
        self._reported.clear()
        self._images = _Images()
        self._generation += 1
        self._epoch += 1
        self._in_flight.clear()

    def tile(self, patch_id: int) -> Tile | None:
        tile = self._tiles.get(patch_id)
        if tile is not None:
            self._tiles.move_to_end(patch_id)
        return tile

    def missing(self, patches: list[PatchRecord]) -> list[PatchRecord]:
        return [p for p in patches if p.id not in self._tiles]

    def request(self, patches: list[PatchRecord], current: bool = True) -> int:
        """Make the tiles of ``patches`` not cached yet; ``current``: they are the page on screen
        (a prefetch of the next page is not).  Returns how many triplets were asked for."""
        if self.session is None:
            return 0
        if current:
            self._generation += 1
            self._wanted = {p.id for p in patches}
        generation = self._generation
        by_triplet: dict[int, list[PatchRecord]] = {}
        for p in self.missing(patches):
            if p.id not in self._in_flight:
                by_triplet.setdefault(p.triplet_id, []).append(p)
        for tid, group in by_triplet.items():
            try:
                job = self._job_for(tid)
            except (ManifestError, ValueError) as exc:
                self.failed.emit(str(exc))
                continue
            self._in_flight.update(p.id for p in group)
            self._offload.submit(cut_tiles, self._images, job, group,
                                 on_done=lambda f, g=group, gen=generation, e=self._epoch: self._done(f, g, gen, e))
        return len(by_triplet)

    def _job_for(self, triplet_id: int) -> TileJob:
        record = self._records.get(triplet_id)
        if record is None:
            record = self._records[triplet_id] = self.session.triplet(triplet_id)
        rel = patch_tiles_relpath(record.heatmap, getattr(record, "aligned_target", None))
        try:
            cache = self.session.resolve(rel) if rel else None
        except (ManifestError, ValueError):
            cache = None  # a name outside the dataset: not read
        return TileJob(make_request(record, self.session.resolve), cache)

    def _done(self, future, group: list[PatchRecord], generation: int, epoch: int) -> None:
        if epoch != self._epoch:
            return  # cut for a dataset (or cache) forgotten since: its patch ids mean nothing now
        self._in_flight.difference_update(p.id for p in group)
        if future.cancelled():
            return
        try:
            answer = future.result()
        except Exception as exc:  # noqa: BLE001 - a tile that cannot be made says why, the rest go on
            self.failed.emit(f"{group[0].triplet}: {exc}")
            return
        problem = answer.cache_problem
        if problem is not None and problem.path not in self._reported:
            self._reported.add(problem.path)
            self.notice.emit(f"{problem} — tiles are cut from the full images instead "
                             "(slower; ispviewer check --repair rebuilds the cache)")
        crops = answer.crops
        for pid, (phone, target) in crops.items():
            self._tiles[pid] = Tile(_qimage(phone), _qimage(target))
            self._tiles.move_to_end(pid)
        while len(self._tiles) > TILE_CACHE:
            self._tiles.popitem(last=False)
        if generation == self._generation or self._wanted.intersection(crops):
            self.ready.emit()  # a prefetch that the current page was waiting for counts too

    def shutdown(self) -> None:
        self._offload.shutdown()
