"""Tells the user how the manifest writes are going: saving, waiting for a lock, failed.

A write that failed (disk full, I/O error...) is shown in the banner and the status bar, and its
undo step is taken back off the undo stack (:func:`roll_back_failed_step`): with the session,
which re-reads the patch, the window then shows what the manifest holds.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel, QStatusBar

from ispviewer.gui.decisions import roll_back_failed_step
from ispviewer.gui.panels import Banner

#: A write still queued after this long is worth a visible notice.
SLOW_NOTICE_MS = 1500


class WriteStatus(QObject):
    """Shows the session's write state in the banner and the status bar."""

    all_saved = Signal()

    def __init__(self, banner: Banner, status_bar: QStatusBar, parent: QObject | None = None):
        super().__init__(parent)
        self.banner = banner
        self.status_bar = status_bar
        self.label = QLabel()
        status_bar.addPermanentWidget(self.label)
        self.session = None
        self.undo_stack = None
        self._failure = ""
        self._slow = QTimer(self, singleShot=True, interval=SLOW_NOTICE_MS)
        self._slow.timeout.connect(self._on_slow)

    def attach(self, session, undo_stack=None) -> None:
        """Follow ``session``'s writes; ``undo_stack`` (the window's) loses the steps whose write failed."""
        self.session = session
        self.undo_stack = undo_stack
        session.write_failed.connect(self._on_failed)
        session.write_blocked.connect(self._on_blocked)
        session.pending_changed.connect(self._on_pending)
        if session.writer is not None:
            session.writer.failed.connect(self._on_job_failed)

    def detach(self) -> None:
        self.session = None
        self.undo_stack = None
        self._slow.stop()
        self.label.clear()

    def _on_pending(self, count: int) -> None:
        self.label.setText(f"saving {count} decision(s)…" if count else "")
        if count:
            if not self._slow.isActive():
                self._slow.start()
            return
        self._slow.stop()
        if self.session is not None and not self.session.readonly:
            self.banner.show_text(None)
        self.all_saved.emit()

    def _on_slow(self) -> None:
        if self.session is not None and self.session.pending:
            self.banner.show_text(f"Waiting for the manifest: {self.session.pending} decision(s) not saved yet "
                                  "(another process may be writing it). Retrying; nothing is lost.")

    def _on_blocked(self, message: str) -> None:
        n = self.session.pending if self.session is not None else 0
        self.banner.show_text(f"The manifest is locked by another process ({message}). {n} decision(s) "
                              "wait and are retried every second; keep ispviewer open until this clears.")

    def _on_job_failed(self, job, _message: str) -> None:
        if (self.session is not None and self.undo_stack is not None
                and roll_back_failed_step(self.undo_stack, job) and self._failure):
            self.status_bar.showMessage(self._failure)  # the stack's own notice replaced it

    def _on_failed(self, message: str) -> None:
        self._failure = message
        self.status_bar.showMessage(message)
        self.banner.show_text(f"{message}. The window shows what the manifest holds; "
                              + ("free some disk space, then decide again." if "full" in message.lower()
                                 else "decide again once the problem is solved."))
