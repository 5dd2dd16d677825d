"""Background loading of triplets, with prefetch of the next one.

A request is frozen on the GUI thread; images are decoded and reduced to pyramids, and the
triplet's patches read and turned into grid paths, in a worker pool; the answer is applied on the
GUI thread (:class:`~ispviewer.gui.background.Offload`).  Each :meth:`TripletLoader.request` bumps
a generation counter: a result whose generation is not the latest is kept in the cache but never
shown.  A cold request is answered twice: first a quick preview decoded at reduced size, then the
full-resolution triplet.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from superqt.utils import qdebounced

from ispviewer.dataset.images import ImageReadError
from ispviewer.dataset.records import PatchRecord
from ispviewer.gui.background import Generation, Offload
from ispviewer.gui.heatmap_style import heatmap_rgba
from ispviewer.gui.overlays import GridPaths, grid_paths
from ispviewer.gui.pyramid import Pyramid, build_pyramid
from ispviewer.gui.sources import (
    PHONE,
    TARGET,
    Heatmap,
    LoadRequest,
    heatmap_from_patches,
    load_aligned_target,
    load_heatmap_file,
    load_patches,
    load_phone,
)

#: A cold open first shows the triplet decoded at 1/PREVIEW_REDUCE size (JPEG DCT scaling: fast).
PREVIEW_REDUCE = 4
#: A cached triplet's patches are re-read this long after it is shown, so that the worker's Python
#: (which holds the GIL) does not slow down the first paint, and quick PgDown presses skip it.
REFRESH_DELAY_MS = 120
#: The full-resolution load starts this long after the preview was handed to the GUI.
FULL_AFTER_PREVIEW_MS = 30


@dataclass
class LoadedTriplet:
    """A triplet ready to show: pyramids per pane, heatmap, patches, and a message per failed part."""

    name: str
    request: LoadRequest
    pyramids: dict[str, Pyramid] = field(default_factory=dict)
    heatmap: Heatmap | None = None
    errors: dict[str, str] = field(default_factory=dict)  # pane (or "heatmap", "patches") -> message
    warnings: list[str] = field(default_factory=list)
    heatmap_rgba: np.ndarray | None = None  # the heatmap coloured for ``heatmap_style``
    heatmap_style: tuple[float, float] | None = None  # (vmax, floor) it was coloured with
    patches: list[PatchRecord] | None = None  # None: not read here (the window reads them)
    grid: GridPaths | None = None  # the patch grid, prebuilt
    #: without a heatmap file: the heatmap drawn from the patches, coloured for (vmax, floor) —
    #: (Heatmap, rgba, (vmax, floor)), prebuilt off the GUI thread as the grid is
    patch_heatmap: tuple | None = None
    preview: bool = False  # decoded at reduced size; the full-resolution result follows


class LoadKind(Enum):
    FULL = "full"  # the triplet at full resolution
    PREVIEW = "preview"  # decoded at 1/PREVIEW_REDUCE size, shown while the full load runs
    PATCHES = "patches"  # only the patches re-read (for a triplet shown from the cache)


@dataclass(frozen=True)
class LoadJob:
    """One submitted load: what, for which request (``generation``), or a prefetch (shown by nobody)."""

    key: tuple
    kind: LoadKind
    generation: int
    prefetch: bool = False


@dataclass(frozen=True)
class PatchesRead:
    patches: list[PatchRecord]
    grid: GridPaths
    #: ``time.monotonic()`` just before the manifest was read: a write committed after it may be missing
    read_at: float = 0.0


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ImageReadError):
        return f"{exc.path}: {exc.reason}"
    if isinstance(exc, ValueError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def read_patches(request: LoadRequest) -> PatchesRead:
    read_at = time.monotonic()
    patches = load_patches(request)
    return PatchesRead(patches, grid_paths(patches), read_at)  # QPainterPath/QPen are reentrant value types


def load_triplet(request: LoadRequest, parts: ThreadPoolExecutor | None = None,
                 reduce: int = 1, read: bool = True) -> LoadedTriplet:
    """Decode the phone JPEG and the aligned target and read the patches (in parallel with ``parts``).

    The aligned target comes from the aligner's file when it is usable, else from warping the
    Nikon target (a note in ``warnings`` says why, for the full-resolution load).

    ``reduce`` > 1 makes a quick preview: both decoded at 1/reduce size, standing for the full frame.
    ``read=False`` skips the patches and the heatmap (the preview already read them).
    """
    result = LoadedTriplet(request.name, request, preview=reduce > 1)
    frame = request.phone_size if reduce > 1 else None

    def heatmap_part():
        heatmap = load_heatmap_file(request.heatmap_path, request.phone_size)
        return heatmap, heatmap_rgba(heatmap.values, request.heatmap_vmax, request.heatmap_floor)

    notes: list[str] = []
    tasks = {  # in order of submission: the two decodes are the critical path, so they start first
        TARGET: lambda: build_pyramid(load_aligned_target(request, reduce, notes), frame_size=frame),
        PHONE: lambda: build_pyramid(load_phone(request, reduce), frame_size=frame),
        "heatmap": heatmap_part if request.heatmap_path is not None and read else None,
        "patches": (lambda: _read_patches_and_heatmap(request)) if request.root is not None and read else None,
    }
    tasks = {k: f for k, f in tasks.items() if f is not None}
    # the target runs in this thread, first, while the parts pool decodes the phone and reads the rest
    # (waiting on the pool before starting it would serialize the two decodes)
    futures = {k: parts.submit(f) for k, f in tasks.items() if k != TARGET} if parts is not None else {}
    outcome = {}
    for key, task in tasks.items():
        try:
            outcome[key] = futures[key].result() if key in futures else task()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message, never a crash
            result.errors[key] = _describe(exc)
    for key in (PHONE, TARGET):
        if key in outcome:
            result.pyramids[key] = outcome[key]
    if "patches" in outcome:
        patches_read, result.patch_heatmap = outcome["patches"]
        result.patches, result.grid = patches_read.patches, patches_read.grid
    if "heatmap" in outcome:
        result.heatmap, result.heatmap_rgba = outcome["heatmap"]
        result.heatmap_style = (request.heatmap_vmax, request.heatmap_floor)
    if reduce == 1:
        result.warnings.extend(notes)
    if PHONE in result.pyramids and reduce == 1:
        size = (result.pyramids[PHONE].width, result.pyramids[PHONE].height)
        if size != request.phone_size:
            result.warnings.append(f"{request.phone_path}: phone JPEG is {size[0]}x{size[1]} but the raw is "
                                   f"{request.phone_size[0]}x{request.phone_size[1]}; showing it anyway")
    return result


def _read_patches_and_heatmap(request: LoadRequest) -> tuple[PatchesRead, tuple | None]:
    """The patches, and where the triplet has no heatmap file their heatmap, coloured (at 12 MP a
    heatmap drawn from patches spread over the frame takes the GUI thread ~100-200 ms)."""
    read = read_patches(request)
    if request.heatmap_path is not None:
        return read, None
    heatmap = heatmap_from_patches(read.patches)
    style = (request.heatmap_vmax, request.heatmap_floor)
    return read, (heatmap, None if heatmap is None else heatmap_rgba(heatmap.values, *style), style)


def _adopt_reads(result: LoadedTriplet, preview: LoadedTriplet) -> None:
    """Give a full-resolution result (loaded with ``read=False``) its preview's patches and heatmap."""
    result.patches, result.grid = preview.patches, preview.grid
    result.patch_heatmap = preview.patch_heatmap
    if result.heatmap is None and "heatmap" not in result.errors:
        result.heatmap, result.heatmap_rgba = preview.heatmap, preview.heatmap_rgba
        result.heatmap_style = preview.heatmap_style
        if "heatmap" in preview.errors:
            result.errors["heatmap"] = preview.errors["heatmap"]


class TripletLoader(QObject):
    """Loads triplets in a thread pool, caches the last few, and emits ``loaded`` on the GUI thread."""

    loaded = Signal(LoadedTriplet)  # of the latest request (a preview first when cold)
    prefetched = Signal(str)  # name of a triplet now in the cache
    patches_refreshed = Signal(str, PatchesRead)  # name, fresh patches of a cached triplet

    def __init__(self, cache_size: int = 3, preview: bool = True, parent: QObject | None = None):
        super().__init__(parent)
        self.preview = preview
        self._jobs = Offload("load", workers=2)
        self._parts = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ispviewer-part")
        self._cache: OrderedDict[tuple, LoadedTriplet] = OrderedDict()
        self._cache_size = max(1, cache_size)
        self._inflight: dict[tuple, Future] = {}
        self._after_preview: dict[tuple, LoadRequest] = {}  # full loads waiting for their preview
        self._carry: dict[tuple, LoadedTriplet] = {}  # previews whose patches and heatmap serve the full result
        self._generation = Generation()
        # quick PgDown presses through cached triplets re-read only the one they stop at
        self._refresh_soon = qdebounced(self._refresh, timeout=REFRESH_DELAY_MS, parent=self)

    @property
    def generation(self) -> int:
        return self._generation.value

    @property
    def busy(self) -> bool:
        return bool(self._inflight)

    def cached(self, request: LoadRequest) -> LoadedTriplet | None:
        return self._cache.get(request.key)

    def request(self, request: LoadRequest) -> bool:
        """Load ``request`` and show it; older pending requests become stale.  True if cached.

        A cached triplet is shown at once; its patches are then re-read in the background (another
        process may have decided some) and sent with ``patches_refreshed``.
        """
        generation = self._generation.next()
        hit = self._cache.get(request.key)
        if hit is not None:
            self._cache.move_to_end(request.key)
            self.loaded.emit(hit)
            if request.root is not None:
                self._refresh_soon(request, generation)
            return True
        if self.preview and request.key not in self._inflight and request.key not in self._after_preview:
            # the preview runs alone, so it reaches the screen as early as possible; the full
            # resolution is started once the preview was handed to the GUI (see _on_done)
            self._after_preview[request.key] = request
            self._submit(request, generation, LoadKind.PREVIEW)
        else:
            self._submit(request, generation, LoadKind.FULL)
        return False

    def _refresh(self, request: LoadRequest, generation: int) -> None:
        if self._generation.is_current(generation):  # still showing that triplet
            self._submit(request, generation, LoadKind.PATCHES)

    def prefetch(self, request: LoadRequest) -> None:
        """Load ``request`` into the cache without showing it."""
        if request.key in self._cache or request.key in self._inflight:
            return
        self._submit(request, self._generation.value, LoadKind.FULL, prefetch=True)

    def _submit(self, request: LoadRequest, generation: int, kind: LoadKind, read: bool = True,
                prefetch: bool = False) -> None:
        if self._jobs.closed:
            return
        key = request.key if kind is LoadKind.FULL else (*request.key, kind)
        future = self._inflight.get(key)
        if future is None:
            if kind is LoadKind.PATCHES:
                future = self._jobs.submit(read_patches, request)
            else:
                reduce = PREVIEW_REDUCE if kind is LoadKind.PREVIEW else 1
                future = self._jobs.submit(load_triplet, request, self._parts, reduce, read)
            self._inflight[key] = future
        job = LoadJob(key, kind, generation, prefetch)
        self._jobs.when_done(future, lambda f: self._on_done(job, f))

    def _on_done(self, job: LoadJob, future: Future) -> None:
        key = job.key
        current = not job.prefetch and self._generation.is_current(job.generation)
        self._inflight.pop(key, None)
        if future.cancelled() or future.exception() is not None:
            return  # load_triplet turns failures into messages; a failed re-read changes nothing
        result = future.result()
        if isinstance(result, PatchesRead):
            name, full = key[0], key[:-1]
            cached = self._cache.get(full)
            if cached is not None:
                cached.patches, cached.grid = result.patches, result.grid
                cached.patch_heatmap = None  # drawn from the earlier patches: the GUI thread redraws it
            if current:
                self.patches_refreshed.emit(name, result)
            return
        if result.preview:  # shown only while the full result of the latest request is still missing
            full = result.request.key
            if current and full not in self._cache:
                self.loaded.emit(result)
            request = self._after_preview.pop(full, None)
            if request is not None and current:
                if result.patches is not None:
                    self._carry[full] = result  # its patches and heatmap serve the full result
                # let the GUI paint the preview before the full decode takes both cores
                QTimer.singleShot(FULL_AFTER_PREVIEW_MS, self, lambda: self._submit(
                    request, job.generation, LoadKind.FULL, read=full not in self._carry))
            return
        carried = self._carry.pop(key, None)
        if result.patches is None and carried is not None:
            _adopt_reads(result, carried)
        self._cache[key] = result
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        if current:
            self.loaded.emit(result)
        elif job.prefetch:
            self.prefetched.emit(result.name)

    def forget(self, name: str | None = None) -> None:
        """Drop cached results (of one triplet, or all)."""
        for key in [k for k in self._cache if name is None or k[0] == name]:
            del self._cache[key]

    def shutdown(self) -> None:
        self._refresh_soon.cancel()
        for future in self._inflight.values():
            future.cancel()
        self._jobs.shutdown(wait=True)
        self._parts.shutdown(wait=True, cancel_futures=True)
        self._cache.clear()
