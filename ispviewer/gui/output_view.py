"""Keeps the network-output pane filled for the current triplet, view and weights.

What the pane shows, bottom to top: a *base* image (the whole frame rendered once at reduced
scale — the preview — or, after "Render whole image", the exact output at full resolution) and a
*detail* image: the exact output of the visible region (plus a margin), cut from the canvas of
(triplet, weights).  The detail is placed by its phone-frame rectangle, so network output pixel
(Y, X) lands on phone pixel (Y + oy, X + ox) exactly as ``render_region`` computed it.

Requests: every view change cancels a render that does not cover the new view; once the view has
not moved for ``VIEW_SETTLE_MS`` the missing cells are rendered (at >= 100%; below, the preview
stands in).  Results are painted only from the current canvas, so a superseded render can never
put another triplet's (or other weights') pixels on screen.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QRectF, Signal
from PySide6.QtWidgets import QFileDialog, QStatusBar
from superqt.utils import qdebounced

from ispviewer.dataset.records import TripletRecord
from ispviewer.gui.image_pane import LevelImageItem
from ispviewer.gui.inference_worker import FullJob, FullOutcome, InferenceWorker, RenderSource, ViewJob
from ispviewer.gui.output_canvas import (
    PREVIEW_MAX_PIXELS,
    OutputCanvas,
    Rect,
    contains,
    grow,
    pixel_rect,
    preview_factor,
)
from ispviewer.gui.panels import FullRenderStatus
from ispviewer.gui.pyramid import build_pyramid
from ispviewer.gui.sources import OUTPUT, OUTPUT_PLACEHOLDER
from ispviewer.gui.state import WindowState
from ispviewer.gui.weights import LoadedWeights, WeightsManager

#: The view must rest this long before a render starts (a drag issues many changes).
VIEW_SETTLE_MS = 30
#: Phone px rendered around the visible region (after it), so that small pans show output at once.
MARGIN = 64
#: Below this zoom only the base image is drawn (the detail would be a large composite).
DETAIL_MIN_ZOOM = 0.5
DETAIL_Z = 1
CANVASES_KEPT = 3


class OutputController(QObject):
    """The output pane's content: weights, requests to the inference worker, painting, readout."""

    updated = Signal()  # what the output pane shows changed
    full_finished = Signal(FullOutcome)

    def __init__(self, state: WindowState, viewer, status_bar: QStatusBar, parent: QObject | None = None):
        super().__init__(parent)
        self.state = state
        self.viewer = viewer
        self.pane = viewer.panes[OUTPUT]
        self.status_bar = status_bar
        self.weights = WeightsManager(self)
        self.worker = InferenceWorker(self)
        self.preview_max_pixels = PREVIEW_MAX_PIXELS
        self._rendering: tuple | None = None  # (name, raw path, frame) of the triplet rendered for
        self.raw_path: Path | None = None  # the current triplet's raw (None: it cannot be located)
        self.error: str | None = None  # why the current triplet cannot be rendered
        self.generation = 0
        self.detail_rect: Rect | None = None
        self.title = "network output"
        self.title_locked = False  # another view (the difference view) names the pane meanwhile
        self._job: ViewJob | None = None  # the latest view job, until it ends or is superseded
        self._inflight: Rect | None = None  # what that job will cover (None: only the preview)
        self._canvases: OrderedDict[tuple, OutputCanvas] = OrderedDict()
        self.detail = LevelImageItem()
        self.detail.setZValue(DETAIL_Z)
        self.detail.hide()
        self.pane.add_item(self.detail)
        self.full_status = FullRenderStatus()
        status_bar.addPermanentWidget(self.full_status)
        self.full_status.cancel_requested.connect(self.cancel_full)
        self._view_due = False  # the view moved; a render request follows once it rests
        self._request_when_rested = qdebounced(self.request_view, timeout=VIEW_SETTLE_MS, parent=self)
        state.view.changed.connect(self._on_view_changed)
        state.events.triplet.connect(self._on_triplet)
        self.pane.view_box.sigResized.connect(self._on_view_changed)
        self.weights.loaded.connect(self._on_weights)
        self.weights.failed.connect(self._on_weights_failed)
        self.weights.loading.connect(lambda p: self._refresh() if self.weights.current is None else None)
        w = self.worker
        w.view_preview.connect(self._on_preview)
        w.view_region.connect(self._on_region)
        w.view_failed.connect(self._on_view_failed)
        w.view_ended.connect(self._on_view_ended)
        w.full_progress.connect(self._on_full_progress)
        w.full_finished.connect(self._on_full_finished)
        self.pane.set_value_reader(self.readout_values)
        self._refresh()

    # ----------------------------------------------------------------- inputs

    @property
    def name(self) -> str | None:
        """The current triplet's name (what the pane renders)."""
        return self.state.triplet.name if self.state.triplet is not None else None

    @property
    def frame(self) -> tuple[int, int] | None:
        """The current triplet's phone frame (w, h)."""
        record = self.state.triplet
        return (record.raw.width, record.raw.height) if record is not None else None

    @property
    def view_busy(self) -> bool:
        """A view render is due (the view has not rested yet), queued or running."""
        return self._view_due or self.worker.view_busy

    def _schedule_view(self) -> None:
        self._view_due = True
        self._request_when_rested()

    def _on_triplet(self, record: TripletRecord | None) -> None:
        """The window switched triplets: render the new one (its raw found through the dataset)."""
        if record is None:
            self.clear()
            return
        try:
            raw, error = self.state.dataset.resolve(record.files.raw), None
        except Exception as exc:  # noqa: BLE001 - an unsafe path in the manifest: said in the pane
            raw, error = None, str(exc)
        rendering = (record.name, raw, (record.raw.width, record.raw.height))
        if rendering == self._rendering and self.error is None and error is None:
            return
        self._rendering, self.raw_path, self.error = rendering, raw, error
        self._supersede()
        self._refresh()
        self._schedule_view()

    def clear(self) -> None:
        """No triplet (the dataset was closed): stop every render."""
        self._rendering = self.raw_path = self.error = None
        self.worker.cancel_full()
        self._supersede()
        self._refresh()

    @property
    def source(self) -> RenderSource | None:
        w = self.weights.current
        if w is None or self.raw_path is None or self.frame is None or self.error is not None:
            return None
        return RenderSource(self.raw_path, self.frame, w)

    def canvas(self, create: bool = False) -> OutputCanvas | None:
        src = self.source
        if src is None:
            return None
        canvas = self._canvases.get(src.key)
        if canvas is None and create:
            canvas = self._canvases[src.key] = OutputCanvas(src.frame)
            while len(self._canvases) > CANVASES_KEPT:
                self._canvases.popitem(last=False)
        if canvas is not None:
            self._canvases.move_to_end(src.key)
        return canvas

    def _on_weights(self, weights: LoadedWeights) -> None:
        self.status_bar.showMessage(f"network weights: {weights.path}", 5000)
        self._supersede()
        self._refresh()
        self._schedule_view()

    def _on_weights_failed(self, message: str) -> None:
        self.status_bar.showMessage(message)
        self._refresh()

    # ----------------------------------------------------------------- requests

    def visible_rect(self) -> Rect | None:
        """Pixels of the phone frame shown in the widest visible pane."""
        if self.frame is None:
            return None
        panes = [p for p in self.viewer.panes.values() if not p.isHidden()] or [self.pane]
        w, h = max((p.viewport_size() for p in panes), key=lambda s: s[0] * s[1])
        if w <= 0 or h <= 0:
            return None
        return pixel_rect(*self.viewer.view_state.rect(w, h), self.frame)

    def _supersede(self) -> None:
        self.generation += 1
        self._job = self._inflight = None
        self.worker.cancel_views()

    def _live(self) -> bool:
        """A view job of the current generation is queued or running."""
        return self._job is not None and not self._job.cancel.is_set()

    def _on_view_changed(self) -> None:
        if self.source is None:
            return
        rect = self.visible_rect()
        if self._live():
            if self._inflight is None:  # the preview: the same for every view, unless now exact
                stale = self.viewer.view_state.zoom >= 1.0 - 1e-6
            else:
                stale = rect is None or not contains(self._inflight, rect)
            if stale:
                self._supersede()
        self._schedule_view()

    def request_view(self) -> bool:
        """Render what the current view misses (called once the view rests); True if a job started."""
        self._view_due = False
        src, rect = self.source, self.visible_rect()
        self._refresh_detail()
        if src is None or rect is None:
            return False
        canvas = self.canvas(create=True)
        context = 2 * int(getattr(src.weights.model, "default_context", 0))
        factor = preview_factor(src.frame, self.preview_max_pixels)
        exact = self.viewer.view_state.zoom >= 1.0 - 1e-6
        if self._live() and (contains(self._inflight, rect) or (self._inflight is None and not exact)):
            return False  # the job in flight brings what this view needs
        regions: list[Rect] = []
        whole = (0, 0, *src.frame)
        if factor == 1:  # a small frame: the exact output of all of it is the preview
            regions = canvas.missing_rects(rect, context) + canvas.missing_rects(whole, context)
        elif exact:
            outer = grow(rect, MARGIN, src.frame)
            regions = canvas.missing_rects(rect, context)
            for strip in _ring(outer, rect):
                regions += canvas.missing_rects(strip, context)
        need_preview = factor > 1 and canvas.preview is None
        if not regions and not need_preview:
            return False
        self._supersede()
        self._inflight = grow(rect, MARGIN, src.frame) if exact or factor == 1 else None
        self._job = ViewJob(self.generation, src, canvas, tuple(regions), factor if need_preview else None,
                            preview_first=not exact)
        self.worker.submit_view(self._job)
        self._refresh()
        return True

    def _current(self, generation: int) -> bool:
        """A report of the latest view job (a superseded job's stays in its canvas, unpainted)."""
        return generation == self.generation

    def _on_preview(self, generation: int) -> None:
        if self._current(generation):
            self._refresh()

    def _on_region(self, generation: int, _rect: Rect) -> None:
        if not self._current(generation):
            return
        canvas = self.canvas()
        if canvas is not None and canvas.complete and canvas.full_pyramid is None:
            canvas.full_pyramid = build_pyramid(canvas.whole_uint8())  # a small frame, all exact
        self._refresh()

    def _on_view_failed(self, generation: int, message: str) -> None:
        if self._current(generation):
            self._job = self._inflight = None
            self.error = message
            self._refresh()

    def _on_view_ended(self, generation: int) -> None:
        if self._current(generation):
            self._job = self._inflight = None

    # ----------------------------------------------------------------- painting

    def message(self) -> str | None:
        if self.weights.current is None:
            if self.weights.busy or self.weights.last_error is None:
                return "network output: loading the weights…"
            return (self.weights.last_error or "network output: no weights") + "\n(File ▸ Load weights…)"
        if self.error is not None:
            return f"network output unavailable:\n{self.error}"
        if self.name is None:
            return OUTPUT_PLACEHOLDER
        return None

    def base_pyramid(self):
        canvas = self.canvas()
        if canvas is None:
            return None
        return canvas.full_pyramid or canvas.preview_pyramid

    def _refresh(self) -> None:
        """Base image, title and message of the output pane."""
        canvas, base = self.canvas(), self.base_pyramid()
        message = self.message()
        if message is None and base is None and (canvas is None or canvas.coverage() == 0):
            message = f"rendering {self.name}…"
        if base is not self.pane.pyramid or base is None:
            self.viewer.set_output(base, message)
        else:
            self.pane.show_message(message)
        title, tip = "network output", "the ISP network's rendering of the phone raw"
        notice = None
        if self.weights.current is not None:
            from ispviewer.model.provenance import camera_notice, describe

            prov = self.weights.current.provenance
            title += f" — {self.weights.current.path.name}"
            tip += f"\nweights: {self.weights.current.path}\n{describe(prov)}"
            record = self.state.triplet
            notice = camera_notice(prov, record.phone_model if record is not None else None)
        self.pane.show_notice(notice)
        if canvas is not None and base is not None and canvas.full_pyramid is None:
            tip += (f"\nbelow 100%: a preview rendered from the raw reduced {canvas.preview.factor}x; "
                    "exact output at 100% and above, or after Tools ▸ Render whole image")
        self.title = title
        self.pane.title.setToolTip(tip)
        if not self.title_locked:
            self.pane.title.setText(title)
        self._refresh_detail()

    def _refresh_detail(self) -> None:
        canvas, rect = self.canvas(), self.visible_rect()
        zoom = self.viewer.view_state.zoom
        if canvas is None or rect is None or canvas.full_pyramid is not None or zoom < DETAIL_MIN_ZOOM:
            self._hide_detail()
            return
        rect = grow(rect, MARGIN, canvas.frame)
        rgba = canvas.composite(rect)
        if not rgba[..., 3].any():
            self._hide_detail()
            return
        self.detail.smooth = zoom < 1.0
        self.detail.setImage(rgba, autoLevels=False, levels=None)
        self.detail.setRect(QRectF(rect[0] - 0.5, rect[1] - 0.5, rect[2], rect[3]))
        self.detail.show()
        self.detail_rect = rect
        self.updated.emit()

    def _hide_detail(self) -> None:
        if self.detail.isVisible():
            self.detail.hide()
            self.detail_rect = None
            self.updated.emit()

    # ----------------------------------------------------------------- reading the output

    def readout_values(self, x: int, y: int) -> str | None:
        """Float RGB of the output at phone pixel (x, y) (≈: from the preview), or None."""
        canvas = self.canvas()
        if canvas is None:
            return None
        value = canvas.value_at(x, y)
        if value is not None:
            return " ".join(f"{v:.3f}" for v in value)
        if canvas.preview is not None:
            value = canvas.preview.value_at(x, y)
            if value is not None:
                return "≈" + " ".join(f"{v:.3f}" for v in value)
        return None

    def crop(self, rect: Rect, size: tuple[int, int]) -> np.ndarray | None:
        """What the output pane shows over ``rect``, as RGBA uint8 of ``size`` (w, h); None if nothing."""
        from ispviewer.gui.compare import pyramid_crop, resize_to

        canvas, base = self.canvas(), self.base_pyramid()
        out = None
        if base is not None:
            rgb = pyramid_crop(base, rect, size, self.viewer.view_state.zoom)
            out = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
        if canvas is not None and canvas.full_pyramid is None and self.viewer.view_state.zoom >= DETAIL_MIN_ZOOM:
            exact = resize_to(canvas.composite(rect), size)
            if out is None:
                out = exact
            else:
                keep = exact[..., 3:] > 0
                out = np.where(keep, exact, out)
        return out

    # ----------------------------------------------------------------- whole image

    def render_whole(self) -> bool:
        src = self.source
        if src is None:
            self.status_bar.showMessage(self.message() or "nothing to render", 5000)
            return False
        canvas = self.canvas(create=True)
        if canvas.full_pyramid is not None:
            self.status_bar.showMessage(f"{self.name}: already rendered — File ▸ Save output image…", 5000)
            return False
        job = FullJob(src, canvas, self.name)
        self.worker.start_full(job)
        self.full_status.start(f"rendering {self.name}")
        return True

    def cancel_full(self) -> None:
        self.worker.cancel_full()

    @property
    def full_running(self) -> bool:
        return self.worker.full_job is not None

    def _on_full_progress(self, job: FullJob, done: int, total: int) -> None:
        if job is self.worker.full_job:
            self.full_status.progress(done, total)

    def _on_full_finished(self, job: FullJob, outcome: FullOutcome, message: str) -> None:
        if self.worker.full_job is None:
            self.full_status.finish()
        if outcome is FullOutcome.DONE:
            self.status_bar.showMessage(f"{job.name}: whole image rendered — File ▸ Save output image… "
                                        "(Ctrl+Shift+S)", 8000)
            self._refresh()
        elif outcome is FullOutcome.CANCELLED:
            self.status_bar.showMessage(f"{job.name}: rendering cancelled", 5000)
            self._refresh_detail()
        else:
            self.status_bar.showMessage(f"{job.name}: rendering failed: {message}")
        self.full_finished.emit(outcome)

    def save(self, path: str | Path) -> str | None:
        """Write the whole rendered output (PNG, JPEG or TIFF by extension); an error message or None."""
        import cv2

        canvas = self.canvas()
        if canvas is None or canvas.full_pyramid is None:
            return "render the whole image first (Ctrl+R)"
        path = Path(path)
        if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".tif", ".tiff"):
            path = path.with_suffix(".png")
        bgr = cv2.cvtColor(canvas.full_pyramid.levels[0], cv2.COLOR_RGB2BGR)
        try:
            jpeg = path.suffix.lower() in (".jpg", ".jpeg")
            ok = cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, 95] if jpeg else [])
        except cv2.error as exc:
            ok, why = False, str(exc).strip().splitlines()[-1]
        else:
            why = "could not write the file (folder missing or not writable?)"
        if not ok:
            return f"{path}: {why}"
        self.status_bar.showMessage(f"saved {path}", 5000)
        return None

    def ask_save(self, parent) -> None:
        if self.canvas() is None or self.canvas().full_pyramid is None:
            self.status_bar.showMessage("Render the whole image first (Ctrl+R)", 5000)
            return
        start = str(Path.home() / f"{self.name}_output.png")
        path, _ = QFileDialog.getSaveFileName(parent, "Save network output", start,
                                              "PNG (*.png);;JPEG (*.jpg *.jpeg);;TIFF (*.tif *.tiff)")
        if path:
            error = self.save(path)
            if error:
                self.status_bar.showMessage(f"Could not save: {error}")

    def ask_weights(self, parent) -> None:
        start = str(self.weights.current.path if self.weights.current else Path.home())
        path, _ = QFileDialog.getOpenFileName(parent, "Load network weights", start,
                                              "Checkpoints (*.pt *.pth);;All files (*)")
        if path:
            self.weights.load(path)

    def shutdown(self) -> None:
        self._request_when_rested.cancel()
        self._view_due = False
        self.weights.shutdown()
        self.worker.shutdown()


def _ring(outer: Rect, inner: Rect) -> list[Rect]:
    """``outer`` minus ``inner`` as up to four strips (top, bottom, left, right)."""
    ox, oy, ow, oh = outer
    ix, iy, iw, ih = inner
    strips = [(ox, oy, ow, iy - oy), (ox, iy + ih, ow, oy + oh - iy - ih),
              (ox, iy, ix - ox, ih), (ix + iw, iy, ox + ow - ix - iw, ih)]
    return [s for s in strips if s[2] > 0 and s[3] > 0]
