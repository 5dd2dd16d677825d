"""The reason dialog of Shift+A / Shift+R / Shift+F: a preset reason, free text, or both.

Presets name what usually spoils a patch pair (Alt+1–6 pick them); the free-text box completes
from the reasons typed before for this dataset, and the preset chosen last is preselected.  The
reason written is ``"preset"``, ``"preset: text"`` or ``"text"``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from ispviewer.dataset.records import Status
from ispviewer.gui.dataset_memory import DatasetMemory

PRESET_REASONS = ("blur", "moving object", "exposure/clipping", "occlusion/parallax", "noise", "other")


def compose_reason(preset: str | None, text: str) -> str | None:
    """The reason stored in the manifest (None when nothing was chosen or typed)."""
    text = text.strip()
    if preset and text:
        return f"{preset}: {text}"
    return preset or text or None


class ReasonDialog(QDialog):
    """Asks why; ``chosen(reason)`` on OK (window-modal, opened with :meth:`open`)."""

    chosen = Signal(str)

    def __init__(self, status: Status, memory: DatasetMemory | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.memory = memory
        self.setObjectName("reasonDialog")
        self.setWindowTitle(f"{Status(status).value.capitalize()} with reason")
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QRadioButton] = {}
        grid = QGridLayout()
        for i, name in enumerate(PRESET_REASONS):
            button = QRadioButton(f"{i + 1}  {name}")
            button.setObjectName(f"reason_{name}")
            self.group.addButton(button, i)
            self.buttons[name] = button
            grid.addWidget(button, i // 2, i % 2)
            # Alt+digit: works while the details box has the keys (a plain digit is typed there)
            QShortcut(QKeySequence(f"Alt+{i + 1}"), self, button.click)
        last = memory.last_preset() if memory is not None else None
        if last in self.buttons:
            self.buttons[last].setChecked(True)
        self.text = QLineEdit()
        self.text.setObjectName("reasonText")
        self.text.setPlaceholderText("details (optional)")
        earlier = memory.reasons() if memory is not None else []
        if earlier:
            completer = QCompleter(earlier, self)
            completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
            self.text.setCompleter(completer)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Why? (Alt+1–6 pick a preset; type details below)"))
        layout.addLayout(grid)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.text.setFocus()

    @property
    def preset(self) -> str | None:
        button = self.group.checkedButton()
        return None if button is None else PRESET_REASONS[self.group.id(button)]

    @property
    def reason(self) -> str | None:
        return compose_reason(self.preset, self.text.text())

    def accept(self) -> None:
        reason = self.reason
        if reason is None:
            self.text.setPlaceholderText("pick a preset or type a reason")
            return  # nothing to write: stay open
        if self.memory is not None:
            self.memory.remember_reason(self.preset, self.text.text())
        super().accept()
        self.chosen.emit(reason)
