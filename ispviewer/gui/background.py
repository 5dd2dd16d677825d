"""Work off the GUI thread, answers applied on it: the one mechanism every background job uses.

An :class:`Offload` is a worker pool whose results are handed to a callback on the GUI thread; once
it is shut down nothing more is applied, so a window that closed never sees a late answer.  A
:class:`Generation` counts requests: an answer carrying an older generation than the latest is stale
and dropped (or only cached) by its receiver.

The hand-off is one queued signal of a relay object made on the GUI thread: a worker only *emits*.
(superqt's ``ensure_main_thread`` was tried first: it creates and connects a QObject in the worker
for every call, and with PySide6 6.11 that deadlocked — the worker held Qt's signal-slot mutex in
``connect`` while waiting for the GIL, the GUI thread held the GIL while waiting for that mutex in
``QObject.disconnect``.)  Debouncing stays superqt's (``qdebounced``), on the GUI thread only.

Cancelling is the job's own business (a ``threading.Event`` it checks, or ``Future.cancel`` for
work not started yet): the pool only guarantees that a cancelled or stale answer changes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal


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
    """Lives on the GUI thread and runs the calls that workers hand it (queued: in arrival order)."""

    call = Signal(object)  # (callable, args): any call a worker hands over

    def __init__(self, offload: Offload):
        super().__init__()
        self._offload = offload
        self.call.connect(self._run, Qt.ConnectionType.QueuedConnection)

    def _run(self, item: tuple[Callable[..., Any], tuple]) -> None:
        if not self._offload.closed:  # checked again on the GUI thread: shutdown may have come meanwhile
            fn, args = item
            fn(*args)


class Offload:
    """A pool of ``workers`` threads; ``submit(..., on_done=f)`` calls ``f(future)`` on the GUI thread.

    Make it on the GUI thread (its relay lives there).
    """

    def __init__(self, name: str, workers: int = 1):
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"ispviewer-{name}")
        self._gui_thread = threading.get_ident()
        self._relay = _Relay(self)
        self.closed = False

    def submit(self, fn: Callable[..., Any], *args: Any,
               on_done: Callable[[Future], None] | None = None) -> Future:
        future = self._pool.submit(fn, *args)
        if on_done is not None:
            self.when_done(future, on_done)
        return future

    def when_done(self, future: Future, on_done: Callable[[Future], None]) -> None:
        """Call ``on_done(future)`` on the GUI thread once ``future`` finished (or was cancelled)."""
        future.add_done_callback(lambda f: self.on_gui(on_done, f))

    def on_gui(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(*args)`` on the GUI thread (at once when called there), unless shut down by then.

        Safe from any thread: a worker reports progress through it.
        """
        if self.closed:
            return
        if threading.get_ident() == self._gui_thread:
            fn(*args)
        else:
            self._relay.call.emit((fn, args))

    def shutdown(self, wait: bool = False) -> None:
        """Apply nothing more; cancel what has not started (and wait for the rest when asked)."""
        self.closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)
