"""The network output, the comparison views and re-alignment, wired to the window's actions.

Keeps the main window thin: it creates one :class:`InferenceTools` and tells it which dataset and
triplet are open; everything about inference, flicker, differences and re-aligning lives here
and in the modules this one assembles.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QStatusBar

from ispviewer.gui.compare import CompareController
from ispviewer.gui.output_view import OutputController
from ispviewer.gui.panels import bind_check
from ispviewer.gui.realign import Realigner
from ispviewer.gui.state import WindowState
from ispviewer.gui.viewer import TripletViewer

WEIGHTS_DELAY_MS = 250


class InferenceTools(QObject):
    """Output pane, comparisons and re-alignment on the window state, driven by ``actions``."""

    realigned = Signal(str)  # a triplet's new alignment was stored: show it again

    def __init__(self, state: WindowState, viewer: TripletViewer, actions: dict[str, QAction], status_bar: QStatusBar,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.state = state
        self.output = OutputController(state, viewer, status_bar, self)
        self.compare = CompareController(state, viewer, self.output, self)
        self._weights_due = False  # start() scheduled the shipped weights, not yet loading
        self.realigner = Realigner(status_bar, self)
        a, window = actions, viewer.window
        bind_check(a["flicker"], state.compare, "flickering")
        a["side_by_side"].triggered.connect(self.compare.side_by_side)
        bind_check(a["difference"], state.compare, "difference")
        a["load_weights"].triggered.connect(lambda: self.output.ask_weights(window()))
        a["render_full"].triggered.connect(self.output.render_whole)
        a["cancel_render"].triggered.connect(self.output.cancel_full)
        a["save_output"].triggered.connect(lambda: self.output.ask_save(window()))
        a["realign"].triggered.connect(lambda: self.realigner.ask(window(), state.triplet))
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
        return not self._weights_due and not out.weights.busy and not out.view_busy

    def attach(self, session) -> None:
        self.realigner.attach(session)

    def detach(self) -> None:
        self.realigner.detach()

    def _on_realigned(self, name: str, stored: bool, _message: str) -> None:
        current = self.state.triplet
        if stored and current is not None and current.name == name:
            self.realigned.emit(name)  # new homography: the aligned target is warped anew

    def shutdown(self) -> None:
        self.realigner.shutdown()
        self.output.shutdown()
