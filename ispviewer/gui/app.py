"""Application setup and the entry point the CLI calls: :func:`run_app`."""

from __future__ import annotations

import os
import sys
import time
from importlib import resources

SCREENSHOT_SIZE = (1680, 1000)
SCREENSHOT_TIMEOUT_S = 60.0


def _dark_palette():
    from PySide6.QtGui import QColor, QPalette

    p = QPalette()
    colours = {
        QPalette.ColorRole.Window: "#28292c", QPalette.ColorRole.WindowText: "#e8eaed",
        QPalette.ColorRole.Base: "#1f2023", QPalette.ColorRole.AlternateBase: "#2d2e31",
        QPalette.ColorRole.ToolTipBase: "#303134", QPalette.ColorRole.ToolTipText: "#e8eaed",
        QPalette.ColorRole.Text: "#e8eaed", QPalette.ColorRole.Button: "#303134",
        QPalette.ColorRole.ButtonText: "#e8eaed", QPalette.ColorRole.Highlight: "#1a73e8",
        QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.Link: "#8ab4f8",
        QPalette.ColorRole.PlaceholderText: "#9aa0a6",
    }
    for role, colour in colours.items():
        p.setColor(role, QColor(colour))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#6f7378"))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#6f7378"))
    return p


def configure_app(app) -> None:
    """Style, palette and names shared by the real app, the screenshot and the tests."""
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
    app.setOrganizationName("ispviewer")
    app.setApplicationName("ispviewer")
    app.setStyle("Fusion")
    app.setPalette(_dark_palette())
    try:
        app.setStyleSheet(resources.files("ispviewer.resources").joinpath("style.qss").read_text("utf-8"))
    except (OSError, ModuleNotFoundError):
        pass


def create_window(dataset: str | os.PathLike | None = None, readonly: bool = False):
    """Build the main window (QApplication must exist) and open ``dataset`` if given."""
    from ispviewer.gui.main_window import MainWindow
    from ispviewer.gui.settings import open_settings

    window = MainWindow(open_settings())
    if dataset is not None:
        window.open_dataset(dataset, readonly=readonly)
    return window


def wait_for_tiles(window, app, timeout_s: float = SCREENSHOT_TIMEOUT_S) -> bool:
    """Process events until every tile of the gallery's page is painted."""
    gallery = window.review.gallery
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app.processEvents()
        if (all(gallery.tiles.tile(p.id) is not None for p in gallery.page_patches)
                and gallery.panels.settled(gallery.page_patches)):  # and the extras the tile options ask for
            for _ in range(5):
                app.processEvents()
            return True
        time.sleep(0.01)
    return False


def wait_until_shown(window, app, timeout_s: float = SCREENSHOT_TIMEOUT_S) -> bool:
    """Process events until the current triplet is on screen (or there is nothing to load),
    including the network output when weights are available."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app.processEvents()
        tools = getattr(window, "tools", None)
        if not window.state.loading and (tools is None or tools.settled):
            for _ in range(5):
                app.processEvents()
            return True
        time.sleep(0.01)
    return False


def run_app(dataset: str | os.PathLike | None = None, screenshot: str | os.PathLike | None = None,
            readonly: bool = False, gallery: bool = False) -> int:
    """Run the viewer on ``dataset`` (None: the last dataset, if it still exists).

    With ``screenshot``, render the window offscreen, save it as PNG and exit (status 0 when saved).
    ``readonly`` opens the dataset for viewing only (decisions disabled); ``gallery`` starts in the
    patch gallery.
    """
    if screenshot is not None:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before the QApplication exists
    from PySide6.QtWidgets import QApplication

    from ispviewer.gui.settings import last_dataset

    app = QApplication.instance() or QApplication(sys.argv[:1])
    configure_app(app)
    if dataset is None:
        dataset = last_dataset()
    window = create_window(None)
    if screenshot is not None:
        window.resize(*SCREENSHOT_SIZE)
    window.show()
    if dataset is not None:
        window.open_dataset(dataset, readonly=readonly)
        if gallery and window.actions_["gallery"].isEnabled():
            window.actions_["gallery"].setChecked(True)
    if screenshot is None:
        status = app.exec()
        return int(status)
    ready = wait_until_shown(window, app) and (not gallery or wait_for_tiles(window, app))
    if not ready:
        print(f"ispviewer: the triplet did not load within {SCREENSHOT_TIMEOUT_S:.0f} s", file=sys.stderr)
    saved = window.grab().save(str(screenshot), "PNG")
    window.close()
    app.processEvents()
    if not saved:
        print(f"ispviewer: could not write the screenshot to {screenshot}", file=sys.stderr)
        return 1
    print(f"screenshot saved to {screenshot}")
    return 0
