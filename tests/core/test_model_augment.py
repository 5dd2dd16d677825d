"""Augmentation keeps the Bayer phase: after any crop/flip/transpose, the R plane still holds
red samples taken at the R sites of the (equally transformed) target."""

from __future__ import annotations

import numpy as np
import pytest

from ispviewer.model.augment import crop_pair, flip_pair, random_augment, transpose_pair

CFA = np.array([[0, 1], [1, 2]])  # RGGB: colour index per 2x2 site


def make_pair(h=12, w=16, seed=0):
    """A scene (2h, 2w, 3) and its RGGB mosaic packed to (h, w, 4): each sample is the scene
    colour of its own site, so the pair is consistent by construction."""
    scene = np.random.default_rng(seed).random((2 * h, 2 * w, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:2 * h, 0:2 * w]
    mosaic = np.take_along_axis(scene, CFA[yy % 2, xx % 2][..., None], 2)[..., 0]
    packed = np.stack([mosaic[0::2, 0::2], mosaic[0::2, 1::2], mosaic[1::2, 0::2], mosaic[1::2, 1::2]], -1)
    return packed, scene


def consistent(packed, target) -> bool:
    """Unpack to a mosaic; every sample must equal the target's colour of its CFA site."""
    h, w = packed.shape[:2]
    assert target.shape == (2 * h, 2 * w, 3)
    mosaic = np.empty((2 * h, 2 * w), packed.dtype)
    mosaic[0::2, 0::2], mosaic[0::2, 1::2] = packed[..., 0], packed[..., 1]
    mosaic[1::2, 0::2], mosaic[1::2, 1::2] = packed[..., 2], packed[..., 3]
    yy, xx = np.mgrid[0:2 * h, 0:2 * w]
    expected = np.take_along_axis(target, CFA[yy % 2, xx % 2][..., None], 2)[..., 0]
    return bool(np.array_equal(mosaic, expected))


def test_pair_construction_is_consistent():
    assert consistent(*make_pair())


def test_naive_flip_breaks_the_phase():
    """The check can fail: flipping planes and relabelling channels misplaces every colour."""
    packed, scene = make_pair()
    naive = np.ascontiguousarray(np.flip(packed, 1)[..., [1, 0, 3, 2]])
    assert not consistent(naive, np.ascontiguousarray(scene[:, ::-1]))
    assert not consistent(np.ascontiguousarray(np.flip(packed, 1)), np.ascontiguousarray(scene[:, ::-1]))


@pytest.mark.parametrize("horizontal", [True, False])
def test_flip_keeps_phase_and_mirrors_content(horizontal):
    packed, scene = make_pair()
    p, t = flip_pair(packed, scene, horizontal=horizontal)
    assert consistent(p, t)
    if horizontal:
        assert p.shape == (12, 15, 4) and np.array_equal(t, scene[:, ::-1][:, 1:-1])
    else:
        assert p.shape == (11, 16, 4) and np.array_equal(t, scene[::-1][1:-1])
    assert p.flags.c_contiguous and t.flags.c_contiguous


def test_transpose_keeps_phase():
    packed, scene = make_pair()
    p, t = transpose_pair(packed, scene)
    assert p.shape == (16, 12, 4) and consistent(p, t)
    assert np.array_equal(p[..., 0], packed[..., 0].T)  # R stays R


@pytest.mark.parametrize("y,x,h,w", [(0, 0, 5, 5), (3, 7, 4, 9), (11, 15, 1, 1)])
def test_crop_keeps_phase(y, x, h, w):
    packed, scene = make_pair()
    p, t = crop_pair(packed, scene, y, x, h, w)
    assert p.shape == (h, w, 4) and consistent(p, t)
    assert np.array_equal(t, scene[2 * y:2 * (y + h), 2 * x:2 * (x + w)])


def test_random_augment_sizes_phase_and_variety():
    packed, scene = make_pair(10, 13, seed=3)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(64):
        p, t = random_augment(packed, scene, 8, rng)
        assert p.shape == (8, 8, 4) and t.shape == (16, 16, 3)
        assert consistent(p, t)
        seen.add(t.tobytes())
    assert len(seen) > 32
    p, t = random_augment(packed[:8, :8], scene[:16, :16], 8, rng)  # no spare pixel: no flips
    assert consistent(p, t)
    p, t = random_augment(packed, None, 6, rng)
    assert p.shape == (6, 6, 4) and t is None


def test_errors():
    packed, scene = make_pair()
    with pytest.raises(ValueError, match="twice"):
        flip_pair(packed, scene[:-2])
    with pytest.raises(ValueError, match="outside"):
        crop_pair(packed, scene, 10, 0, 5)
    with pytest.raises(ValueError, match="smaller"):
        random_augment(packed, scene, 20, np.random.default_rng(0))
