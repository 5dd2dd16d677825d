"""The network output of gallery tiles: each patch rendered from its phone raw in the background.

The output pane's machinery does the work (:mod:`ispviewer.gui.inference_worker`: the packed-raw
cache, the exact tiled render with its context, cancellation inside a layer), on a thread of its
own, so the gallery never waits and never disturbs the pane's renders.  One job per triplet of
the page renders its patches one after another and hands each over as it is done; a newer page
cancels the jobs still running for the older one (what they finished stays cached).  Outputs
are kept per (patch, weights) in a bounded cache; a triplet whose raw cannot be rendered says why
in its tiles.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from ispviewer.dataset.manifest import ManifestError
from ispviewer.dataset.records import PatchRecord
from ispviewer.gui.background import Offload
from ispviewer.gui.gallery_extras import to_qimage
from ispviewer.gui.inference_worker import INFERENCE_THREADS, Aborted, PackedCache, render_exact
from ispviewer.gui.output_canvas import to_uint8

#: rendered patches kept (each ~50 KB at 128 px)
OUTPUT_CACHE = 480


def render_patches(packed: PackedCache, raw_path, frame: tuple[int, int], weights, patches: list[PatchRecord],
                   cancel: threading.Event, deliver: Callable[[int, object], None]) -> None:
    """Render each patch of one triplet (worker thread); ``deliver(patch id, uint8 RGB)`` each."""
    import torch

    if torch.get_num_threads() != INFERENCE_THREADS:
        torch.set_num_threads(INFERENCE_THREADS)
    source = packed.get(raw_path, frame)
    w, h = frame
    for p in patches:
        if cancel.is_set():
            raise Aborted()
        x0, y0 = max(p.x, 0), max(p.y, 0)
        region = (x0, y0, min(p.x + p.size, w) - x0, min(p.y + p.size, h) - y0)
        if region[2] <= 0 or region[3] <= 0:
            continue
        deliver(p.id, to_uint8(render_exact(weights.model, source, region, cancel)))


class OutputTiles(QObject):
    """Network output per patch for the current weights; :meth:`request` renders the missing ones."""

    ready = Signal()  # an output of the current page arrived (or a triplet's failure is known)

    def __init__(self, weights: Callable[[], object], parent: QObject | None = None):
        super().__init__(parent)
        self.weights = weights  # () -> LoadedWeights | None: what the output pane renders with
        self._offload = Offload("gallery-output")
        self._packed = PackedCache(size=2)
        self._outputs: OrderedDict[tuple[int, int], QImage] = OrderedDict()
        self._errors: dict[tuple[int, int], str] = {}  # (triplet id, weights key) -> why
        self._in_flight: set[tuple[int, int]] = set()
        self._cancel = threading.Event()
        self._asked: tuple | None = None  # (patch ids, weights key) of the page being rendered
        self._epoch = 0
        self.session = None

    def attach(self, session) -> None:
        self.session = session
        self.forget()

    def detach(self) -> None:
        self.session = None
        self.forget()

    def forget(self) -> None:
        self._cancel.set()
        self._cancel = threading.Event()
        self._epoch += 1
        self._outputs.clear()
        self._errors.clear()
        self._in_flight.clear()
        self._asked = None
        self._packed = PackedCache(size=2)

    # ----------------------------------------------------------------- reading

    def output(self, patch: PatchRecord) -> QImage | None:
        w = self.weights()
        if w is None:
            return None
        key = (patch.id, w.key)
        image = self._outputs.get(key)
        if image is not None:
            self._outputs.move_to_end(key)
        return image

    def placeholder(self, patch: PatchRecord) -> str:
        """Words for a tile whose output is not there (yet)."""
        w = self.weights()
        if w is None:
            return "no network weights"
        error = self._errors.get((patch.triplet_id, w.key))
        return f"no output: {error}" if error else "rendering…"

    # ----------------------------------------------------------------- requests

    def request(self, patches: list[PatchRecord]) -> int:
        """The page on screen: render its missing outputs (jobs for an older page are cancelled).
        Returns how many triplets were asked for."""
        w = self.weights()
        asked = (tuple(p.id for p in patches), None if w is None else w.key)
        if asked != self._asked:  # another page (or other weights): what runs for the older one stops
            self._cancel.set()
            self._cancel = threading.Event()
            self._in_flight.clear()  # the cancelled jobs deliver nothing more
            self._asked = asked
        if self.session is None or w is None:
            return 0
        by_triplet: dict[int, list[PatchRecord]] = {}
        for p in patches:
            key = (p.id, w.key)
            if key not in self._outputs and key not in self._in_flight and (p.triplet_id, w.key) not in self._errors:
                by_triplet.setdefault(p.triplet_id, []).append(p)
        for tid, group in by_triplet.items():
            try:
                record = self.session.triplet(tid)
                raw = self.session.resolve(record.files.raw)
            except (ManifestError, ValueError) as exc:
                self._errors[(tid, w.key)] = str(exc)
                continue
            frame = (record.raw.width, record.raw.height)
            keys = {(p.id, w.key) for p in group}
            self._in_flight |= keys
            epoch, cancel = self._epoch, self._cancel

            def deliver(pid, rgb, key=w.key, e=epoch, c=cancel):
                self._offload.on_gui(self._arrived, pid, key, rgb, e, c)

            self._offload.submit(render_patches, self._packed, raw, frame, w, group, cancel, deliver,
                                 on_done=lambda f, t=tid, k=keys, c=cancel: self._done(f, t, k, c))
        return len(by_triplet)

    def _arrived(self, pid: int, weights_key: int, rgb, epoch: int, cancel: threading.Event) -> None:
        if epoch != self._epoch:
            return
        self._in_flight.discard((pid, weights_key))
        self._outputs[(pid, weights_key)] = to_qimage(rgb)
        self._outputs.move_to_end((pid, weights_key))
        while len(self._outputs) > OUTPUT_CACHE:
            self._outputs.popitem(last=False)
        if not cancel.is_set():
            self.ready.emit()

    def _done(self, future, triplet_id: int, keys: set, cancel: threading.Event) -> None:
        if cancel is not self._cancel:
            return  # an older page's job (or a forgotten dataset's)
        self._in_flight -= keys  # delivered, or never will be
        exc = None if future.cancelled() else future.exception()
        if exc is None or isinstance(exc, Aborted):
            return
        from ispviewer.dataset.images import ImageReadError

        reason = exc.reason if isinstance(exc, ImageReadError) else f"{type(exc).__name__}: {exc}"
        self._errors[(triplet_id, next(iter(keys))[1])] = reason
        self.ready.emit()

    def settled(self, patches: list[PatchRecord]) -> bool:
        """Every output of ``patches`` is there or known not to come (no weights, a failure)."""
        w = self.weights()
        return w is None or all((p.id, w.key) in self._outputs or (p.triplet_id, w.key) in self._errors
                                for p in patches)

    @property
    def busy(self) -> bool:
        """Outputs of the current page are still being rendered."""
        return bool(self._in_flight)

    def shutdown(self) -> None:
        self._cancel.set()
        self._offload.shutdown()
