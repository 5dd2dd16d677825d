"""The gallery tiles' extras: the misalignment heatmap over the phone patch and the tone-normalised
difference of phone and target, made in a background thread and kept in bounded caches.

Heatmaps come from each triplet's heatmap file (a few triplets kept, decoded once), coloured
as the main view colours them (the window state's range and floor) — or, for a triplet without
a usable file, the patch's own misalignment, as the main view then shows it.  Differences are
computed from the tile's own phone and target crops with the main view's difference
(:func:`ispviewer.gui.compare.difference_rgba`: local tone matched, same colour scale).  Nothing
is computed for an option that is off, and a page that is left before its extras arrive only
leaves them in the cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from ispviewer.dataset.manifest import ManifestError
from ispviewer.dataset.records import PatchRecord
from ispviewer.gui.background import Offload
from ispviewer.gui.compare import diff_lut, difference_rgba
from ispviewer.gui.gallery_options import heatmap_patch_rgba, uniform_heatmap_rgba
from ispviewer.gui.sources import Heatmap, load_heatmap_file
from ispviewer.gui.state import WindowState

#: finished extras kept per kind (each ~64 KB at 128 px): about ten pages of 48
EXTRAS_CACHE = 480
#: decoded heatmap files kept
HEATMAP_FILES = 8
#: differences computed (and shown) together
DIFFERENCE_CHUNK = 8


def qimage_rgb(image: QImage) -> np.ndarray:
    """(h, w, 3) uint8 copy of a QImage's pixels (GUI thread)."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, stride = image.width(), image.height(), image.bytesPerLine()
    data = np.frombuffer(image.constBits(), np.uint8, count=stride * h).reshape(h, stride)
    return np.ascontiguousarray(data[:, :3 * w].reshape(h, w, 3))


def to_qimage(array: np.ndarray) -> QImage:
    """RGB or RGBA uint8 -> a QImage owning its pixels."""
    array = np.ascontiguousarray(array)
    h, w, c = array.shape
    fmt = QImage.Format.Format_RGBA8888 if c == 4 else QImage.Format.Format_RGB888
    return QImage(array.data, w, h, c * w, fmt).copy()


class _HeatmapFiles:
    """Decoded heatmap files by path (None: none usable), a few kept; shared by the worker thread."""

    def __init__(self, size: int = HEATMAP_FILES):
        self._lock = threading.Lock()
        self._items: OrderedDict[str, Heatmap | None] = OrderedDict()
        self._size = size

    def get(self, path, phone_size) -> Heatmap | None:
        if path is None:
            return None
        key = str(path)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        try:
            heatmap = load_heatmap_file(path, phone_size)
        except Exception:  # noqa: BLE001 - the main view then shows the patches' values: so does the tile
            heatmap = None
        with self._lock:
            self._items[key] = heatmap
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return heatmap


def colour_heatmaps(files: _HeatmapFiles, path, phone_size, patches: list[PatchRecord],
                    style: tuple[float, float, float]) -> dict[int, np.ndarray]:
    """RGBA heatmap per patch of one triplet (worker thread); ``style``: (vmax, floor, threshold)."""
    heatmap = files.get(path, phone_size)
    out = {}
    for p in patches:
        if heatmap is not None:
            out[p.id] = heatmap_patch_rgba(heatmap.values, heatmap.scale, p.x, p.y, p.size, *style)
        else:
            out[p.id] = uniform_heatmap_rgba(p.misalignment_px, p.size, *style)
    return out


def differences(pairs: dict[int, tuple[np.ndarray, np.ndarray]]) -> dict[int, np.ndarray]:
    """The main view's tone-matched difference (RGB) per (phone, target) crop pair (worker thread)."""
    return {pid: difference_rgba(phone, target)[..., :3] for pid, (phone, target) in pairs.items()}


class TileExtras(QObject):
    """Heatmap and difference images per patch id; :meth:`request` makes the missing ones."""

    ready = Signal()  # extras of the current page arrived

    def __init__(self, state: WindowState, tiles, parent: QObject | None = None):
        super().__init__(parent)
        self.state = state
        self.tiles = tiles  # the TileSource whose crops the differences are made from
        diff_lut()  # the difference colour table is built on the GUI thread, before any worker uses it
        self._offload = Offload("gallery-extras")
        self._files = _HeatmapFiles()
        self._heatmaps: OrderedDict[tuple, QImage] = OrderedDict()
        self._differences: OrderedDict[int, QImage] = OrderedDict()
        self._in_flight: set[tuple] = set()
        self._epoch = 0
        self._page: list[PatchRecord] = []
        self.session = None
        tiles.ready.connect(self._on_tiles)

    def attach(self, session) -> None:
        self.session = session
        self.forget()

    def detach(self) -> None:
        self.session = None
        self.forget()

    def forget(self) -> None:
        self._epoch += 1
        self._heatmaps.clear()
        self._differences.clear()
        self._in_flight.clear()
        self._files = _HeatmapFiles()
        self._page = []

    # ----------------------------------------------------------------- reading

    def heatmap_style(self) -> tuple[float, float, float]:
        o = self.state.overlays
        return o.heatmap_vmax, o.heatmap_floor, o.heatmap_vmax / 2.0  # the main view's threshold mark

    def heatmap(self, patch_id: int) -> QImage | None:
        """The patch's heatmap (RGBA, the current colours), None while it is being made."""
        return _touch(self._heatmaps, (patch_id, self.heatmap_style()))

    def difference(self, patch_id: int) -> QImage | None:
        return _touch(self._differences, patch_id)

    # ----------------------------------------------------------------- requests

    def request(self, patches: list[PatchRecord]) -> None:
        """The page on screen is ``patches``: make the extras its options ask for."""
        self._page = list(patches)
        if self.session is None:
            return
        options = self.state.gallery
        if options.heatmap:
            self._request_heatmaps()
        if options.difference:
            self._request_differences()

    def _request_heatmaps(self) -> None:
        style = self.heatmap_style()
        by_triplet: dict[int, list[PatchRecord]] = {}
        for p in self._page:
            key = (p.id, style)
            if key not in self._heatmaps and ("heatmap",) + key not in self._in_flight:
                by_triplet.setdefault(p.triplet_id, []).append(p)
        for tid, group in by_triplet.items():
            try:
                record = self.session.triplet(tid)
                path = self.session.resolve(record.heatmap) if record.heatmap else None
            except (ManifestError, ValueError):
                path, record = None, None
            size = (record.raw.width, record.raw.height) if record is not None else (0, 0)
            keys = {("heatmap", p.id, style) for p in group}
            self._in_flight |= keys
            self._offload.submit(colour_heatmaps, self._files, path, size, group, style,
                                 on_done=lambda f, k=keys, s=style, e=self._epoch: self._heatmaps_done(f, k, s, e))

    def _heatmaps_done(self, future, keys, style, epoch) -> None:
        if epoch != self._epoch:
            return
        self._in_flight -= keys
        if future.cancelled() or future.exception() is not None:
            return
        for pid, rgba in future.result().items():
            _put(self._heatmaps, (pid, style), to_qimage(rgba))
        self.ready.emit()

    def _request_differences(self) -> None:
        pairs = {}
        for p in self._page:
            tile = self.tiles.tile(p.id)
            if tile is None or p.id in self._differences or ("difference", p.id) in self._in_flight:
                continue
            pairs[p.id] = (qimage_rgb(tile.phone), qimage_rgb(tile.target))
        items = list(pairs.items())
        for start in range(0, len(items), DIFFERENCE_CHUNK):  # shown a few at a time, as they are made
            chunk = dict(items[start:start + DIFFERENCE_CHUNK])
            keys = {("difference", pid) for pid in chunk}
            self._in_flight |= keys
            self._offload.submit(differences, chunk,
                                 on_done=lambda f, k=keys, e=self._epoch: self._differences_done(f, k, e))

    def _differences_done(self, future, keys, epoch) -> None:
        if epoch != self._epoch:
            return
        self._in_flight -= keys
        if future.cancelled() or future.exception() is not None:
            return
        for pid, rgb in future.result().items():
            _put(self._differences, pid, to_qimage(rgb))
        self.ready.emit()

    def _on_tiles(self) -> None:
        """Crops arrived: their differences can be made."""
        if self.session is not None and self.state.gallery.difference:
            self._request_differences()

    def shutdown(self) -> None:
        self._offload.shutdown()


def _touch(cache: OrderedDict, key):
    value = cache.get(key)
    if value is not None:
        cache.move_to_end(key)
    return value


def _put(cache: OrderedDict, key, value) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > EXTRAS_CACHE:
        cache.popitem(last=False)
