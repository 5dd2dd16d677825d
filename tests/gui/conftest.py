"""Fixtures for GUI tests: a tiny real-format dataset, isolated settings, the real window."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from guidata import build_dataset


@pytest.fixture
def dataset(tmp_path) -> Path:
    return build_dataset(tmp_path / "ds")


@pytest.fixture(autouse=True)
def no_shipped_weights(tmp_path, monkeypatch):
    """GUI tests choose their own checkpoints: the shipped weights (if present) are not loaded, so
    a test window does not start rendering its raws in the background unless the test asks."""
    monkeypatch.setenv("ISPVIEWER_WEIGHTS", str(tmp_path / "no-shipped-weights.pt"))


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path):
    """Never touch the user's settings: QSettings and QStandardPaths point into tmp_path."""
    from PySide6.QtCore import QSettings, QStandardPaths

    QStandardPaths.setTestModeEnabled(True)
    folder = str(tmp_path / "settings")
    for fmt in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, folder)
    return Path(folder)


@pytest.fixture
def make_window(qtbot):
    """Factory: the real main window, shown offscreen, optionally with a dataset open."""
    from PySide6.QtWidgets import QApplication

    from ispviewer.gui.app import configure_app, create_window

    configure_app(QApplication.instance())
    windows = []

    def make(dataset: Path | None = None, size=(1500, 900)):
        w = create_window(None)
        w.resize(*size)
        w.show()
        qtbot.waitExposed(w)
        if dataset is not None:
            assert w.open_dataset(dataset)
            qtbot.waitUntil(lambda: not w.state.loading and not w.histogram_refresher.pending
                            and not w.browser.checking_files, timeout=10000)
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.close()
        w.deleteLater()
    QApplication.processEvents()
    # delete the windows now, not whenever a later test happens to spin an event loop: one full run in
    # three crashed inside a later test's close() (test_gui_readonly), all worker threads idle
    from PySide6.QtCore import QEvent

    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture
def window(make_window, dataset):
    return make_window(dataset)
