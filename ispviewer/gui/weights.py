"""The network weights the output pane renders with: loaded in the background, swappable.

The shipped default checkpoint (``ispviewer/model/weights/default.pt``, package data of
``ispviewer.model``) is loaded when the window starts; File ▸ Load weights… loads another one.  A
checkpoint that cannot be used (missing, corrupt, foreign, unsafe) leaves the app running: the
previous weights stay in use and ``failed`` carries the reason for the user.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from ispviewer.gui.background import Offload


def default_weights_path() -> Path:
    """$ISPVIEWER_WEIGHTS, else where the shipped weights are installed (they may be absent in a
    development checkout)."""
    from ispviewer.model.weight_files import default_weights

    return default_weights()


@dataclass(frozen=True)
class LoadedWeights:
    """A model ready for inference; ``key`` tells apart every load (the same file loaded twice too)."""

    path: Path
    model: object = field(repr=False)  # torch.nn.Module (kept untyped: torch is imported lazily)
    meta: dict = field(repr=False)
    key: int

    @property
    def provenance(self):
        """What the checkpoint says about its training data (:mod:`ispviewer.model.provenance`)."""
        from ispviewer.model.provenance import provenance

        return provenance(self.meta)

    @property
    def label(self) -> str:
        return f"{self.path.name} ({self.meta.get('model', '?')})"


def load_weights(path: Path, key: int) -> LoadedWeights:
    """Runs in the worker: CheckpointError for any unusable file."""
    from ispviewer.model.checkpoint import load_checkpoint

    model, meta = load_checkpoint(path)
    return LoadedWeights(Path(path), model, meta, key)


class WeightsManager(QObject):
    """Holds the current weights; loads checkpoints in a worker thread."""

    loaded = Signal(LoadedWeights)  # now in use
    failed = Signal(str)  # a user message: which file and why; the previous weights stay
    loading = Signal(str)  # path being loaded

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.current: LoadedWeights | None = None
        self.last_error: str | None = None
        self.busy = False
        self._counter = 0
        self._pool = Offload("weights")

    def load_default(self) -> None:
        """Load the shipped weights, unless the user already chose a checkpoint."""
        if self._counter == 0:
            self.load(default_weights_path())

    def load(self, path: str | Path) -> None:
        """Load ``path`` in the background; ``loaded`` or ``failed`` follows on the GUI thread."""
        if self._pool.closed:
            return
        path = Path(path)
        self._counter += 1
        self.busy = True
        self.loading.emit(str(path))
        self._pool.submit(load_weights, path, self._counter, on_done=lambda f, p=path: self._on_done(p, f))

    def _on_done(self, path: Path, future: Future) -> None:
        from ispviewer.model.checkpoint import CheckpointError

        self.busy = False
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None:
            self.current = future.result()
            self.last_error = None
            self.loaded.emit(self.current)
            return
        if isinstance(exc, CheckpointError):
            message = f"Could not load weights {exc.path}: {exc.reason}"
        else:  # an unforeseen failure still must not take the window down
            message = f"Could not load weights {path}: {type(exc).__name__}: {exc}"
        self.last_error = message
        self.failed.emit(message)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False)
