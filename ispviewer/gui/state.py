"""What the window shows, in one Qt-free model: every view draws from it and writes gestures back.

``WindowState`` holds the open dataset, the current triplet (and whether it is on screen yet), its
patches (:class:`PatchSet`, the one copy every view draws from), the selected patch, the shared view
of the phone frame (:class:`ViewState`), the overlay switches (:class:`OverlayState`) and the
comparison mode (:class:`CompareState`).  Every field change is a typed psygnal event:

    state.events.selected.connect(on_selected)          # (new patch id | None, old)
    state.overlays.events.grid_visible.connect(on_grid)  # (new bool, old)
    state.patches.changed.connect(on_patch)              # (new, old) PatchRecord: a decision
    state.view.changed.connect(repaint)                  # centre or zoom moved

A view takes the state in its constructor, subscribes one handler per field it draws, and writes a
user's gesture back to the state inside ``events.<field>.blocked()`` where its own widget already
shows the new value (so nothing echoes).  Nothing here imports Qt: the model is tested without a
display, and the dataset-wide review queue position belongs here next to the selection.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

from psygnal import Signal, SignalGroupDescriptor

from ispviewer.dataset.records import DecisionEvent, PatchRecord, TripletRecord
from ispviewer.dataset.rules import DEFAULT_THRESHOLD_PX
from ispviewer.gui.gallery_options import TileOptions
from ispviewer.gui.heatmap_style import DEFAULT_FLOOR_PX
from ispviewer.gui.review_state import ReviewState

MIN_ZOOM = 1.0 / 256.0
MAX_ZOOM = 128.0


class Dataset(Protocol):
    """What views may read from the open dataset (the GUI's session provides it)."""

    @property
    def root(self) -> Path: ...
    @property
    def readonly(self) -> bool: ...
    @property
    def threshold_px(self) -> float: ...
    def history(self, patch_id: int) -> list[DecisionEvent]: ...
    def resolve(self, relative: str) -> Path: ...


class PatchSet:
    """The current triplet's patches, by id: the one copy the grid, heatmap, inspector and triage use.

    ``reset`` follows a new set (another triplet, or re-read after a threshold); ``changed`` one patch
    (a decision, possibly not written yet).  ``prebuilt`` is an opaque drawing of exactly the current
    patches made off the GUI thread (the loader's grid), which a view may use instead of building one.
    """

    reset = Signal()
    changed = Signal(PatchRecord, PatchRecord)  # new, old

    def __init__(self) -> None:
        self.triplet_id: int | None = None
        self.prebuilt: object | None = None
        self._by_id: dict[int, PatchRecord] = {}

    def replace(self, triplet_id: int | None, patches: list[PatchRecord], prebuilt: object | None = None) -> None:
        self.triplet_id = triplet_id
        self.prebuilt = prebuilt
        self._by_id = {p.id: p for p in patches}
        self.reset.emit()

    def update(self, patch: PatchRecord) -> bool:
        """Replace one patch of the current triplet (False, and no event, if it is not one)."""
        old = self._by_id.get(patch.id)
        if old is None:
            return False
        self._by_id[patch.id] = patch
        self.prebuilt = None
        self.changed.emit(patch, old)
        return True

    def get(self, patch_id: int | None) -> PatchRecord | None:
        return None if patch_id is None else self._by_id.get(patch_id)

    def as_dict(self) -> dict[int, PatchRecord]:
        return dict(self._by_id)

    def __contains__(self, patch_id: object) -> bool:
        return patch_id in self._by_id

    def __iter__(self) -> Iterator[PatchRecord]:
        return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)


class ViewState:
    """Centre (phone-frame px) and zoom (device px per phone-frame px) that every image pane shows.

    Panes never talk to each other: a gesture in any pane changes this object, and each pane maps
    it to its own viewport, so panes of equal size show exactly the same phone-frame rectangle.
    """

    changed = Signal()

    def __init__(self) -> None:
        self._cx = 0.0
        self._cy = 0.0
        self._zoom = 1.0

    @property
    def centre(self) -> tuple[float, float]:
        return self._cx, self._cy

    @property
    def zoom(self) -> float:
        """Device pixels per phone-frame pixel (1.0 is true 100%)."""
        return self._zoom

    def rect(self, viewport_w: float, viewport_h: float) -> tuple[float, float, float, float]:
        """(x, y, w, h) of the phone frame visible in a viewport of the given device-pixel size."""
        w = viewport_w / self._zoom
        h = viewport_h / self._zoom
        return self._cx - w / 2.0, self._cy - h / 2.0, w, h

    def set_view(self, cx: float, cy: float, zoom: float | None = None) -> None:
        zoom = self._zoom if zoom is None else min(MAX_ZOOM, max(MIN_ZOOM, float(zoom)))
        if (cx, cy, zoom) == (self._cx, self._cy, self._zoom):
            return
        self._cx, self._cy, self._zoom = float(cx), float(cy), zoom
        self.changed.emit()

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the view by (dx, dy) phone-frame pixels."""
        self.set_view(self._cx + dx, self._cy + dy)

    def zoom_about(self, factor: float, ax: float, ay: float) -> None:
        """Zoom by ``factor`` keeping the phone-frame point (ax, ay) where it is on screen."""
        new = min(MAX_ZOOM, max(MIN_ZOOM, self._zoom * factor))
        keep = self._zoom / new
        self.set_view(ax + (self._cx - ax) * keep, ay + (self._cy - ay) * keep, new)

    def zoom_by(self, factor: float) -> None:
        self.zoom_about(factor, self._cx, self._cy)

    def show_rect(self, x: float, y: float, w: float, h: float, viewport_w: float, viewport_h: float,
                  max_zoom: float = MAX_ZOOM) -> None:
        """Centre the rectangle and zoom so that it just fits the viewport (device px)."""
        if w <= 0 or h <= 0 or viewport_w <= 0 or viewport_h <= 0:
            return
        zoom = min(viewport_w / w, viewport_h / h, max_zoom)
        self.set_view(x + w / 2.0, y + h / 2.0, zoom)

    def fit(self, image_w: int, image_h: int, viewport_w: float, viewport_h: float) -> None:
        """Show the whole image (pixel edges at -0.5 and size - 0.5)."""
        self.show_rect(-0.5, -0.5, image_w, image_h, viewport_w, viewport_h)

    def centre_on(self, x: float, y: float) -> None:
        self.set_view(x, y)


@dataclass
class OverlayState:
    """The overlay switches (H, G, the opacity slider) and the heatmap's colour range."""

    events: ClassVar[SignalGroupDescriptor] = SignalGroupDescriptor()

    heatmap_visible: bool = True
    grid_visible: bool = True
    heatmap_opacity: float = 0.6
    heatmap_vmax: float = 2 * DEFAULT_THRESHOLD_PX
    #: misalignment (px) below which the heatmap is transparent (a setting)
    heatmap_floor: float = DEFAULT_FLOOR_PX
    #: panes that keep the heatmap off whatever H says (the difference view's panes)
    heatmap_hidden_in: frozenset[str] = frozenset()
    #: every overlay off whatever H and G say (while the A/B flicker runs)
    suspended: bool = False


@dataclass
class CompareState:
    """Flicker (one source alone, ``None``: side by side) and the difference view.

    The A/B flicker alternates ``single`` between the two sources of ``flicker_pair`` while
    ``flickering``; the overlays stay hidden meanwhile (the images alone are compared)."""

    events: ClassVar[SignalGroupDescriptor] = SignalGroupDescriptor()

    single: str | None = None
    difference: bool = False
    flickering: bool = False
    flicker_pair: tuple[str, str] = ("phone", "target")


@dataclass(eq=False)
class WindowState:
    """Everything the window shows; see the module docstring for how views use it."""

    events: ClassVar[SignalGroupDescriptor] = SignalGroupDescriptor()

    #: the open dataset (None: none open)
    dataset: Dataset | None = None
    #: the triplet asked for last (its images may still be loading)
    triplet: TripletRecord | None = None
    #: name of the triplet whose images and patches are on screen (None while the first arrive)
    shown: str | None = None
    #: the current triplet is not on screen at full resolution yet
    loading: bool = False
    #: id of the selected patch of the current triplet
    selected: int | None = None

    patches: PatchSet = field(default_factory=PatchSet)
    view: ViewState = field(default_factory=ViewState)
    overlays: OverlayState = field(default_factory=OverlayState)
    compare: CompareState = field(default_factory=CompareState)
    #: the active dataset-wide review queue and the position in it
    review: ReviewState = field(default_factory=ReviewState)
    #: what the gallery's tiles show besides the phone and target patches
    gallery: TileOptions = field(default_factory=TileOptions)

    @property
    def selected_patch(self) -> PatchRecord | None:
        return self.patches.get(self.selected)

    def clear_triplet(self) -> None:
        """No triplet: nothing selected, no patches."""
        self.selected = None
        self.patches.replace(None, [])
        self.shown = None
        self.loading = False
        self.triplet = None
