"""The background helper: answers are applied on the GUI thread, never after shutdown."""

from __future__ import annotations

import threading
import time

from PySide6.QtWidgets import QApplication

from ispviewer.gui.background import Generation, Offload


def test_an_answer_is_applied_on_the_gui_thread(qapp, qtbot):
    pool = Offload("test")
    seen = []
    pool.submit(lambda: threading.current_thread().name, on_done=lambda f: seen.append(
        (f.result(), threading.current_thread() is threading.main_thread())))
    qtbot.waitUntil(lambda: bool(seen), timeout=3000)
    (worker_name, on_gui), = seen
    assert worker_name.startswith("ispviewer-test") and on_gui
    pool.shutdown(wait=True)


def test_progress_reported_from_a_worker_arrives_on_the_gui_thread_in_order(qapp, qtbot):
    pool = Offload("test")
    seen = []

    def work():
        for i in range(5):
            pool.on_gui(lambda k: seen.append((k, threading.current_thread() is threading.main_thread())), i)

    pool.submit(work)
    qtbot.waitUntil(lambda: len(seen) == 5, timeout=3000)
    assert seen == [(i, True) for i in range(5)]
    pool.shutdown(wait=True)


def test_nothing_is_applied_once_shut_down(qapp):
    pool = Offload("test")
    go, applied = threading.Event(), []
    started = threading.Event()

    def slow():
        started.set()
        go.wait(5)
        return 1

    pool.submit(slow, on_done=lambda f: applied.append(f.result()))
    assert started.wait(5)
    pool.shutdown(wait=False)  # the window closes while the job runs
    go.set()
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        QApplication.processEvents()
    assert applied == []
    assert pool.closed


def test_a_generation_makes_every_earlier_request_stale():
    g = Generation()
    first = g.next()
    second = g.next()
    assert not g.is_current(first) and g.is_current(second)
