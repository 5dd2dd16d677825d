"""What the window remembers per dataset (QSettings, one group per dataset folder) and the list of
recently opened datasets.

Per dataset: the triplet last shown, the view (centre, zoom), the browser's filters, the review
queue position (the selected patch) and the reasons typed in the reason dialog.  Keys are grouped
under a digest of the dataset's resolved path, so two datasets never share their memory.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from PySide6.QtCore import QSettings

RECENT_KEY = "dataset/recent"
RECENT_MAX = 8
REASONS_MAX = 12


def _group(root: Path) -> str:
    digest = hashlib.sha1(str(Path(root).resolve()).encode("utf-8")).hexdigest()[:16]
    return f"datasets/{digest}"


class DatasetMemory:
    """Read and write one dataset's remembered values (plain JSON-able values)."""

    def __init__(self, settings: QSettings, root: Path):
        self.settings = settings
        self.root = Path(root)
        self._group = _group(root)

    def get(self, key: str, default=None):
        raw = self.settings.value(f"{self._group}/{key}")
        if raw is None:
            return default
        try:
            return json.loads(str(raw))
        except (TypeError, ValueError):
            return default

    def set(self, key: str, value) -> None:
        self.settings.setValue(f"{self._group}/{key}", json.dumps(value))

    # ----------------------------------------------------------------- reasons

    def reasons(self) -> list[str]:
        """Free-text reasons typed for this dataset, most recent first."""
        value = self.get("reasons", [])
        return [str(v) for v in value] if isinstance(value, list) else []

    def remember_reason(self, preset: str | None, text: str) -> None:
        if preset:
            self.set("reason_preset", preset)
        text = text.strip()
        if text:
            self.set("reasons", ([text] + [r for r in self.reasons() if r != text])[:REASONS_MAX])

    def last_preset(self) -> str | None:
        value = self.get("reason_preset")
        return str(value) if value else None


def recent_datasets(settings: QSettings) -> list[Path]:
    """Recently opened datasets, most recent first, those whose manifest still exists."""
    try:
        names = json.loads(str(settings.value(RECENT_KEY, "[]")))
    except (TypeError, ValueError):
        names = []
    return [Path(n) for n in names if isinstance(n, str) and (Path(n) / "manifest.sqlite").is_file()]


def add_recent(settings: QSettings, root: Path) -> list[Path]:
    root = Path(root).resolve()
    paths = [root] + [p for p in recent_datasets(settings) if p.resolve() != root]
    settings.setValue(RECENT_KEY, json.dumps([str(p) for p in paths[:RECENT_MAX]]))
    return paths[:RECENT_MAX]
