"""The demo's local motions: their fields, where they are placed, how they enter the exact ground truth."""

from __future__ import annotations

import io

import numpy as np
import pytest

from ispviewer.dataset.demo.build import target_size_for
from ispviewer.dataset.demo.geometry import (
    DISP_STEP,
    apply_homography,
    make_displacement_grid,
    make_homography,
    phone_positions_of_target,
    sample_displacement,
)
from ispviewer.dataset.demo.groundtruth import GroundTruth, GroundTruthError, load_groundtruth, save_groundtruth
from ispviewer.dataset.demo.local_motion import (
    AMPLITUDE,
    MAX_GRADIENT,
    MAX_TURN,
    RADIUS,
    LocalMotion,
    add_local_motions,
    draw_local_motions,
    lipschitz_bound,
    motion_count,
    textured_map,
)

PHONE = (2000, 1500)


def _disc(m: LocalMotion, step: float = 0.5):
    ys, xs = np.mgrid[-m.reach - 4:m.reach + 4:step, -m.reach - 4:m.reach + 4:step]
    return xs + m.centre[0], ys + m.centre[1], np.hypot(xs, ys)


@pytest.mark.parametrize("kind", ["object", "swirl", "bulge"])
def test_each_kind_is_local_peaks_at_its_amplitude_and_moves_as_named(kind):
    m = LocalMotion(kind, (100.0, 80.0), radius=40.0, amplitude=4.0, angle=1.0)
    xs, ys, r = _disc(m)
    dx, dy = m.field(xs, ys)
    mag = np.hypot(dx, dy)
    assert np.all(mag[r >= m.reach] == 0.0)  # nothing beyond the soft edge
    assert 0.98 * m.amplitude <= mag.max() <= 1.04 * m.amplitude
    u, v = xs - m.centre[0], ys - m.centre[1]
    inner = (r <= m.radius - m.edge / 2) & (r > 1)
    if kind == "object":  # a rigid shift inside the disc
        np.testing.assert_allclose(dx[inner], 4.0 * np.cos(1.0))
        np.testing.assert_allclose(dy[inner], 4.0 * np.sin(1.0))
    elif kind == "swirl":  # tangential: a rotation about the centre
        assert np.abs(dx * u + dy * v).max() < 1e-9
        np.testing.assert_allclose((u * dy - v * dx)[inner] / r[inner] ** 2, m.turn)
    else:  # radial: a scaling about the centre
        assert np.abs(dx * v - dy * u).max() < 1e-9
        np.testing.assert_allclose((u * dx + v * dy)[inner] / r[inner] ** 2, m.turn)


def test_rows_round_trip():
    m = LocalMotion("swirl", (12.5, 30.25), 33.0, 2.5, -1.0)
    assert LocalMotion.from_row(m.as_row()) == m


@pytest.mark.parametrize("seed", range(4))
def test_motions_are_drawn_inside_the_frame_apart_and_within_their_ranges(seed):
    motions = draw_local_motions(np.random.default_rng(seed), PHONE)
    assert len(motions) == motion_count(PHONE) == 50
    assert motions == draw_local_motions(np.random.default_rng(seed), PHONE)  # deterministic by seed
    w, h = PHONE
    for i, m in enumerate(motions):
        assert RADIUS[0] <= m.radius <= RADIUS[1] and AMPLITUDE[0] <= m.amplitude <= AMPLITUDE[1]
        assert m.reach < m.centre[0] < w - m.reach and m.reach < m.centre[1] < h - m.reach
        if m.kind != "object":
            assert m.turn <= MAX_TURN + 1e-9
        for o in motions[i + 1:]:  # supports do not overlap
            assert np.hypot(m.centre[0] - o.centre[0], m.centre[1] - o.centre[1]) > m.reach + o.reach
    assert {m.kind for m in motions} == {"object", "swirl", "bulge"}
    # even a small frame gets some
    assert len(draw_local_motions(np.random.default_rng(seed), (320, 240))) == 2


def test_motions_go_where_the_scene_has_texture():
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:600, 0:800].astype(np.float32)
    scene = np.full((600, 800, 3), 0.5, np.float32)
    ripples = 0.2 * np.sin(xs / 5.0 + rng.uniform(0, 6)) * np.sin(ys / 4.0)
    scene[:, 400:] += ripples[:, 400:, None]  # right half textured
    motions = draw_local_motions(np.random.default_rng(1), (800, 600), textured=textured_map(scene))
    assert len(motions) >= 4
    assert all(m.centre[0] > 400 for m in motions)
    flat = textured_map(np.full((600, 800, 3), 0.5, np.float32))
    assert draw_local_motions(np.random.default_rng(1), (800, 600), textured=flat) == []


def test_grid_is_the_smooth_field_plus_the_motions_and_stays_gentle():
    smooth = make_displacement_grid(np.random.default_rng(2), PHONE)
    motions = draw_local_motions(np.random.default_rng(3), PHONE)
    grid, added = add_local_motions(smooth, DISP_STEP, motions)
    assert added == motions  # the drawn ranges never need weakening
    assert grid.dtype == np.float32 and grid.shape == smooth.shape
    ys, xs = np.mgrid[0:grid.shape[0], 0:grid.shape[1]].astype(np.float64) * DISP_STEP
    expected = smooth.astype(np.float64)
    for m in motions:
        expected += np.stack(m.field(xs, ys), axis=-1)
    np.testing.assert_allclose(grid, expected, atol=1e-5)
    assert lipschitz_bound(grid, DISP_STEP) <= MAX_GRADIENT


def test_lipschitz_bound_bounds_the_interpolated_field_and_the_guard_weakens_steep_motions():
    steep = [LocalMotion("object", (60.0, 60.0), 30.0, 20.0, 0.3)]  # 20 px over a 30 px edge
    zero = np.zeros((17, 17, 2), np.float32)
    ys, xs = np.mgrid[0:17, 0:17].astype(np.float64) * DISP_STEP
    raw = np.stack(steep[0].field(xs, ys), axis=-1).astype(np.float32)
    # the bound holds for finite differences of the bilinear field, in any direction
    pts = np.random.default_rng(0).uniform(0, 128, (2000, 2)).astype(np.float32)
    step = np.random.default_rng(1).normal(0, 0.5, (2000, 2)).astype(np.float32)
    a = np.stack(sample_displacement(raw, DISP_STEP, pts[:, 0], pts[:, 1]), -1)
    b = np.stack(sample_displacement(raw, DISP_STEP, pts[:, 0] + step[:, 0], pts[:, 1] + step[:, 1]), -1)
    ratio = np.linalg.norm(a - b, axis=1) / np.linalg.norm(step, axis=1)
    assert ratio.max() <= lipschitz_bound(raw, DISP_STEP) + 1e-3
    assert lipschitz_bound(raw, DISP_STEP) > 1.0
    grid, added = add_local_motions(zero, DISP_STEP, steep)
    assert lipschitz_bound(grid, DISP_STEP) <= MAX_GRADIENT
    assert added[0].amplitude < 20.0  # the description follows the field
    np.testing.assert_allclose(grid, np.stack(added[0].field(xs, ys), axis=-1), atol=1e-5)


def test_target_rendering_inverts_p_plus_d_with_steep_local_motions():
    size = (320, 240)
    tsize = target_size_for(size)
    rng = np.random.default_rng(5)
    hom = make_homography(rng, size, tsize)
    motions = [LocalMotion("object", (90.0, 80.0), 24.0, 6.0, 2.0),  # amplitude / edge at their limits
               LocalMotion("swirl", (220.0, 90.0), 45.0, 5.0, -1.0),
               LocalMotion("bulge", (160.0, 180.0), 40.0, 4.5, 1.0)]
    grid, added = add_local_motions(make_displacement_grid(rng, size), DISP_STEP, motions)
    assert added == motions and lipschitz_bound(grid, DISP_STEP) > 0.3  # much steeper than the smooth field
    px, py = phone_positions_of_target(hom, grid, DISP_STEP, tsize)
    dx, dy = sample_displacement(grid, DISP_STEP, px, py)
    ty, tx = np.mgrid[0:tsize[1], 0:tsize[0]]
    qx, qy = apply_homography(hom, tx, ty)
    assert np.abs(px + dx - qx).max() < 1e-3 and np.abs(py + dy - qy).max() < 1e-3
    # four fixed-point steps alone would leave errors where the motions are
    fx, fy = qx.astype(np.float32), qy.astype(np.float32)
    bx, by = fx, fy
    for _ in range(4):
        ddx, ddy = sample_displacement(grid, DISP_STEP, bx, by)
        bx, by = fx - ddx, fy - ddy
    ddx, ddy = sample_displacement(grid, DISP_STEP, bx, by)
    assert np.abs(bx + ddx - qx).max() > 1e-2


def _unavoidable(dx: np.ndarray, dy: np.ndarray, iterations: int = 20) -> np.ndarray:
    """Per row of (N, M) samples, min over offsets o of mean |D - o| (Weiszfeld's geometric
    median): the misalignment no patch offset can remove."""
    ox, oy = np.median(dx, axis=1, keepdims=True), np.median(dy, axis=1, keepdims=True)
    for _ in range(iterations):
        wgt = 1.0 / np.maximum(np.hypot(dx - ox, dy - oy), 1e-6)
        total = wgt.sum(axis=1, keepdims=True)
        ox, oy = (wgt * dx).sum(axis=1, keepdims=True) / total, (wgt * dy).sum(axis=1, keepdims=True) / total
    return np.hypot(dx - ox, dy - oy).mean(axis=1)


@pytest.mark.parametrize("seed", [0, 1])
def test_no_patch_offset_absorbs_the_local_motions(seed):
    """On a default-size frame some 128-px patches stay misaligned by more than 1.2 px whatever
    their offset, while most stay low: a tail above the threshold, as in real captures."""
    grid, _ = add_local_motions(make_displacement_grid(np.random.default_rng([seed, 0, 0]), PHONE), DISP_STEP,
                                draw_local_motions(np.random.default_rng([seed, 0, 3]), PHONE))
    # the aligner's 15 x 11 grid of 128-px patches, every other pixel of them
    ys, xs = np.mgrid[44:44 + 11 * 128:2, 40:40 + 15 * 128:2].astype(np.float32)
    dx, dy = sample_displacement(grid, DISP_STEP, xs, ys)

    def patches(a: np.ndarray) -> np.ndarray:
        return a.astype(np.float64).reshape(11, 64, 15, 64).transpose(0, 2, 1, 3).reshape(165, -1)

    values = _unavoidable(patches(dx), patches(dy))
    assert 0.03 <= (values > 1.2).mean() <= 0.20
    assert (values < 0.6).mean() >= 0.6


def _gt(**kw) -> GroundTruth:
    base = dict(homography=np.eye(3), disp_grid=np.zeros((4, 5, 2), np.float32), disp_step=8, phone_size=(32, 24),
                target_size=(48, 36), cfa_pattern="RGGB")
    return GroundTruth(**{**base, **kw})


def test_groundtruth_keeps_the_motions_and_reads_files_without_them(tmp_path):
    motions = [LocalMotion("object", (10.0, 12.0), 30.0, 3.0, 0.5), LocalMotion("bulge", (5.0, 6.0), 31.0, 2.0, -1.0)]
    buf = io.BytesIO()
    save_groundtruth(buf, _gt(local_motions=np.array([m.as_row() for m in motions])))
    (tmp_path / "a.npz").write_bytes(buf.getvalue())
    assert load_groundtruth(tmp_path / "a.npz").motions() == motions
    old = {k: v for k, v in np.load(tmp_path / "a.npz").items() if k != "local_motions"}
    np.savez(tmp_path / "old.npz", **old)  # written before local motions existed
    assert load_groundtruth(tmp_path / "old.npz").motions() == []
    np.savez(tmp_path / "bad.npz", **old, local_motions=np.array([[7.0, 1, 2, 3, 4, 5]]))
    with pytest.raises(GroundTruthError, match="local motions"):
        load_groundtruth(tmp_path / "bad.npz")


def test_corner_error_of_a_shifted_homography():
    gt = _gt(homography=np.array([[0.7, 0.0, 2.0], [0.0, 0.7, 1.0], [0.0, 0.0, 1.0]]))
    assert gt.corner_error(gt.homography) == pytest.approx(0.0, abs=1e-9)
    shifted = np.array([[1.0, 0.0, 0.3], [0.0, 1.0, -0.4], [0.0, 0.0, 1.0]]) @ gt.homography
    assert gt.corner_error(shifted) == pytest.approx(0.5)
