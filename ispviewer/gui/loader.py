"""Background loading of triplets, with prefetch of the next one.

A request is frozen on the GUI thread, decoded and reduced to pyramids in a worker pool, and the
answer is applied on the GUI thread.  Each :meth:`TripletLoader.request` bumps a generation
counter: a result whose generation is not the latest is kept in the cache but never shown.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QObject, Signal

from ispviewer.dataset.images import ImageReadError
from ispviewer.gui.overlays import heatmap_lut, heatmap_rgba
from ispviewer.gui.pyramid import Pyramid, build_pyramid
from ispviewer.gui.sources import (
    PHONE, TARGET, Heatmap, LoadRequest, load_aligned_target, load_heatmap_file, load_phone,
)


@dataclass
class LoadedTriplet:
    """A triplet ready to show: pyramids per pane, heatmap, and an error message per failed part."""

    name: str
    request: LoadRequest
    pyramids: dict[str, Pyramid] = field(default_factory=dict)
    heatmap: Heatmap | None = None
    errors: dict[str, str] = field(default_factory=dict)  # pane (or "heatmap") -> message
    warnings: list[str] = field(default_factory=list)
    heatmap_rgba: np.ndarray | None = None  # the heatmap coloured for ``heatmap_vmax``
    heatmap_vmax: float | None = None
    preview: bool = False  # decoded at reduced size; the full-resolution result follows


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ImageReadError):
        return f"{exc.path}: {exc.reason}"
    if isinstance(exc, ValueError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


#: A cold open first shows the triplet decoded at 1/PREVIEW_REDUCE size (JPEG DCT scaling: fast).
PREVIEW_REDUCE = 4


def load_triplet(request: LoadRequest, parts: ThreadPoolExecutor | None = None,
                 reduce: int = 1) -> LoadedTriplet:
    """Decode the phone JPEG and the aligned target (in parallel when ``parts`` is given).

    ``reduce`` > 1 makes a quick preview: both decoded at 1/reduce size, standing for the full frame.
    """
    result = LoadedTriplet(request.name, request, preview=reduce > 1)
    frame = request.phone_size if reduce > 1 else None

    def phone_part():
        return build_pyramid(load_phone(request, reduce), frame_size=frame)

    def target_part():
        return build_pyramid(load_aligned_target(request, reduce), frame_size=frame)

    phone_future = parts.submit(phone_part) if parts is not None else None
    jobs = [(TARGET, target_part)] + ([] if phone_future else [(PHONE, phone_part)])
    for key, job in jobs:
        try:
            result.pyramids[key] = job()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message in the pane
            result.errors[key] = _describe(exc)
    if phone_future is not None:
        try:
            result.pyramids[PHONE] = phone_future.result()
        except Exception as exc:  # noqa: BLE001
            result.errors[PHONE] = _describe(exc)
    if PHONE in result.pyramids and reduce == 1:
        size = (result.pyramids[PHONE].width, result.pyramids[PHONE].height)
        if size != request.phone_size:
            result.warnings.append(f"{request.phone_path}: phone JPEG is {size[0]}x{size[1]} but the raw is "
                                   f"{request.phone_size[0]}x{request.phone_size[1]}; showing it anyway")
    if request.heatmap_path is not None:
        try:
            result.heatmap = load_heatmap_file(request.heatmap_path, request.phone_size)
            result.heatmap_rgba = heatmap_rgba(result.heatmap.values, request.heatmap_vmax)
            result.heatmap_vmax = request.heatmap_vmax
        except Exception as exc:  # noqa: BLE001 - a missing heatmap only loses the overlay
            result.errors["heatmap"] = _describe(exc)
    return result


class _Bridge(QObject):
    """Carries worker results to the GUI thread (queued connection)."""

    done = Signal(int, object, object)  # generation, request key, Future


class TripletLoader(QObject):
    """Loads triplets in a thread pool, caches the last few, and emits ``loaded`` on the GUI thread."""

    loaded = Signal(object)  # LoadedTriplet of the latest request
    prefetched = Signal(str)  # name of a triplet now in the cache

    def __init__(self, cache_size: int = 3, preview: bool = True, parent: QObject | None = None):
        super().__init__(parent)
        heatmap_lut()  # built here, on the GUI thread, before any worker colours a heatmap
        self.preview = preview
        self._jobs = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ispviewer-load")
        self._parts = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ispviewer-part")
        self._cache: OrderedDict[tuple, LoadedTriplet] = OrderedDict()
        self._cache_size = max(1, cache_size)
        self._inflight: dict[tuple, Future] = {}
        self._generation = 0
        self._closed = False
        self._lock = threading.Lock()
        self._bridge = _Bridge()
        self._bridge.done.connect(self._on_done)

    @property
    def generation(self) -> int:
        return self._generation

    def cached(self, request: LoadRequest) -> LoadedTriplet | None:
        return self._cache.get(request.key)

    def request(self, request: LoadRequest) -> bool:
        """Load ``request`` and show it; older pending requests become stale.  True if cached."""
        self._generation += 1
        hit = self._cache.get(request.key)
        if hit is not None:
            self._cache.move_to_end(request.key)
            self.loaded.emit(hit)
            return True
        if self.preview and request.key not in self._inflight:
            self._submit(request, self._generation, PREVIEW_REDUCE)
        self._submit(request, self._generation)
        return False

    def prefetch(self, request: LoadRequest) -> None:
        """Load ``request`` into the cache without showing it."""
        if request.key in self._cache or request.key in self._inflight:
            return
        self._submit(request, -1)

    def _submit(self, request: LoadRequest, generation: int, reduce: int = 1) -> None:
        if self._closed:
            return
        key = request.key if reduce == 1 else (*request.key, "preview")
        future = self._inflight.get(key)
        if future is None:
            future = self._jobs.submit(load_triplet, request, self._parts, reduce)
            self._inflight[key] = future
        future.add_done_callback(lambda f, g=generation, k=key: self._emit_done(g, k, f))

    def _emit_done(self, generation: int, key: tuple, future: Future) -> None:
        with self._lock:
            if not self._closed:
                self._bridge.done.emit(generation, key, future)

    def _on_done(self, generation: int, key: tuple, future: Future) -> None:
        self._inflight.pop(key, None)
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:  # load_triplet turns failures into messages; this is a bug guard
            return
        result: LoadedTriplet = future.result()
        if result.preview:  # shown only while the full result of the latest request is still missing
            full = result.request.key
            if generation == self._generation and full not in self._cache:
                self.loaded.emit(result)
            return
        self._cache[key] = result
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        if generation == self._generation:
            self.loaded.emit(result)
        elif generation == -1:
            self.prefetched.emit(result.name)

    def forget(self, name: str | None = None) -> None:
        """Drop cached results (of one triplet, or all)."""
        for key in [k for k in self._cache if name is None or k[0] == name]:
            del self._cache[key]

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
        for future in self._inflight.values():
            future.cancel()
        self._jobs.shutdown(wait=True, cancel_futures=True)
        self._parts.shutdown(wait=True, cancel_futures=True)
        self._cache.clear()
