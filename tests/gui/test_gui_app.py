"""Entry points, settings, help, overlays and the screenshot mode."""

import argparse
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QTableWidget

from guihelpers import press_keys
from ispviewer.gui import commands
from ispviewer.gui import settings as keys
from ispviewer.gui.panels import ShortcutDialog
from ispviewer.gui.sources import OUTPUT, PHONE, TARGET


def test_open_subcommand_is_registered():
    parser = argparse.ArgumentParser(prog="ispviewer")
    commands.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["open", "DS", "--screenshot", "out.png", "--read-only"])
    assert args.func is commands.run_open
    assert (str(args.dataset), str(args.screenshot), args.readonly) == ("DS", "out.png", True)


def test_open_refuses_a_folder_without_manifest(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="ispviewer")
    commands.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["open", str(tmp_path)])
    assert args.func(args) == 2
    assert "no ispviewer dataset here" in capsys.readouterr().err


def test_screenshot_renders_offscreen_and_exits(dataset, tmp_path):
    png = tmp_path / "shot.png"
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"))
    env.pop("QT_QPA_PLATFORM", None)  # --screenshot must select offscreen by itself
    code = ("import sys\nfrom ispviewer.gui.commands import register\nimport argparse\n"
            "p = argparse.ArgumentParser(); register(p.add_subparsers())\n"
            f"a = p.parse_args(['open', {str(dataset)!r}, '--screenshot', {str(png)!r}])\n"
            "sys.exit(a.func(a))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    image = cv2.imread(str(png))
    assert image is not None and image.shape[:2] == (1000, 1680)
    assert image.std() > 10  # not a blank window
    assert (tmp_path / "config" / "ispviewer" / "ispviewer.ini").is_file()  # settings went to XDG_CONFIG_HOME


def test_settings_persist_in_the_isolated_location(make_window, dataset, isolated_settings, qtbot):
    w = make_window(dataset)
    w.overlay_controls.opacity.setValue(73)
    press_keys(w, "G")
    w.close()
    files = list(isolated_settings.rglob("*.ini"))
    assert files and all(isolated_settings in f.parents for f in files)
    w2 = make_window(None)
    assert w2.overlay_controls.opacity.value() == 73
    assert w2.state.overlays.heatmap_opacity == pytest.approx(0.73)
    assert all(ov.heatmap.opacity() == pytest.approx(0.73) for ov in w2.viewer.overlays.values())
    assert not w2.actions_["grid"].isChecked()
    assert w2.settings.value(keys.LAST_DATASET) == str(dataset.resolve())


def test_help_lists_every_shortcut(window):
    """The help the user sees (the dialog's table) names every action with the shortcuts its
    QAction really has, and nothing else."""
    press_keys(window, "F1")
    dialogs = [d for d in QApplication.topLevelWidgets() if isinstance(d, ShortcutDialog) and d.isVisible()]
    assert dialogs, "F1 did not open the shortcut dialog"
    grid = dialogs[0].findChild(QTableWidget)
    shown = {grid.item(r, 0).text(): grid.item(r, 1).text() for r in range(grid.rowCount())}
    actions = dict(window.actions_, undo=window.undo_action, redo=window.redo_action)
    for name, action in actions.items():
        keys_ = " / ".join(k.toString(QKeySequence.SequenceFormat.PortableText) for k in action.shortcuts())
        assert keys_ in shown, f"the help does not list {name}'s shortcut {keys_}"
        if name in window.actions_:  # undo/redo texts change with the stack ("Undo accept patch")
            assert shown[keys_] == action.text().replace("&", "").rstrip("…"), name
    assert shown["Ctrl+Z"] == "Undo the last decision or threshold change"
    mouse = {"mouse drag / wheel", "click"}
    assert mouse <= shown.keys() and len(shown) == len(actions) + len(mouse)  # no row without its action
    for d in dialogs:
        d.close()


def test_every_action_has_an_icon_and_a_shortcut(window):
    for name, action in window.actions_.items():
        assert not action.icon().isNull(), name
        assert action.shortcuts(), name
    assert not window.undo_action.icon().isNull() and window.undo_action.shortcuts()


def test_overlays_heatmap_from_the_aligner_and_toggles(window):
    ov = window.viewer.overlays[TARGET]
    assert ov.heatmap.isVisible() and ov.grid.isVisible()
    rect = ov.heatmap.mapRectToParent(ov.heatmap.boundingRect())
    assert (rect.x(), rect.y(), rect.width(), rect.height()) == pytest.approx((-0.5, -0.5, 320, 240))
    assert ov.heatmap.image.shape[:2] == (60, 80)  # the aligner's 1/4-scale heatmap, not the patch grid
    assert ov.heatmap.image[0, 0, 3] == 0  # NaN is transparent
    assert not window.viewer.overlays[OUTPUT].grid.isVisible()  # nothing to outline on an empty pane
    press_keys(window, "H")
    assert not ov.heatmap.isVisible() and not window.viewer.colorbar.isVisible()
    press_keys(window, "G")
    assert not ov.grid.isVisible()
    press_keys(window, "H")
    press_keys(window, "G")
    assert ov.heatmap.isVisible() and ov.grid.isVisible()
    window.overlay_controls.opacity.setValue(20)
    assert ov.heatmap.opacity() == pytest.approx(0.2)


def test_output_pane_placeholder_and_grid_is_one_item_per_group(window):
    out = window.viewer.panes[OUTPUT]
    # the dataset's raws are empty files: the output pane says why it is empty (weights or raw)
    assert out.pyramid is None and out.message.isVisible() and out.message.text()
    items = window.viewer.panes[PHONE].view_box.addedItems
    assert len(items) == 4  # image, heatmap, grid, selection — not one item per patch
    grid = window.viewer.overlays[PHONE].grid
    assert 1 <= len(grid.grid.groups) <= 6  # one path per (status, decider) group
    segments = sum(p.elementCount() for _, _, p in grid.grid.groups) // 2
    assert segments < 70 * 4 // 2  # shared edges merged into runs, far fewer than 4 per patch


def test_zoom_to_patch(window):
    press_keys(window, "N")
    press_keys(window, "Z")
    p = window.triage.selected
    x, y, w, h = window.viewer.panes[PHONE].visible_rect()
    assert x <= p.x - 0.5 and y <= p.y - 0.5 and x + w >= p.x + p.size - 0.5 and y + h >= p.y + p.size - 0.5
    assert min(w, h) <= p.size * 1.6
    assert np.isfinite(window.viewer.view_state.zoom)


def _open_without_dataset(tmp_path, png):
    """`ispviewer open --screenshot PNG` (no DATASET) in a child with its own XDG folders."""
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"))
    out = subprocess.run([sys.executable, "-m", "ispviewer", "open", "--screenshot", str(png)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    ini = tmp_path / "config" / "ispviewer" / "ispviewer.ini"
    return ini.read_text()


def test_open_without_a_dataset_opens_the_demo_when_nothing_was_opened_before(dataset, tmp_path):
    import shutil

    demo = tmp_path / "data" / "ispviewer" / "demo"
    shutil.copytree(dataset, demo)  # an already built demo: the app must open it, not rebuild it
    ini = _open_without_dataset(tmp_path, tmp_path / "shot.png")
    assert str(demo) in ini  # it became the last dataset


def test_open_without_a_dataset_reopens_the_last_one(dataset, tmp_path):
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"))
    out = subprocess.run([sys.executable, "-m", "ispviewer", "open", str(dataset), "--screenshot",
                          str(tmp_path / "first.png")], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    ini = _open_without_dataset(tmp_path, tmp_path / "second.png")
    assert str(dataset.resolve()) in ini
    assert not (tmp_path / "data" / "ispviewer" / "demo").exists()  # no demo built: the last one opened


def test_bare_ispviewer_runs_open_without_a_dataset(monkeypatch):
    from ispviewer import cli

    seen = []
    monkeypatch.setattr(commands, "run_open", lambda args: seen.append(args.dataset) or 0)
    assert cli.main([]) == 0
    assert seen == [None]
