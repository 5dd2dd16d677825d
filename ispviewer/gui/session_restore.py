"""Reopening a dataset where the person left it: the triplet, the view (centre and zoom), the
browser's filters and the review position (the selected patch, from which N / Shift+N go on).

:class:`SessionKeeper` follows the window state and the browser's filter boxes and writes them to
the dataset's :class:`~ispviewer.gui.dataset_memory.DatasetMemory` (debounced while the view
moves); :meth:`SessionKeeper.restore` puts them back when the dataset is opened again.
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from superqt.utils import qdebounced

from ispviewer.gui.dataset_memory import DatasetMemory
from ispviewer.gui.state import WindowState

SAVE_SETTLE_MS = 300


class SessionKeeper(QObject):
    """Remembers and restores one window's place in each dataset it opens."""

    def __init__(self, state: WindowState, browser, settings, parent: QObject | None = None):
        super().__init__(parent)
        self.state = state
        self.browser = browser
        self.settings = settings
        self.memory: DatasetMemory | None = None
        self._pending: dict | None = None  # what to put back once the remembered triplet is shown
        self._save_soon = qdebounced(self.save, timeout=SAVE_SETTLE_MS, parent=self)
        state.events.shown.connect(self._on_shown)
        state.events.selected.connect(self._changed)
        state.view.changed.connect(self._changed)
        browser.status_box.currentTextChanged.connect(self._changed)
        browser.phone_box.currentTextChanged.connect(self._changed)
        browser.search.textChanged.connect(self._changed)

    # ----------------------------------------------------------------- remembering

    def _changed(self, *_args) -> None:
        if self.memory is not None and self._pending is None:
            self._save_soon()

    def save(self) -> None:
        """Write the current place now (also called when the dataset is closed)."""
        m, s = self.memory, self.state
        if m is None or self._pending is not None or s.shown is None:
            return
        cx, cy = s.view.centre
        m.set("session", {
            "triplet": s.shown, "centre": [cx, cy], "zoom": s.view.zoom, "selected": s.selected,
            "filters": {"status": self.browser.status_box.currentText(),
                        "phone": self.browser.phone_box.currentText(), "text": self.browser.search.text()},
        })

    def attach(self, root) -> None:
        self.memory = DatasetMemory(self.settings, root)
        self._pending = None

    def detach(self) -> None:
        self._save_soon.cancel()
        self.save()
        self.memory = None
        self._pending = None

    # ----------------------------------------------------------------- restoring

    def restore(self) -> str | None:
        """Put the remembered filters back; returns the triplet to show (None: none remembered,
        or it is gone or filtered out).  Its view and selection follow once it is on screen."""
        saved = self.memory.get("session") if self.memory is not None else None
        if not isinstance(saved, dict):
            return None
        filters = saved.get("filters") or {}
        for box, key in ((self.browser.status_box, "status"), (self.browser.phone_box, "phone")):
            value = filters.get(key)
            if isinstance(value, str) and box.findText(value) >= 0:
                box.setCurrentText(value)
        if isinstance(filters.get("text"), str):
            self.browser.search.setText(filters["text"])
        name = saved.get("triplet")
        if name not in self.browser.visible_names():
            return None
        self._pending = saved
        return name

    def _on_shown(self, name: str | None) -> None:
        saved = self._pending
        if saved is None or name is None:
            if name is not None:
                self._changed()
            return
        self._pending = None
        if name != saved.get("triplet"):
            return  # the person went elsewhere before it arrived
        try:
            cx, cy = (float(v) for v in saved["centre"])
            self.state.view.set_view(cx, cy, float(saved["zoom"]))
        except (KeyError, TypeError, ValueError):
            pass
        selected = saved.get("selected")
        if isinstance(selected, int) and selected in self.state.patches:
            self.state.selected = selected


def recent_menu(parent_menu, settings, open_dataset):
    """File ▸ Recent datasets (a menu for ``parent_menu`` to insert): refilled each time it opens;
    a click opens that dataset."""
    from PySide6.QtWidgets import QMenu

    from ispviewer.gui.dataset_memory import recent_datasets

    menu = QMenu("&Recent datasets", parent_menu)
    menu.setObjectName("recentDatasets")

    def fill() -> None:
        menu.clear()
        paths = recent_datasets(settings)
        for path in paths:
            action = menu.addAction(f"{path.name}  —  {path.parent}")
            action.setData(str(path))
            action.triggered.connect(lambda _=False, p=path: open_dataset(p))
        if not paths:
            menu.addAction("(none yet)").setEnabled(False)

    menu.aboutToShow.connect(fill)
    fill()
    return menu
