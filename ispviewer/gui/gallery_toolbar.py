"""The gallery's toolbar and View ▸ Gallery tiles: which extras the tiles show, and the queue.

The three tile options (network output, difference, heatmap) are checkable actions bound to the
window state's :class:`~ispviewer.gui.gallery_options.TileOptions`; the toolbar over the tiles
and the View menu share them, and the settings remember them (:func:`restore_options`,
:func:`save_options`).  The toolbar also carries Queue… (the queue dialog).
"""

from __future__ import annotations

import qtawesome as qta
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QToolBar, QWidget

from ispviewer.gui import settings as keys
from ispviewer.gui.gallery_options import OPTION_TEXT, OPTION_TIPS, TileOptions
from ispviewer.gui.panels import bind_check

ICONS = {"output": "mdi6.brain", "difference": "mdi6.contrast-box", "heatmap": "mdi6.gradient-vertical"}
SETTING_KEYS = {name: f"gallery/tile_{name}" for name in OPTION_TEXT}


def tile_actions(options: TileOptions, parent: QWidget) -> dict[str, QAction]:
    """A checkable action per tile option, kept in step with ``options``."""
    actions = {}
    for name, text in OPTION_TEXT.items():
        action = QAction(qta.icon(ICONS[name], color="#c8ccd2"), text, parent)
        action.setObjectName(f"action_gallery_{name}")
        action.setCheckable(True)
        action.setToolTip(OPTION_TIPS[name])
        action.setStatusTip(OPTION_TIPS[name])
        bind_check(action, options, name)
        actions[name] = action
    return actions


def gallery_toolbar(actions: dict[str, QAction], queue_action: QAction) -> QToolBar:
    """The row over the tiles: the tile options, then Queue…."""
    bar = QToolBar("Gallery")
    bar.setObjectName("galleryToolbar")
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    bar.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keyboard stays with the tiles
    for action in actions.values():
        bar.addAction(action)
    bar.addSeparator()
    bar.addAction(queue_action)
    for button in bar.findChildren(QWidget):
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    return bar


def tiles_menu(menu: QMenu, actions: dict[str, QAction]) -> QMenu:
    """View ▸ Gallery tiles."""
    sub = menu.addMenu("Gallery &tiles")
    sub.setObjectName("galleryTilesMenu")
    for action in actions.values():
        sub.addAction(action)
    return sub


def restore_options(settings: QSettings, options: TileOptions) -> None:
    for name, key in SETTING_KEYS.items():
        setattr(options, name, keys.read_bool(settings, key, getattr(options, name)))


def save_options(settings: QSettings, options: TileOptions) -> None:
    for name, key in SETTING_KEYS.items():
        settings.setValue(key, bool(getattr(options, name)))
