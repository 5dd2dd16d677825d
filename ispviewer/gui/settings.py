"""Persistent settings (QSettings, organisation "ispviewer"): layout, last dataset, overlays."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from ispviewer.dataset.manifest import MANIFEST_NAME

ORGANISATION = "ispviewer"
APPLICATION = "ispviewer"

GEOMETRY = "window/geometry"
STATE = "window/state"
LAST_DATASET = "dataset/last"
HEATMAP_OPACITY = "overlay/heatmap_opacity"
HEATMAP_FLOOR = "overlay/heatmap_floor_px"
HEATMAP_VISIBLE = "overlay/heatmap"
GRID_VISIBLE = "overlay/grid"
REVIEW_ANNOTATOR = "review/annotator"  # the person's name for decisions (ISPVIEWER_USER wins)
REVIEW_PATCH_SHARE = "review/n_zoom_share"  # N zooms in until the patch is this share of the pane


def open_settings() -> QSettings:
    """The user's settings (tests redirect them with QSettings.setPath / QStandardPaths test mode)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANISATION, APPLICATION)


def last_dataset() -> Path | None:
    """The last dataset opened, if it still holds a manifest."""
    last = open_settings().value(LAST_DATASET)
    if last and (Path(str(last)) / MANIFEST_NAME).is_file():
        return Path(str(last))
    return None


def read_bool(settings: QSettings, key: str, default: bool) -> bool:
    value = settings.value(key, default)
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)


def read_float(settings: QSettings, key: str, default: float) -> float:
    try:
        return float(settings.value(key, default))
    except (TypeError, ValueError):
        return default
