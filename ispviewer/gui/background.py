"""Work off the GUI thread, answers applied on it: the one mechanism every background job uses.

An :class:`Offload` is a worker pool whose results are handed to a callback on the GUI thread;
once it is shut down nothing more is applied, so a window that closed never sees a late answer.
A :class:`Generation` counts requests: an answer carrying an older generation than the latest is
stale and dropped (or only cached) by its receiver.

The hand-off is one relay ``QObject`` per application, made on the GUI thread and parented to
the application: a worker emits its signal with ``(offload, fn, args)`` and the queued connection
runs ``fn(*args)`` on the GUI thread.  A worker thus never creates, moves or destroys a Qt object.
superqt's ``ensure_main_thread`` (tried first) does not fit: on every call it creates a
``QObject`` in the calling Python thread, connects it and ``moveToThread``-s it to the GUI thread.
With PySide6 6.11, under load, that hand-over deadlocked (the worker holding a Qt mutex while
waiting for the GIL, the GUI thread holding the GIL while waiting for that mutex, e.g. as it
painted or relabelled pyqtgraph axes) or segfaulted, which hung or crashed the GUI test suite.
One relay per application (not per Offload) also means no relay is ever destroyed in a worker
thread that happened to drop the last reference to its Offload.  For the same reason a job's
``on_done`` callback is held by the Offload on the GUI thread, not by the future the worker
holds: a callback's closure often holds Qt objects (a session, a view), and had the worker dropped
its last reference — a window closed while the job ran — the object would be destroyed in the
worker, which deadlocks the same way.  Debouncing stays superqt's
(``qdebounced``), on the GUI thread only.

Cancelling is the job's own business (a ``threading.Event`` it checks, or ``Future.cancel`` for
work not started yet): the pool only guarantees that a cancelled or stale answer changes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot


class Generation:
    """A request counter: :meth:`next` makes every earlier request stale."""

    def __init__(self) -> None:
        self.value = 0

    def next(self) -> int:
        self.value += 1
        return self.value

    def is_current(self, generation: int) -> bool:
        return generation == self.value


class _Relay(QObject):
    """Lives on the GUI thread; ``handed.emit((offload, fn, args))`` from any thread runs ``fn`` there."""

    handed = Signal(object)

    def __init__(self, app: QCoreApplication):
        super().__init__(app)  # owned (and destroyed) by the application, on the GUI thread
        self.gui_thread = threading.get_ident()
        self.handed.connect(self._run, Qt.ConnectionType.QueuedConnection)

    @Slot(object)
    def _run(self, call: tuple) -> None:
        offload, fn, args = call
        offload.apply(fn, args)


_relay: _Relay | None = None


def _gui_relay() -> _Relay:
    """The application's relay, made now if needed: only ever called on the GUI thread."""
    global _relay
    app = QCoreApplication.instance()
    if app is None:
        raise RuntimeError("an Offload needs the Qt application to exist first")
    if QThread.currentThread() is not app.thread():
        raise RuntimeError("an Offload is made on the GUI thread")
    if _relay is None or not shiboken6.isValid(_relay):  # none yet, or its application is gone
        _relay = _Relay(app)
    return _relay


class Offload:
    """A pool of ``workers`` threads; ``submit(..., on_done=f)`` calls ``f(future)`` on the GUI thread.

    Made on the GUI thread (it is where the answers go).
    """

    def __init__(self, name: str, workers: int = 1):
        self._relay = _gui_relay()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"ispviewer-{name}")
        self._callbacks: dict[Future, list[Callable[[Future], None]]] = {}  # touched on the GUI thread only
        self.closed = False

    def submit(self, fn: Callable[..., Any], *args: Any,
               on_done: Callable[[Future], None] | None = None) -> Future:
        future = self._pool.submit(fn, *args)
        if on_done is not None:
            self.when_done(future, on_done)
        return future

    def when_done(self, future: Future, on_done: Callable[[Future], None]) -> None:
        """Call ``on_done(future)`` on the GUI thread once ``future`` finished (or was cancelled).

        Called on the GUI thread; ``on_done`` is kept and released there, whatever thread ends the job.
        """
        self._callbacks.setdefault(future, []).append(on_done)
        future.add_done_callback(self._finished)

    def _finished(self, future: Future) -> None:
        if threading.get_ident() == self._relay.gui_thread:
            self._deliver(future)
        else:  # even once shut down: the callbacks are dropped on the GUI thread
            self._relay.handed.emit((self, self._deliver, (future,)))

    def apply(self, fn: Callable[..., Any], args: tuple) -> None:
        """On the GUI thread, what a worker handed over: ``fn(*args)`` unless shut down meanwhile
        (checked again here); a job's end is always delivered, so its callbacks are released here."""
        if not self.closed or fn == self._deliver:
            fn(*args)

    def _deliver(self, future: Future) -> None:
        callbacks = self._callbacks.pop(future, ())
        if not self.closed:
            for on_done in callbacks:
                on_done(future)

    def on_gui(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(*args)`` on the GUI thread (at once when called there), unless shut down by then.

        Safe from any thread: a worker reports progress through it.
        """
        if self.closed:
            return
        if threading.get_ident() == self._relay.gui_thread:
            fn(*args)
        else:
            self._relay.handed.emit((self, fn, args))

    def shutdown(self, wait: bool = False) -> None:
        """Apply nothing more; cancel what has not started (and wait for the rest when asked)."""
        self.closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)
