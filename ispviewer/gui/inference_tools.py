"""The network output, the comparison views and re-alignment, wired to the window's actions.

Keeps the main window thin: it creates one :class:`InferenceTools` and tells it which dataset and
triplet are open; everything about inference, flicker, differences and re-aligning lives here
and in the modules this one assembles.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer

from ispviewer.dataset.records import TripletRecord
from ispviewer.gui.compare import CompareController
from ispviewer.gui.output_view import OutputController
from ispviewer.gui.realign import Realigner

WEIGHTS_DELAY_MS = 250


class InferenceTools(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.output = OutputController(window.viewer, window.statusBar(), self)
        self.compare = CompareController(window.viewer, self.output, self)
        self._weights_due = False  # start() scheduled the shipped weights, not yet loading
        self.realigner = Realigner(window.statusBar(), self)
        a = window.actions_
        a["flicker"].triggered.connect(self.compare.cycle)
        a["side_by_side"].triggered.connect(self.compare.side_by_side)
        a["difference"].toggled.connect(self.compare.set_difference)
        a["load_weights"].triggered.connect(lambda: self.output.ask_weights(window))
        a["render_full"].triggered.connect(self.output.render_whole)
        a["cancel_render"].triggered.connect(self.output.cancel_full)
        a["save_output"].triggered.connect(lambda: self.output.ask_save(window))
        a["realign"].triggered.connect(lambda: self.realigner.ask(window, window.current))
        self.realigner.finished.connect(self._on_realigned)

    def start(self) -> None:
        """Load the shipped weights in the background (the window is usable meanwhile), a moment
        after start-up so that importing torch does not slow down the first triplet's paint."""
        self._weights_due = True
        QTimer.singleShot(WEIGHTS_DELAY_MS, self, self._load_default_weights)

    def _load_default_weights(self) -> None:
        self._weights_due = False
        self.output.weights.load_default()

    @property
    def settled(self) -> bool:
        """Nothing pending for the output pane (for screenshots and tests): weights loaded or
        failed, and no view render queued or running."""
        out = self.output
        return (not self._weights_due and not out.weights.busy
                and not out.worker.view_busy and not out._settle.isActive())

    def attach(self, session) -> None:
        self.realigner.attach(session)

    def detach(self) -> None:
        self.realigner.detach()
        self.output.clear()

    def show_record(self, record: TripletRecord, resolve) -> None:
        """The window switched to ``record``: the output pane follows (raw path through ``resolve``)."""
        try:
            raw, error = resolve(record.files.raw), None
        except Exception as exc:  # noqa: BLE001 - an unsafe path in the manifest: said in the pane
            raw, error = None, str(exc)
        self.output.set_triplet(record.name, raw, (record.raw.width, record.raw.height), error)

    def _on_realigned(self, name: str, stored: bool, _message: str) -> None:
        w = self.window
        if stored and w.current is not None and w.current.name == name:
            w.show_triplet(name, keep_view=True)  # new homography: the aligned target is warped anew

    def shutdown(self) -> None:
        self.realigner.shutdown()
        self.output.shutdown()
