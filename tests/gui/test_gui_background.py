"""The hand-off of background answers to the GUI thread (Offload)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ispviewer.gui.background import Offload


@pytest.fixture
def offload(qapp):
    pool = Offload("test", workers=2)
    yield pool
    pool.shutdown(wait=True)


def test_an_answer_from_a_worker_runs_on_the_gui_thread(qtbot, offload):
    seen = []
    offload.submit(lambda: 7, on_done=lambda f: seen.append((f.result(), threading.current_thread())))
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    assert seen == [(7, threading.main_thread())]


def test_on_gui_called_on_the_gui_thread_runs_at_once(offload):
    seen = []
    offload.on_gui(seen.append, 1)
    assert seen == [1]


def test_nothing_is_applied_after_shutdown(qtbot, qapp, offload):
    seen = []
    handed = threading.Event()

    def worker() -> None:
        offload.on_gui(seen.append, "late")  # queued before the shutdown, delivered after it
        handed.set()

    threading.Thread(target=worker).start()
    assert handed.wait(5)
    offload.shutdown()
    offload.on_gui(seen.append, "after")
    qapp.processEvents()
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
