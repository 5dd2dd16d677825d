"""The demo's true geometry: the displacement field's statistics, the homography, the inversion."""

from __future__ import annotations

import numpy as np
import pytest

from ispviewer.dataset.demo.build import target_size_for
from ispviewer.dataset.demo.geometry import (
    DISP_MAX,
    DISP_STEP,
    apply_homography,
    make_displacement_grid,
    make_homography,
    phone_positions_of_target,
    sample_displacement,
)

PHONE = (2000, 1500)


def _patch_means(grid: np.ndarray, size: tuple[int, int], patch: int = 128) -> np.ndarray:
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = sample_displacement(grid, DISP_STEP, xs, ys)
    mag = np.hypot(dx, dy)[: h // patch * patch, : w // patch * patch]
    return mag.reshape(h // patch, patch, w // patch, patch).mean(axis=(1, 3))


@pytest.mark.parametrize("seed", range(6))
def test_share_of_badly_displaced_patches_is_sensible(seed):
    grid = make_displacement_grid(np.random.default_rng([seed, 0, 0]), PHONE)
    means = _patch_means(grid, PHONE)
    assert 0.10 <= (means > 1.2).mean() <= 0.35
    assert (means < 0.3).mean() >= 0.25  # and a good part that a homography alone explains
    assert np.hypot(grid[..., 0], grid[..., 1]).max() <= DISP_MAX + 1e-5


def test_displacement_is_smooth_and_interpolates_the_grid():
    grid = make_displacement_grid(np.random.default_rng(1), PHONE)
    assert grid.dtype == np.float32 and grid.shape == ((1500 - 1) // 8 + 2, (2000 - 1) // 8 + 2, 2)
    gradient = np.abs(np.diff(grid, axis=0)).max() / DISP_STEP, np.abs(np.diff(grid, axis=1)).max() / DISP_STEP
    assert max(gradient) < 0.06  # a 128-px patch sees a nearly uniform shift
    j, i = 37, 101
    dx, dy = sample_displacement(grid, DISP_STEP, np.float32([i * 8, i * 8 + 4]), np.float32([j * 8, j * 8]))
    assert (dx[0], dy[0]) == (grid[j, i, 0], grid[j, i, 1])
    assert dx[1] == pytest.approx((grid[j, i, 0] + grid[j, i + 1, 0]) / 2, abs=1e-5)
    # long 1-D inputs (beyond cv2.remap's 32767 limit) give the same values as 2-D ones
    ys, xs = np.mgrid[0:300, 0:200].astype(np.float32)
    a = sample_displacement(grid, DISP_STEP, xs, ys)
    b = sample_displacement(grid, DISP_STEP, xs.ravel(), ys.ravel())
    np.testing.assert_array_equal(a[0].ravel(), b[0])


@pytest.mark.parametrize("seed", range(8))
def test_target_sees_a_bit_more_than_the_phone(seed):
    tsize = target_size_for(PHONE)
    assert tsize == (3000, 2250)
    hom = make_homography(np.random.default_rng(seed), PHONE, tsize)
    # the phone frame lies inside the target image
    corners = np.array([[0, 0], [1999, 0], [1999, 1499], [0, 1499]], float)
    xt, yt = apply_homography(np.linalg.inv(hom), corners[:, 0], corners[:, 1])
    assert xt.min() > 0 and yt.min() > 0 and xt.max() < 2999 and yt.max() < 2249
    # a target pixel is about 2/3 of a phone pixel, the view is wider, the rotation small
    area = abs(np.linalg.det(hom[:2, :2]))
    assert 1.0 < np.sqrt(area) * 1.5 < 1.15
    assert abs(np.degrees(np.arctan2(hom[1, 0], hom[0, 0]))) < 2.0


def test_target_rendering_inverts_p_plus_d():
    size = (320, 240)
    tsize = target_size_for(size)
    rng = np.random.default_rng(5)
    hom = make_homography(rng, size, tsize)
    grid = make_displacement_grid(rng, size)
    px, py = phone_positions_of_target(hom, grid, DISP_STEP, tsize)
    dx, dy = sample_displacement(grid, DISP_STEP, px, py)
    ty, tx = np.mgrid[0:tsize[1], 0:tsize[0]]
    qx, qy = apply_homography(hom, tx, ty)
    assert np.abs(px + dx - qx).max() < 1e-3 and np.abs(py + dy - qy).max() < 1e-3
