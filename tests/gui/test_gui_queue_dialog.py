"""Queue options… (Ctrl+5), driven with keys and clicks: the band, the audit seed and "include
auto-rejected", the filters and the shard make exactly the queue the Qt-free queue builder makes;
the status bar names the queue with its parameters; the choice is remembered per dataset; an
empty queue says so in the gallery; N's zoom share is a setting."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from guidata import PATCH, build_dataset
from guihelpers import press_keys
from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.review.filters import TripletSelection, shard_of
from ispviewer.dataset.review.queues import QueueKind, QueueSpec, build_queue
from ispviewer.gui import settings as keys


def open_dialog(qtbot, window):
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    press_keys(window, "Ctrl+5")
    dialog = window.review.queue_dialog
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible, timeout=5000)
    return dialog


def choose(combo, text):
    """Pick ``text`` in a combo box with the keyboard (arrows), as a user does."""
    combo.setFocus()
    target = combo.findText(text)
    assert target >= 0, text
    while combo.currentIndex() != target:
        QTest.keyClick(combo, Qt.Key.Key_Down if combo.currentIndex() < target else Qt.Key.Key_Up)


def type_into(widget, text):
    widget.setFocus()
    QTest.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(widget, text)


def click(qtbot, dialog, button):
    qtbot.mouseClick(dialog.buttons.button(button), Qt.MouseButton.LeftButton)
    QApplication.processEvents()


def expected(dataset, spec):
    with Manifest.open(dataset, readonly=True) as m:
        return build_queue(m, spec).patch_ids()


def test_band_makes_the_builders_near_threshold_queue(qtbot, window, dataset):
    dialog = open_dialog(qtbot, window)
    choose(dialog.kind, dialog.kind.itemText(dialog.kind.findData("near-threshold")))
    type_into(dialog.band, "0.1")
    click(qtbot, dialog, QDialogButtonBox.StandardButton.Ok)
    assert not dialog.isVisible()
    spec = QueueSpec(QueueKind.NEAR_THRESHOLD, band_px=0.1)
    review = window.state.review
    assert review.spec == spec
    assert review.queue.patch_ids() == expected(dataset, spec)
    assert len(review.queue) < len(build_queue(window.session.manifest, QueueSpec(QueueKind.NEAR_THRESHOLD)))
    assert "near-threshold ±0.1 px" in window.review.label.text()
    assert window.actions_["queue_near-threshold"].isChecked()
    press_keys(window, "Ctrl+1")  # the kind keys keep the other choices
    assert review.spec == QueueSpec(QueueKind.WORST, band_px=0.1)


def test_audit_seed_and_rejected_make_the_builders_sample(qtbot, window, dataset):
    dialog = open_dialog(qtbot, window)
    choose(dialog.kind, dialog.kind.itemText(dialog.kind.findData("audit")))
    assert dialog.seed.isEnabled() and not dialog.band.isEnabled()
    type_into(dialog.seed, "7")
    qtbot.mouseClick(dialog.audit_rejected, Qt.MouseButton.LeftButton)
    click(qtbot, dialog, QDialogButtonBox.StandardButton.Apply)
    spec = QueueSpec(QueueKind.AUDIT, seed=7, audit_rejected=True)
    assert window.state.review.spec == spec and dialog.isVisible()  # Apply keeps the dialog open
    ids = window.state.review.queue.patch_ids()
    assert ids == expected(dataset, spec)
    assert ids != expected(dataset, QueueSpec(QueueKind.AUDIT, seed=0, audit_rejected=True))
    with Manifest.open(dataset, readonly=True) as m:
        statuses = {m.patch(i).status.value for i in ids}
    assert statuses == {"accepted", "rejected"}
    assert "audit (seed 7, rejected too)" in window.review.label.text()
    click(qtbot, dialog, QDialogButtonBox.StandardButton.Cancel)


def test_filters_and_shard_make_the_builders_queue(qtbot, make_window, tmp_path):
    dataset = build_dataset(tmp_path / "ds")
    with Manifest.open(dataset) as m:
        m.assign_splits({"t01": "train", "t02": "test", "t03": "train", "t04": "train"})
    window = make_window(dataset)
    dialog = open_dialog(qtbot, window)
    assert "split" in dialog.columns and dialog.columns["split"].findText("train") >= 0
    choose(dialog.phone, "Apple iPhone 6s")
    click(qtbot, dialog, QDialogButtonBox.StandardButton.Apply)
    spec = QueueSpec(selection=TripletSelection(phone="Apple iPhone 6s"))
    assert window.state.review.spec == spec
    assert {window.session.patch(i).triplet for i in window.state.review.queue.patch_ids()} == {"t01", "t03"}
    type_into(dialog.pattern, "t0[34]")
    choose(dialog.phone, "any")
    choose(dialog.columns["split"], "train")
    type_into(dialog.shard_n, "2")
    names = {n for n in ("t03", "t04") if shard_of(n, 2) == 2}
    type_into(dialog.shard_k, "2")
    click(qtbot, dialog, QDialogButtonBox.StandardButton.Ok)
    spec = QueueSpec(selection=TripletSelection(name_pattern="t0[34]", columns=(("split", "train"),), shard=(2, 2)))
    review = window.state.review
    assert review.spec == spec
    assert review.queue.patch_ids() == expected(dataset, spec)
    assert {window.session.patch(i).triplet for i in review.queue.patch_ids()} == names
    assert "split train" in window.review.label.text() and "shard 2/2" in window.review.label.text()
    dialog = open_dialog(qtbot, window)
    assert dialog.spec() == spec  # the dialog opens on the active queue
    qtbot.mouseClick(dialog.include_decided, Qt.MouseButton.LeftButton)
    click(qtbot, dialog, QDialogButtonBox.StandardButton.Ok)
    assert window.state.review.spec.include_decided and "worst +decided [" in window.review.label.text()


def test_an_empty_queue_says_so_in_the_gallery(qtbot, window):
    dialog = open_dialog(qtbot, window)
    type_into(dialog.pattern, "no-such-triplet-*")
    click(qtbot, dialog, QDialogButtonBox.StandardButton.Ok)
    assert window.state.review.queue.empty
    press_keys(window, "V")
    g = window.review.gallery
    assert g.page_patches == []
    assert "empty" in g.header.text() and "Nothing to review" in g.empty_text()
    assert "empty" in window.review.label.text()


def test_the_queue_is_remembered_per_dataset(qtbot, make_window, tmp_path):
    first, second = build_dataset(tmp_path / "a"), build_dataset(tmp_path / "b")
    w = make_window(first)
    dialog = open_dialog(qtbot, w)
    choose(dialog.kind, dialog.kind.itemText(dialog.kind.findData("near-threshold")))
    type_into(dialog.band, "0.2")
    type_into(dialog.pattern, "t0*")
    click(qtbot, dialog, QDialogButtonBox.StandardButton.Ok)
    chosen = w.state.review.spec
    w.close()
    again = make_window(first)
    assert again.state.review.spec == chosen and again.actions_["queue_near-threshold"].isChecked()
    assert again.open_dataset(second)
    assert again.state.review.spec == QueueSpec(QueueKind.NEAR_THRESHOLD)  # the kind goes on, not the rest
    assert again.open_dataset(first)
    assert again.state.review.spec == chosen


def test_n_zooms_to_the_share_of_the_pane_the_setting_says(qtbot, make_window, dataset):
    settings = keys.open_settings()
    settings.setValue(keys.REVIEW_PATCH_SHARE, 0.5)
    settings.sync()
    w = make_window(dataset)
    assert w.review.min_patch_share == pytest.approx(0.5)
    press_keys(w, "0")  # fit: the patch shows small
    w.activateWindow()
    press_keys(w, "N")
    qtbot.waitUntil(lambda: w.triage.selected is not None, timeout=5000)
    pane = min(w.viewer.viewport_size())
    assert w.viewer.view_state.zoom == pytest.approx(0.5 * pane / PATCH)
    dialog = open_dialog(qtbot, w)
    assert dialog.share.value() == 50
    type_into(dialog.share, "25")
    click(qtbot, dialog, QDialogButtonBox.StandardButton.Ok)
    assert w.review.min_patch_share == pytest.approx(0.25)
    assert float(keys.open_settings().value(keys.REVIEW_PATCH_SHARE)) == pytest.approx(0.25)


def test_default_n_share_is_a_third_of_the_pane(window):
    assert window.review.min_patch_share == pytest.approx(1 / 3)
