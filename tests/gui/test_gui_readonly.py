"""A dataset on a folder this process cannot write opens read-only by itself, with a clear notice."""

import sys
from pathlib import Path

from guidata import db_row
from guihelpers import press_keys

_CORE_TESTS = str(Path(__file__).resolve().parents[1] / "core")
if _CORE_TESTS not in sys.path:
    sys.path.append(_CORE_TESTS)  # the reliability tests' helpers
from reliability_helpers import unwritable  # noqa: E402


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
