"""Overlay building blocks: merged grid outlines and the heatmap colouring."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ispviewer.gui.heatmap_style import colour_table, heatmap_rgba, hue_distance
from ispviewer.gui.overlays import merged_runs


def edges(x0, y0, size):
    """Horizontal (y, a, b) and vertical (x, a, b) unit pieces of squares' outlines."""
    h, v = set(), set()
    for x, y in zip(x0, y0):
        for k in range(size):
            h |= {(y, x + k, x + k + 1), (y + size, x + k, x + k + 1)}
            v |= {(x, y + k, y + k + 1), (x + size, y + k, y + k + 1)}
    return h, v


def pieces(runs):
    return {(f, a, a + 1) for f, start, end in runs for a in range(int(start), int(end))}


def runs_of(x0, y0, size):
    x0, y0 = np.asarray(x0, float), np.asarray(y0, float)
    x1, y1 = x0 + size, y0 + size
    h = merged_runs(np.concatenate([y0, y1]), np.concatenate([x0, x0]), np.concatenate([x1, x1]))
    v = merged_runs(np.concatenate([x0, x1]), np.concatenate([y0, y0]), np.concatenate([y1, y1]))
    return h, v


def test_a_regular_grid_becomes_one_line_per_grid_line():
    cols, rows, size = 10, 7, 32
    x0 = [c * size for r in range(rows) for c in range(cols)]
    y0 = [r * size for r in range(rows) for c in range(cols)]
    h, v = runs_of(x0, y0, size)
    assert len(h) == rows + 1 and len(v) == cols + 1
    assert set(map(tuple, h[:, 1:])) == {(0, cols * size)}


@settings(max_examples=60, deadline=None)
@given(st.sets(st.tuples(st.integers(0, 7), st.integers(0, 5)), min_size=1, max_size=30))
def test_runs_cover_exactly_the_outlines(cells):
    size = 2
    x0 = [c * size for c, _ in cells]
    y0 = [r * size for _, r in cells]
    h, v = runs_of(x0, y0, size)
    want_h, want_v = edges(x0, y0, size)
    assert pieces(h) == want_h and pieces(v) == want_v  # nothing missing, nothing extra


def test_heatmap_colours_floor_ramp_and_nan():
    lut = colour_table()
    values = np.array([[0.0, 0.49, 0.5, 1.2, 2.4, 9.0, np.nan]], np.float32)
    rgba = heatmap_rgba(values, vmax=2.4, floor_px=0.5)
    assert rgba.dtype == np.uint8 and rgba.flags.c_contiguous and rgba.shape == (1, 7, 4)
    assert tuple(rgba[0, 4, :3]) == tuple(lut[255])
    assert tuple(rgba[0, 5]) == tuple(rgba[0, 4])  # clipped at vmax
    # below the floor: nothing at all over the photo; above it the colour fades in, opaque at the threshold
    assert rgba[0, 0, 3] == rgba[0, 1, 3] == 0
    assert 0 < rgba[0, 2, 3] < rgba[0, 3, 3] == 255 == rgba[0, 4, 3]
    assert rgba[0, 6, 3] == 0  # not measured: transparent
    # a floor of 0 colours everything measured
    assert heatmap_rgba(values, vmax=2.4, floor_px=0.0)[0, 0, 3] > 0


def test_no_heatmap_colour_looks_like_an_outline_colour():
    """Fills (misalignment) and outlines (status) never share a hue: a flagged patch's yellow, a
    rejected one's red and an accepted one's green are not on the heatmap's scale."""
    from ispviewer.gui.overlays import STATUS_COLOURS

    for status, colour in STATUS_COLOURS.items():
        rgb = (colour.red(), colour.green(), colour.blue())
        closest = min(hue_distance(rgb, tuple(int(c) for c in entry)) for entry in colour_table())
        assert closest > 40, (status, closest)


def test_a_decision_rebuilds_only_the_groups_it_touches(qapp):
    from dataclasses import replace

    from ispviewer.dataset.records import DecidedBy, PatchRecord, Status
    from ispviewer.gui.overlays import grid_paths

    patches = [PatchRecord(i, 1, "t", 32 * (i % 5), 32 * (i // 5), 32, 0, 0, 0.9, 0.5, 0.8, True,
                           Status.ACCEPTED if i % 3 else Status.REJECTED, DecidedBy.AUTO, None) for i in range(20)]
    before = grid_paths(patches)
    patches[7] = replace(patches[7], status=Status.FLAGGED, decided_by=DecidedBy.USER)
    changed = {(Status.ACCEPTED, DecidedBy.AUTO), (Status.FLAGGED, DecidedBy.USER)}
    after = grid_paths(patches, before, changed)
    fresh = grid_paths(patches)
    assert after.path((Status.REJECTED, DecidedBy.AUTO)) is before.path((Status.REJECTED, DecidedBy.AUTO))
    assert [k for k, _, _ in after.groups] == [k for k, _, _ in fresh.groups]
    for (k, _, a), (_, _, b) in zip(after.groups, fresh.groups):
        assert a == b, k  # same outlines as a full rebuild
