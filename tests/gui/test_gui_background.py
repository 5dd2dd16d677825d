"""The background helper: answers are applied on the GUI thread, never after shutdown, and the
hand-over never deadlocks."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
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


def test_a_callback_and_what_it_holds_are_released_on_the_gui_thread(qapp):
    """A window closes while a job runs: its callback's closure (in the app, often a session or a
    view: Qt objects, which deadlock when destroyed in a worker) must not die in the worker."""
    pool = Offload("test")
    go, started, released = threading.Event(), threading.Event(), []

    class Witness:
        def __del__(self):
            released.append(threading.current_thread() is threading.main_thread())

    def slow():
        started.set()
        go.wait(5)

    witness = Witness()
    pool.submit(slow, on_done=lambda f, w=witness: w)
    del witness
    assert started.wait(5)
    pool.shutdown(wait=False)
    go.set()
    deadline = time.monotonic() + 5
    while not released and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.01)
    assert released == [True]


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


def test_on_gui_called_on_the_gui_thread_runs_at_once(qapp):
    pool = Offload("test")
    seen = []
    pool.on_gui(seen.append, 1)
    assert seen == [1]
    pool.shutdown(wait=True)


def test_a_hand_over_queued_before_shutdown_is_not_applied_after_it(qapp, qtbot):
    pool = Offload("test")
    seen, handed = [], threading.Event()

    def worker() -> None:
        pool.on_gui(seen.append, "late")  # queued before the shutdown, delivered after it
        handed.set()

    threading.Thread(target=worker).start()
    assert handed.wait(5)
    pool.shutdown()
    pool.on_gui(seen.append, "after")
    QApplication.processEvents()
    qtbot.wait(50)
    assert seen == []


def test_an_offload_is_made_on_the_gui_thread(qapp):
    errors = []

    def make() -> None:
        try:
            Offload("elsewhere")
        except RuntimeError as exc:
            errors.append(str(exc))

    t = threading.Thread(target=make)
    t.start()
    t.join(5)
    assert errors and "GUI thread" in errors[0]


def test_many_hand_overs_while_the_gui_thread_relabels_axes_never_deadlock():
    """Four workers hand callables over for seconds while the GUI thread repaints and relabels
    pyqtgraph axes: every one arrives and the run ends (a QObject made and moved to the GUI
    thread per hand-over deadlocked here within a few seconds)."""
    script = Path(__file__).with_name("offload_stress.py")
    try:
        run = subprocess.run([sys.executable, str(script), "3"], capture_output=True, text=True,
                             timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("the hand-over deadlocked: the stress run did not finish in 120 s")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "delivered" in run.stdout
