"""The triplet viewer: three panes side by side on one view state, with their overlays.

It draws what the window state holds (the current triplet's patches, the selection, the overlay
switches, the view) by subscribing to it, and knows nothing about the manifest: the window hands
it loaded images, and listens to its ``hovered`` / ``clicked`` signals (phone-frame coordinates).
"""

from __future__ import annotations

import math

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QWidget

from ispviewer.dataset.records import PatchRecord
from ispviewer.gui.heatmap_style import heatmap_rgba
from ispviewer.gui.image_pane import ImagePane, PaneRow
from ispviewer.gui.loader import LoadedTriplet
from ispviewer.gui.overlays import ColorBar, GridPaths, PaneOverlays, grid_paths, group_key
from ispviewer.gui.pyramid import Pyramid
from ispviewer.gui.sources import OUTPUT, OUTPUT_PLACEHOLDER, PHONE, TARGET, Heatmap, heatmap_from_patches
from ispviewer.gui.state import WindowState

PANE_TITLES = {PHONE: "phone ISP", TARGET: "aligned Nikon target", OUTPUT: "network output"}
ZOOM_STEP = 1.5


class TripletViewer(QWidget):
    """Panes, overlays and colour bar of the current triplet."""

    hovered = Signal(float, float)
    clicked = Signal(float, float)

    def __init__(self, state: WindowState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.view_state = state.view
        self.panes = {key: ImagePane(title, self.view_state) for key, title in PANE_TITLES.items()}
        self.overlays = {key: PaneOverlays(pane) for key, pane in self.panes.items()}
        self.row = PaneRow(list(self.panes.values()))
        self.colorbar = ColorBar(state.overlays.heatmap_vmax)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.row, 1)
        layout.addWidget(self.colorbar)
        for pane in self.panes.values():
            pane.hovered.connect(self.hovered)
            pane.clicked.connect(self.clicked)

        self.loaded: LoadedTriplet | None = None
        self._heatmap: Heatmap | None = None
        self._heatmap_from_file = False
        self._grid = GridPaths()
        state.patches.reset.connect(self._on_patches_reset)
        state.patches.changed.connect(self._on_patch_changed)
        state.events.selected.connect(self._show_selection)
        events = state.overlays.events
        events.heatmap_visible.connect(self._refresh_overlay_visibility)
        events.grid_visible.connect(self._refresh_overlay_visibility)
        events.heatmap_hidden_in.connect(self._refresh_overlay_visibility)
        events.heatmap_opacity.connect(self._refresh_overlay_visibility)
        events.suspended.connect(self._refresh_overlay_visibility)
        events.heatmap_vmax.connect(self._on_heatmap_range)
        events.heatmap_floor.connect(self._on_heatmap_floor)
        self.set_output(None, OUTPUT_PLACEHOLDER)
        self.clear("No dataset open — File ▸ Open dataset… (Ctrl+O)")

    # ----------------------------------------------------------------- content

    def clear(self, message: str) -> None:
        """No images (the patches and selection are the state's: they are cleared there)."""
        self.loaded = None
        for key in (PHONE, TARGET):
            self.panes[key].set_pyramid(None)
            self.panes[key].show_message(message)
        self._set_heatmap(None, from_file=False)
        self._on_patches_reset()

    def show_loading(self, name: str) -> None:
        """Keep showing the old images (no flash); say what is coming."""
        for key in (PHONE, TARGET):
            if self.panes[key].pyramid is None:
                self.panes[key].show_message(f"loading {name}…")

    def show_loaded(self, loaded: LoadedTriplet, keep_view: bool) -> None:
        """Show a loaded triplet (or its quick preview); the view is kept unless told otherwise."""
        first = self.loaded is None
        self.loaded = loaded
        for key in (PHONE, TARGET):
            pane = self.panes[key]
            pane.set_pyramid(loaded.pyramids.get(key))
            error = loaded.errors.get(key)
            pane.show_message(error, error=True)
        heatmap = loaded.heatmap
        if heatmap is not None or self._heatmap_from_file:
            rgba = loaded.heatmap_rgba if loaded.heatmap_style == self.heatmap_style else None
            self._set_heatmap(heatmap, from_file=heatmap is not None, rgba=rgba)
        if not keep_view or first or not self._view_overlaps_image():
            self.fit()
        self._refresh_overlay_visibility()

    def set_output(self, pyramid: Pyramid | None, message: str | None = None) -> None:
        """Fill the network-output pane (used by the inference feature), or show why it is empty."""
        pane = self.panes[OUTPUT]
        pane.set_pyramid(pyramid)
        pane.show_message(message if pyramid is None else None)
        self._refresh_overlay_visibility()

    def _on_patches_reset(self) -> None:
        """The state holds another set of patches: rebuild the grid (or take the prebuilt one)."""
        patches = list(self.state.patches)
        prebuilt = self.state.patches.prebuilt
        self._update_grid(prebuilt if isinstance(prebuilt, GridPaths) else None, patches)
        if not self._heatmap_from_file:
            loaded = self.loaded  # its grid is the prebuilt one: the patches are exactly the loaded ones
            drawn = loaded.patch_heatmap if loaded is not None and prebuilt is not None \
                and prebuilt is loaded.grid else None
            if drawn is not None and drawn[2] == self.heatmap_style:
                self._set_heatmap(drawn[0], from_file=False, rgba=drawn[1])
            else:
                self._set_heatmap(heatmap_from_patches(patches), from_file=False)
        self._show_selection()

    def _on_patch_changed(self, patch: PatchRecord, old: PatchRecord) -> None:
        """One patch changed (a decision): rebuild only the outline groups it left and joined."""
        patches = list(self.state.patches)
        self._update_grid(grid_paths(patches, self._grid, {group_key(old), group_key(patch)}), patches)
        if patch.id == self.state.selected:
            self._show_selection()

    def _update_grid(self, grid: GridPaths | None, patches: list[PatchRecord]) -> None:
        self._grid = grid or grid_paths(patches)  # built once, shared by the three panes
        for ov in self.overlays.values():
            ov.grid.set_grid(self._grid)

    def _show_selection(self) -> None:
        patch = self.state.selected_patch
        for ov in self.overlays.values():
            ov.selection.set_patch(patch)

    # ----------------------------------------------------------------- overlays

    def _set_heatmap(self, heatmap: Heatmap | None, from_file: bool, rgba=None) -> None:
        self._heatmap = heatmap
        self._heatmap_from_file = from_file
        if heatmap is not None and rgba is None:
            rgba = heatmap_rgba(heatmap.values, *self.heatmap_style)
        for ov in self.overlays.values():
            ov.heatmap.set_rgba(rgba, heatmap)

    @property
    def heatmap_style(self) -> tuple[float, float]:
        """(vmax, floor): what a heatmap's colours depend on (the threshold is vmax / 2)."""
        return self.state.overlays.heatmap_vmax, self.state.overlays.heatmap_floor

    def _on_heatmap_range(self, vmax: float) -> None:
        self.colorbar.set_range(vmax)
        self._set_heatmap(self._heatmap, self._heatmap_from_file)

    def _on_heatmap_floor(self, floor_px: float) -> None:
        self.colorbar.set_floor(floor_px)
        self._set_heatmap(self._heatmap, self._heatmap_from_file)

    def _refresh_overlay_visibility(self) -> None:
        o = self.state.overlays
        self.colorbar.setVisible(o.heatmap_visible and not o.suspended)
        for key, ov in self.overlays.items():
            has_image = self.panes[key].pyramid is not None and not o.suspended
            ov.heatmap.setVisible(o.heatmap_visible and has_image and key not in o.heatmap_hidden_in)
            ov.heatmap.setOpacity(o.heatmap_opacity)
            ov.grid.setVisible(o.grid_visible and has_image)
            ov.selection.setVisible(has_image)

    # ----------------------------------------------------------------- view

    def image_size(self) -> tuple[int, int] | None:
        for key in (PHONE, TARGET, OUTPUT):
            pyramid = self.panes[key].pyramid
            if pyramid is not None:
                return pyramid.width, pyramid.height
        if self.loaded is not None:
            return self.loaded.request.phone_size
        return None

    def viewport_size(self) -> tuple[float, float]:
        return self.panes[PHONE].viewport_size()

    def fit(self) -> None:
        size = self.image_size()
        if size is not None:
            self.view_state.fit(size[0], size[1], *self.viewport_size())

    def zoom_100(self) -> None:
        """True 100%: one image pixel per device pixel, about the current centre."""
        self.view_state.set_view(*self.view_state.centre, 1.0)

    def zoom_by(self, factor: float) -> None:
        self.view_state.zoom_by(factor)

    def zoom_to_patch(self, patch: PatchRecord) -> None:
        margin = patch.size * 0.25
        self.view_state.show_rect(patch.x - 0.5 - margin, patch.y - 0.5 - margin, patch.size + 2 * margin,
                                  patch.size + 2 * margin, *self.viewport_size())

    def centre_on(self, patch: PatchRecord) -> None:
        self.view_state.centre_on(patch.x - 0.5 + patch.size / 2, patch.y - 0.5 + patch.size / 2)

    def _view_overlaps_image(self) -> bool:
        size = self.image_size()
        if size is None:
            return False
        x, y, w, h = self.view_state.rect(*self.viewport_size())
        return x < size[0] and y < size[1] and x + w > 0 and y + h > 0

    # ----------------------------------------------------------------- readout

    def readout(self, x: float, y: float) -> str:
        """Status-bar text for phone-frame point (x, y): coordinate and RGB of every pane."""
        ix, iy = int(math.floor(x + 0.5)), int(math.floor(y + 0.5))
        parts = [f"x {ix}, y {iy}"]
        for key, pane in self.panes.items():
            parts.append(f"{key} {pane.value_text(ix, iy) or '—'}")
        if self._heatmap is not None:
            s = self._heatmap.scale
            hy, hx = int((iy + 0.5) // s), int((ix + 0.5) // s)
            values = self._heatmap.values
            if 0 <= hy < values.shape[0] and 0 <= hx < values.shape[1] and math.isfinite(values[hy, hx]):
                parts.append(f"misalignment {values[hy, hx]:.2f} px")
        return "  │  ".join(parts)
