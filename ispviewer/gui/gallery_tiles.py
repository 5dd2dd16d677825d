"""Tiles of the patch gallery: each the phone patch and its matched target patch at 1:1.

Tiles are cut in background threads from the triplet's phone JPEG and aligned target (decoded
once per triplet, a few triplets kept), and kept in a bounded cache of finished tiles.  Each
request bumps a generation: the answers of an older page that are still useful are cached, and
only the current page's arrival is announced.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from ispviewer.dataset.manifest import ManifestError
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


def crop(image: np.ndarray, x: int, y: int, size: int) -> np.ndarray:
    """The ``size`` square at (x, y) of ``image``, black where it leaves the image."""
    out = np.zeros((size, size, 3), np.uint8)
    h, w = image.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + size, w), min(y + size, h)
    if x1 > x0 and y1 > y0:
        out[y0 - y:y1 - y, x0 - x:x1 - x] = image[y0:y1, x0:x1, :3]
    return out


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


def cut_tiles(images: _Images, request, patches: list[PatchRecord]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """(phone crop, target crop) per patch of one triplet (worker thread)."""
    phone, target = images.get(request)
    out = {}
    for p in patches:
        tx, ty = int(round(p.x + p.dx)), int(round(p.y + p.dy))
        out[p.id] = (crop(phone, p.x, p.y, p.size), crop(target, tx, ty, p.size))
    return out


class TileSource(QObject):
    """Finished tiles by patch id; :meth:`request` makes the missing ones in the background."""

    ready = Signal()  # tiles of the current request arrived
    failed = Signal(str)  # a triplet's tiles could not be made (the reason)

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
                request = self._request_for(tid)
            except (ManifestError, ValueError) as exc:
                self.failed.emit(str(exc))
                continue
            self._in_flight.update(p.id for p in group)
            self._offload.submit(cut_tiles, self._images, request, group,
                                 on_done=lambda f, g=group, gen=generation, e=self._epoch: self._done(f, g, gen, e))
        return len(by_triplet)

    def _request_for(self, triplet_id: int):
        record = self._records.get(triplet_id)
        if record is None:
            record = self._records[triplet_id] = self.session.triplet(triplet_id)
        return make_request(record, self.session.resolve)

    def _done(self, future, group: list[PatchRecord], generation: int, epoch: int) -> None:
        if epoch != self._epoch:
            return  # cut for a dataset (or cache) forgotten since: its patch ids mean nothing now
        self._in_flight.difference_update(p.id for p in group)
        if future.cancelled():
            return
        try:
            crops = future.result()
        except Exception as exc:  # noqa: BLE001 - a tile that cannot be made says why, the rest go on
            self.failed.emit(f"{group[0].triplet}: {exc}")
            return
        for pid, (phone, target) in crops.items():
            self._tiles[pid] = Tile(_qimage(phone), _qimage(target))
            self._tiles.move_to_end(pid)
        while len(self._tiles) > TILE_CACHE:
            self._tiles.popitem(last=False)
        if generation == self._generation or self._wanted.intersection(crops):
            self.ready.emit()  # a prefetch that the current page was waiting for counts too

    def shutdown(self) -> None:
        self._offload.shutdown()
