"""The window's actions: text, shortcuts and qtawesome icons in one table (also used by Help)."""

from __future__ import annotations

from dataclasses import dataclass

import qtawesome as qta
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget


@dataclass(frozen=True)
class ActionSpec:
    name: str
    text: str
    keys: tuple[str, ...]
    icon: str | None
    tip: str
    checkable: bool = False


SPECS = (
    ActionSpec("open", "&Open dataset…", ("Ctrl+O",), "mdi6.folder-open", "Open a dataset folder"),
    ActionSpec("find", "&Filter triplets…", ("Ctrl+F",), "mdi6.magnify",
               "Type in the triplet filter; Enter opens the first match, Esc goes back to the images"),
    ActionSpec("quit", "&Quit", ("Ctrl+Q",), "mdi6.exit-to-app", "Quit ispviewer"),
    ActionSpec("next_triplet", "&Next triplet", ("PgDown",), "mdi6.skip-next",
               "Next triplet in the browser's order (keeps the view)"),
    ActionSpec("prev_triplet", "&Previous triplet", ("PgUp",), "mdi6.skip-previous",
               "Previous triplet in the browser's order (keeps the view)"),
    ActionSpec("next_patch", "Next &queued patch", ("N",), "mdi6.chevron-double-down",
               "Select and centre the next open patch of the review queue in this triplet, then in the "
               "next triplet that has some"),
    ActionSpec("prev_patch", "Previous q&ueued patch", ("Shift+N",), "mdi6.chevron-double-up",
               "Select and centre the previous open patch of the review queue"),
    ActionSpec("accept", "&Accept patch", ("A",), "mdi6.check-bold", "Accept the selected patch"),
    ActionSpec("reject", "&Reject patch", ("R",), "mdi6.close-thick", "Reject the selected patch"),
    ActionSpec("flag", "&Flag patch", ("F",), "mdi6.flag", "Flag the selected patch for a second look"),
    ActionSpec("accept_reason", "Accept with reason…", ("Shift+A",), "mdi6.comment-check-outline",
               "Accept the selected patch and note why"),
    ActionSpec("reject_reason", "Reject with reason…", ("Shift+R",), "mdi6.comment-remove-outline",
               "Reject the selected patch and note why"),
    ActionSpec("flag_reason", "Flag with reason…", ("Shift+F",), "mdi6.comment-alert-outline",
               "Flag the selected patch and note why"),
    ActionSpec("zoom_100", "True &100%", ("1",), "mdi6.numeric-1-box-outline",
               "One image pixel per screen pixel (HiDPI aware)"),
    ActionSpec("zoom_fit", "&Fit", ("0",), "mdi6.fit-to-screen-outline", "Show the whole image"),
    ActionSpec("zoom_in", "Zoom &in", ("+", "=", "Ctrl++"), "mdi6.magnify-plus-outline", "Zoom in"),
    ActionSpec("zoom_out", "Zoom o&ut", ("-", "Ctrl+-"), "mdi6.magnify-minus-outline", "Zoom out"),
    ActionSpec("zoom_patch", "Zoom to &patch", ("Z",), "mdi6.image-filter-center-focus",
               "Zoom onto the selected patch"),
    ActionSpec("heatmap", "&Heatmap", ("H",), "mdi6.gradient-vertical", "Show the misalignment heatmap",
               checkable=True),
    ActionSpec("grid", "Patch &grid", ("G",), "mdi6.grid", "Show the patch grid coloured by status",
               checkable=True),
    ActionSpec("flicker", "A/B &flicker", ("C",), "mdi6.swap-horizontal",
               "One pane alternating between two sources (View ▸ Flicker pair; phone ISP ↔ target by "
               "default) at the same view, overlays hidden; C again stops", checkable=True),
    ActionSpec("side_by_side", "&Side by side", ("Shift+C",), "mdi6.view-column-outline",
               "Show the three panes side by side again"),
    ActionSpec("difference", "&Difference view", ("D",), "mdi6.contrast-box",
               "Show |phone ISP − target| and |network output − target| as colour maps", checkable=True),
    ActionSpec("load_weights", "Load network &weights…", ("Ctrl+Shift+O",), "mdi6.brain",
               "Render the output pane with another checkpoint"),
    ActionSpec("render_full", "&Render whole image", ("Ctrl+R",), "mdi6.play-box-outline",
               "Render the whole frame with the network in the background (progress in the status bar)"),
    ActionSpec("cancel_render", "&Cancel rendering", ("Esc",), "mdi6.stop-circle-outline",
               "Stop rendering the whole image"),
    ActionSpec("save_output", "&Save output image…", ("Ctrl+Shift+S",), "mdi6.content-save",
               "Save the whole rendered output as PNG, JPEG or TIFF"),
    ActionSpec("realign", "Re-&align triplet…", ("Ctrl+L",), "mdi6.vector-square",
               "Align the current triplet again (choose the patch size; current threshold) in the "
               "background; your decisions are kept"),
    ActionSpec("gallery", "Patch &gallery", ("V",), "mdi6.view-grid-outline",
               "Pages of the review queue's patches, phone and target side by side at 1:1 (V again: back)",
               checkable=True),
    ActionSpec("queue_worst", "Queue: &worst", ("Ctrl+1",), "mdi6.sort-descending",
               "Review queue: measurable patches, largest misalignment first", checkable=True),
    ActionSpec("queue_near-threshold", "Queue: &near the threshold", ("Ctrl+2",), "mdi6.target",
               "Review queue: misalignment within 0.3 px of the threshold, closest first", checkable=True),
    ActionSpec("queue_flagged", "Queue: &flagged", ("Ctrl+3",), "mdi6.flag-outline",
               "Review queue: unmeasurable and flagged patches, in reading order", checkable=True),
    ActionSpec("queue_audit", "Queue: &audit sample", ("Ctrl+4",), "mdi6.dice-multiple-outline",
               "Review queue: a random sample of the accepted patches (their share of bad ones is estimated)",
               checkable=True),
    ActionSpec("queue_options", "Queue &options…", ("Ctrl+5",), "mdi6.tune-variant",
               "Choose the review queue's band, audit seed, filters (phone, triplet names, split, illumination) "
               "and shard, and how far N zooms in"),
    ActionSpec("help", "&Keyboard shortcuts", ("F1",), "mdi6.help-circle-outline", "Show the shortcuts"),
)

#: Undo/redo come from the QUndoStack; listed here for the help table.
UNDO_KEYS = {"undo": ("Ctrl+Z",), "redo": ("Ctrl+Shift+Z", "Ctrl+Y")}


def icon(name: str | None):
    return qta.icon(name, color="#c8ccd2") if name else None


def build_actions(parent: QWidget) -> dict[str, QAction]:
    """Create every action of :data:`SPECS`, owned by ``parent`` (shortcuts live while it does)."""
    actions: dict[str, QAction] = {}
    for spec in SPECS:
        action = QAction(spec.text, parent)
        action.setObjectName(f"action_{spec.name}")
        action.setShortcuts([QKeySequence(k) for k in spec.keys])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        keys = ", ".join(spec.keys)
        action.setToolTip(f"{spec.tip} ({keys})")
        action.setStatusTip(spec.tip)
        action.setCheckable(spec.checkable)
        ic = icon(spec.icon)
        if ic is not None:
            action.setIcon(ic)
        parent.addAction(action)
        actions[spec.name] = action
    return actions


def decorate_undo(undo: QAction, redo: QAction) -> None:
    undo.setShortcuts([QKeySequence(k) for k in UNDO_KEYS["undo"]])
    redo.setShortcuts([QKeySequence(k) for k in UNDO_KEYS["redo"]])
    undo.setIcon(icon("mdi6.undo"))
    redo.setIcon(icon("mdi6.redo"))
    undo.setObjectName("action_undo")
    redo.setObjectName("action_redo")


def shortcut_table() -> list[tuple[str, str]]:
    """(keys, what they do) for the help dialog and the README."""
    rows = [(" / ".join(s.keys), s.text.replace("&", "").rstrip("…")) for s in SPECS if s.keys]
    rows.insert(12, (" / ".join(UNDO_KEYS["undo"]), "Undo the last decision or threshold change"))
    rows.insert(13, (" / ".join(UNDO_KEYS["redo"]), "Redo"))
    rows += [("mouse drag / wheel", "Pan / zoom all panes together"), ("click", "Select the patch under the mouse")]
    return rows
