"""The main window's menus and toolbar: which actions go where, in what order.

:func:`build_menus` fills a :class:`~ispviewer.gui.main_window.MainWindow`'s menu bar and toolbar
from its actions, its undo/redo actions and its docks, adds File ▸ Recent datasets and
View ▸ Flicker pair, and returns those two for the window to keep.
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu

from ispviewer.gui.compare import FLICKER_PAIRS
from ispviewer.gui.gallery_toolbar import tiles_menu
from ispviewer.gui.session_restore import recent_menu
from ispviewer.gui.viewer import PANE_TITLES

#: menu title -> action names (None: a separator); "undo"/"redo" are the undo stack's own actions
MENUS: dict[str, list[str | None]] = {
    "&File": ["open", "load_weights", "save_output", None, "quit"],
    "&Edit": ["undo", "redo", None, "accept", "reject", "flag", None, "accept_reason", "reject_reason",
              "flag_reason"],
    "&Navigate": ["next_triplet", "prev_triplet", None, "next_patch", "prev_patch", None, "queue_worst",
                  "queue_near-threshold", "queue_flagged", "queue_audit", "queue_options", None, "find"],
    "&View": ["gallery", None, "zoom_fit", "zoom_100", "zoom_in", "zoom_out", "zoom_patch", None,
              "heatmap", "grid", None, "flicker", "side_by_side", "difference"],
    "&Tools": ["render_full", "cancel_render", None, "realign"],
}
TOOLBAR: tuple[str | None, ...] = (
    "open", None, "prev_triplet", "next_triplet", None, "zoom_fit", "zoom_100", "zoom_in", "zoom_out",
    "zoom_patch", None, "heatmap", "grid", None, "flicker", "difference", "render_full", None, "prev_patch",
    "next_patch", "undo", "redo", "accept", "reject", "flag",
)


def build_menus(window) -> tuple[QMenu, dict[tuple[str, str], QAction]]:
    """Menus and toolbar of ``window``; returns (File ▸ Recent datasets, the flicker-pair actions)."""
    actions = dict(window.actions_, undo=window.undo_action, redo=window.redo_action)
    recent, pairs = None, {}
    for title, items in MENUS.items():
        menu = window.menuBar().addMenu(title)
        for item in items:
            if item is None:
                menu.addSeparator()
            else:
                menu.addAction(actions[item])
        if title == "&File":
            recent = recent_menu(menu, window.settings, window.open_dataset)
            menu.insertMenu(actions["load_weights"], recent)
        if title == "&View":
            pairs = flicker_pair_menu(menu, window.state, window)
            tiles_menu(menu, window.review.tile_actions)
            menu.addSeparator()
            for dock in window.docks.values():
                menu.addAction(dock.toggleViewAction())
    window.menuBar().addMenu("&Help").addAction(actions["help"])
    toolbar = window.addToolBar("Main")
    toolbar.setObjectName("toolbar_main")
    for item in TOOLBAR:
        toolbar.addSeparator() if item is None else toolbar.addAction(actions[item])
    return recent, pairs


def flicker_pair_menu(menu: QMenu, state, owner) -> dict[tuple[str, str], QAction]:
    """View ▸ Flicker pair: which two sources the A/B flicker alternates, kept in step with the state."""
    sub = menu.addMenu("Flicker &pair")
    group = QActionGroup(owner)
    pairs: dict[tuple[str, str], QAction] = {}
    for pair in FLICKER_PAIRS:
        action = sub.addAction(" ↔ ".join(PANE_TITLES[k] for k in pair))
        action.setCheckable(True)
        action.setChecked(pair == state.compare.flicker_pair)
        action.triggered.connect(lambda _=False, p=pair: setattr(state.compare, "flicker_pair", p))
        group.addAction(action)
        pairs[pair] = action
    state.compare.events.flicker_pair.connect(lambda p: pairs[tuple(p)].setChecked(True))
    return pairs
