"""Opening datasets again and again keeps one session alive, not one per open."""

from __future__ import annotations

import gc
import weakref

from PySide6.QtWidgets import QApplication

from guihelpers import press_keys


def test_five_open_close_cycles_leave_no_session_or_triage_alive(make_window, dataset, qtbot):
    w = make_window(None)
    sessions, triages = [], []
    for _ in range(5):
        assert w.open_dataset(dataset)
        qtbot.waitUntil(lambda: not w.state.loading, timeout=10000)
        press_keys(w, "N")  # select and decide: the undo stack and the writer hold the session meanwhile
        press_keys(w, "A")
        qtbot.waitUntil(lambda: w.session.pending == 0, timeout=5000)
        sessions.append(weakref.ref(w.session))
        triages.append(weakref.ref(w.triage))
        w.close_dataset()
    QApplication.processEvents()
    gc.collect()
    alive = [r for r in sessions + triages if r() is not None]
    assert not alive, f"{len(alive)} of 10 sessions/triage objects still alive after closing"
    assert w.session is None and w.triage is None and w.state.dataset is None and len(w.state.patches) == 0
