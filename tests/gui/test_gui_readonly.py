"""A dataset on a folder this process cannot write opens read-only by itself, with a clear notice."""

import contextlib
import os
import shutil
import subprocess

import pytest
from guidata import db_row
from guihelpers import press_keys


@contextlib.contextmanager
def unwritable(*paths):
    """chmod where permissions bind; as root the immutable attribute (chattr +i); else skip."""
    modes = {p: p.stat().st_mode for p in paths}
    for p in paths:
        p.chmod(0o555 if p.is_dir() else 0o444)
    immutable = []
    try:
        if any(os.access(p, os.W_OK) for p in paths):
            if shutil.which("chattr") is None:
                pytest.skip("cannot make a folder unwritable here (root, no chattr)")
            for p in paths:
                if subprocess.run(["chattr", "+i", str(p)], capture_output=True).returncode != 0:
                    pytest.skip("cannot make a folder unwritable here (root without chattr +i)")
                immutable.append(p)
        yield
    finally:
        for p in immutable:
            subprocess.run(["chattr", "-i", str(p)], capture_output=True)
        for p, mode in modes.items():
            p.chmod(mode)


def test_unwritable_dataset_opens_read_only_with_a_notice(qtbot, make_window, dataset):
    files_before = sorted(p.name for p in dataset.iterdir())
    manifest_before = (dataset / "manifest.sqlite").read_bytes()
    with unwritable(dataset, dataset / "manifest.sqlite"):
        w = make_window(dataset)  # not asked for read-only: the folder decides
        assert w.session.readonly
        assert w.banner.isVisible() and "Read-only dataset" in w.banner.label.text()
        assert str(dataset) in w.banner.label.text() and "cannot be written" in w.banner.label.text()
        assert "[read-only]" in w.windowTitle()
        assert not w.actions_["reject"].isEnabled() and not w.histogram.apply_button.isEnabled()
        press_keys(w, "N")
        patch = w.triage.selected
        assert patch is not None and w.viewer.panes["phone"].pyramid is not None  # viewing works
        press_keys(w, "R")
        assert w.triage.selected.status == patch.status and w.undo_stack.count() == 0
        w.close()
    assert sorted(p.name for p in dataset.iterdir()) == files_before  # no -wal, -shm or journal
    assert (dataset / "manifest.sqlite").read_bytes() == manifest_before
    assert db_row(dataset, patch.id)[0] == patch.status.value
