"""Running the network off the GUI thread: view renders (latest wins) and whole-image renders.

Two worker threads: one renders what the user looks at (a newer view cancels the render in flight),
one renders the whole frame on request.  Jobs are frozen on the GUI thread; the worker writes into
the job's :class:`OutputCanvas` and reports on the GUI thread (:class:`~ispviewer.gui.background.Offload`)
through typed signals.  Cancellation is checked
between tiles (``render_region``'s ``cancel``) and, through forward pre-hooks on every layer of the
model, inside a tile too, so a superseded render frees the CPU within milliseconds.

Torch runs with ``INFERENCE_THREADS`` intra-op threads (one core less than the machine has), so
the GUI thread always keeps a core; torch releases the GIL inside its operators.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from ispviewer.gui.background import Offload
from ispviewer.gui.output_canvas import OutputCanvas, Preview, Rect, downscale_packed, to_uint8


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # what this process may run on (containers, taskset)
    except (AttributeError, OSError):
        return os.cpu_count() or 2


#: torch intra-op threads for GUI inference: leave one core to the event loop.
INFERENCE_THREADS = max(1, _usable_cpus() - 1)
#: Side (phone px) of the blocks a whole-image render proceeds by (one default tile each).
FULL_BLOCK = 512


class FullOutcome(Enum):
    """How a whole-image render ended."""

    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "error"


class Aborted(Exception):
    """A render was cancelled (between tiles or inside one)."""


_local = threading.local()
_hooked: weakref.WeakSet = weakref.WeakSet()
_hook_lock = threading.Lock()


def _check_cancel(_module, _args) -> None:
    check = getattr(_local, "cancel", None)
    if check is not None and check():
        raise Aborted()


def install_cancel_hooks(model) -> None:
    """Make every leaf layer of ``model`` check the calling thread's cancel flag (idempotent)."""
    with _hook_lock:
        if model in _hooked:
            return
        for module in model.modules():
            if next(module.children(), None) is None:
                module.register_forward_pre_hook(_check_cancel)
        _hooked.add(model)


@contextlib.contextmanager
def cancel_scope(check: Callable[[], bool]):
    _local.cancel = check
    try:
        yield
    finally:
        _local.cancel = None


class PackedCache:
    """The last few packed raws, loaded once for both worker threads."""

    def __init__(self, size: int = 2):
        self._size = size
        self._items: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path, frame: tuple[int, int] | None = None):
        """The raw in its phone frame; ``frame`` (w, h) picks the crop the triplet uses."""
        from ispviewer.dataset.images import load_packed_raw

        key = (str(path), tuple(frame) if frame is not None else None)
        with self._lock:  # one load at a time: the second thread then finds it cached
            hit = self._items.get(key)
            if hit is None:
                hit = load_packed_raw(path, frame)
                self._items[key] = hit
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
            self._items.move_to_end(key)
            return hit


@dataclass(frozen=True)
class RenderSource:
    """What is rendered: a phone raw, its frame size, and a key naming (raw, weights)."""

    raw_path: Path
    frame: tuple[int, int]
    weights: object = field(repr=False)  # LoadedWeights

    @property
    def key(self) -> tuple:
        return (str(self.raw_path), self.weights.key)


@dataclass(eq=False)
class ViewJob:
    generation: int
    source: RenderSource
    canvas: OutputCanvas
    regions: tuple[Rect, ...]  # exact renders, most urgent first
    preview_factor: int | None  # render the preview (if the canvas has none)
    preview_first: bool
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass(eq=False)
class FullJob:
    source: RenderSource
    canvas: OutputCanvas
    name: str
    cancel: threading.Event = field(default_factory=threading.Event)


def render_exact(model, packed, region, cancel: threading.Event, **kwargs):
    """The network's exact output over ``region``; :class:`Aborted` as soon as ``cancel`` is set
    (between tiles, or inside one through the model's cancel hooks)."""
    from ispviewer.model.inference import RenderCancelled, render_region

    install_cancel_hooks(model)
    try:
        with cancel_scope(cancel.is_set):
            return render_region(model, packed, region, cancel=cancel, **kwargs)
    except RenderCancelled:
        raise Aborted() from None


def render_preview(model, packed, factor: int, frame: tuple[int, int], cancel: threading.Event) -> Preview:
    """The whole frame rendered from the packed raw area-reduced ``factor`` times."""
    small = downscale_packed(packed.data, factor)
    size = (2 * small.shape[1], 2 * small.shape[0])
    if dataclasses.is_dataclass(packed):  # keep what else the raw carries (its white balance)
        small = dataclasses.replace(packed, data=small, origin=(0, 0))
    rgb = render_exact(model, small, None, cancel, origin=(0, 0), frame_size=size)
    return Preview(factor, rgb, frame)


def full_blocks(frame: tuple[int, int], block: int | None = None) -> list[Rect]:
    """The frame cut into ``block``-px squares (``FULL_BLOCK`` by default), row by row."""
    w, h = frame
    block = FULL_BLOCK if block is None else int(block)
    return [(x, y, min(block, w - x), min(block, h - y)) for y in range(0, h, block) for x in range(0, w, block)]


class InferenceWorker(QObject):
    """Runs view and whole-image jobs; results come back as signals on the GUI thread.

    A view job of generation ``g`` reports ``view_preview(g)`` (the canvas has its preview),
    ``view_region(g, rect)`` (one exact region stored), ``view_failed(g, message)``, and always ends
    with ``view_ended(g)`` (done, cancelled or failed).  A whole-image job reports
    ``full_progress(job, done, total)`` and ends with ``full_finished(job, outcome, message)``
    (on success the canvas holds the whole output's pyramid).
    """

    view_preview = Signal(int)
    view_region = Signal(int, tuple)
    view_failed = Signal(int, str)
    view_ended = Signal(int)
    full_progress = Signal(FullJob, int, int)
    full_finished = Signal(FullJob, FullOutcome, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.packed = PackedCache()
        self._view_pool = Offload("infer-view")
        self._full_pool = Offload("infer-full")
        self._view_jobs: list[ViewJob] = []
        self.full_job: FullJob | None = None
        self._jobs_lock = threading.Lock()

    # ----------------------------------------------------------------- GUI thread

    @property
    def view_busy(self) -> bool:
        with self._jobs_lock:
            return bool(self._view_jobs)

    def submit_view(self, job: ViewJob) -> None:
        """Run ``job``; every earlier view job is cancelled (it stops before its next layer)."""
        self.cancel_views()
        if self._view_pool.closed:
            return
        with self._jobs_lock:
            self._view_jobs.append(job)
        future = self._view_pool.submit(self._run_view, job)
        future.add_done_callback(lambda _f, j=job: self._forget(j))  # in the worker: view_busy is exact

    def _forget(self, job: ViewJob) -> None:
        with self._jobs_lock:
            if job in self._view_jobs:
                self._view_jobs.remove(job)

    def cancel_views(self) -> None:
        with self._jobs_lock:
            for job in self._view_jobs:
                job.cancel.set()

    def start_full(self, job: FullJob) -> None:
        self.cancel_full()
        if self._full_pool.closed:
            return
        self.full_job = job
        self._full_pool.submit(self._run_full, job)

    def cancel_full(self) -> None:
        if self.full_job is not None:
            self.full_job.cancel.set()

    def _finish_full(self, job: FullJob, outcome: FullOutcome, message: str = "") -> None:
        if job is self.full_job:
            self.full_job = None
        self.full_finished.emit(job, outcome, message)

    def shutdown(self) -> None:
        self.cancel_views()
        self.cancel_full()
        self._view_pool.shutdown(wait=True)
        self._full_pool.shutdown(wait=True)

    # ----------------------------------------------------------------- worker threads

    @staticmethod
    def _threads() -> None:
        import torch

        if torch.get_num_threads() != INFERENCE_THREADS:
            torch.set_num_threads(INFERENCE_THREADS)

    def _run_view(self, job: ViewJob) -> None:
        from ispviewer.gui.pyramid import build_pyramid

        g, report = job.generation, self._view_pool.on_gui
        if job.cancel.is_set():
            return report(self.view_ended.emit, g)
        try:
            self._threads()
            packed = self.packed.get(job.source.raw_path, job.source.frame)
            model = job.source.weights.model
            steps: list[Rect | None] = list(job.regions)  # None stands for the preview
            if job.preview_factor is not None and job.canvas.preview is None:
                steps.insert(0 if job.preview_first else len(steps), None)
            for region in steps:
                if job.cancel.is_set():
                    raise Aborted()
                if region is None:
                    preview = render_preview(model, packed, job.preview_factor, job.source.frame, job.cancel)
                    job.canvas.preview_pyramid = build_pyramid(to_uint8(preview.rgb), frame_size=job.source.frame)
                    job.canvas.preview = preview
                    report(self.view_preview.emit, g)
                elif not job.canvas.covered(region):
                    job.canvas.store(region, render_exact(model, packed, region, job.cancel))
                    report(self.view_region.emit, g, tuple(region))
        except Aborted:
            pass
        except Exception as exc:  # noqa: BLE001 - a message in the pane, never a crash
            report(self.view_failed.emit, g, _describe(exc))
        report(self.view_ended.emit, g)

    def _run_full(self, job: FullJob) -> None:
        from ispviewer.gui.pyramid import build_pyramid

        report = self._full_pool.on_gui
        try:
            self._threads()
            packed = self.packed.get(job.source.raw_path, job.source.frame)
            model = job.source.weights.model
            blocks = full_blocks(job.source.frame)
            report(self.full_progress.emit, job, 0, len(blocks))
            for i, block in enumerate(blocks):
                if job.cancel.is_set():
                    raise Aborted()
                if not job.canvas.covered(block):
                    job.canvas.store(block, render_exact(model, packed, block, job.cancel))
                report(self.full_progress.emit, job, i + 1, len(blocks))
            job.canvas.full_pyramid = build_pyramid(job.canvas.whole_uint8())
        except Aborted:
            return report(self._finish_full, job, FullOutcome.CANCELLED)
        except Exception as exc:  # noqa: BLE001
            return report(self._finish_full, job, FullOutcome.FAILED, _describe(exc))
        report(self._finish_full, job, FullOutcome.DONE)


def _describe(exc: BaseException) -> str:
    from ispviewer.dataset.images import ImageReadError

    if isinstance(exc, ImageReadError):
        return f"phone raw {exc.path}: {exc.reason}"
    if isinstance(exc, MemoryError):
        return "out of memory while rendering"
    return f"{type(exc).__name__}: {exc}"


__all__ = ["Aborted", "FullJob", "FullOutcome", "InferenceWorker", "RenderSource", "ViewJob", "full_blocks",
           "install_cancel_hooks", "render_preview"]
