"""The tone-matched difference: an aligned pair with other colours reads ~0, a shifted one shows edges."""

from __future__ import annotations

import numpy as np
import pytest

from ispviewer.align.difference import match_local_tone, plain_difference, tone_matched_difference
from ispviewer.dataset.images import load_rgb


@pytest.fixture
def photo(real_data) -> np.ndarray:
    """A real photo (an iPhone X shot of a printed city postcard)."""
    return load_rgb(real_data / "pairs" / "city100_061" / "phone.jpg")


def retone(image: np.ndarray) -> np.ndarray:
    """Another camera's rendering of the same pixels: gamma, colour gains, lifted blacks."""
    f = image.astype(np.float32) / 255.0
    out = np.clip(f ** 0.6 * np.array([1.15, 0.85, 1.0], np.float32) + 0.05, 0.0, 1.0)
    return (out * 255.0 + 0.5).astype(np.uint8)


def inner(d: np.ndarray) -> np.ndarray:
    return d[4:-4, 4:-4]  # np.roll wraps a column around the border


def test_aligned_pair_with_other_tone_is_near_zero(photo):
    source = retone(photo)
    plain = plain_difference(source, photo)
    matched = tone_matched_difference(source, photo)
    assert plain.mean() > 0.12  # the plain difference is bright everywhere
    assert inner(matched).mean() < 0.015
    assert inner(matched).mean() < plain.mean() / 10


def test_two_pixel_shift_shows_the_edges(photo):
    aligned = inner(tone_matched_difference(retone(photo), photo))
    shifted = inner(tone_matched_difference(np.roll(retone(photo), 2, axis=1), photo))
    # the shift does not move the global tone, it moves edges: a few pixels become bright
    assert np.percentile(shifted, 99) > 4 * np.percentile(aligned, 99)
    assert np.percentile(shifted, 99) > 0.25
    # ... and they are the photo's vertical edges
    gx = np.abs(np.diff(photo.astype(np.float32).mean(axis=2), axis=1))[4:-4, 3:-4]
    edges = gx > np.percentile(gx, 95)
    assert shifted[edges].mean() > 4 * shifted[~edges].mean()


def test_noise_is_not_amplified_in_flat_areas():
    rng = np.random.default_rng(0)
    flat = np.full((64, 64, 3), 120, np.uint8)
    noisy = np.clip(flat + rng.normal(0, 2.0, flat.shape), 0, 255).astype(np.uint8)
    assert tone_matched_difference(noisy, flat).mean() < 0.01


def test_masked_pixels_do_not_leak_into_their_neighbours(photo):
    source = retone(photo)
    target = photo.copy()
    mask = np.ones(photo.shape[:2], np.uint8)
    mask[:, :200] = 0
    target[:, :200] = 0  # outside the warped target: black, marked missing
    d = tone_matched_difference(source, target, mask)
    assert (d[:, :200] == 0).all()
    # right next to the hole the tone is matched as well as anywhere
    assert d[4:-4, 200:212].mean() < 0.03


def test_shapes_must_agree():
    with pytest.raises(ValueError, match="shape"):
        match_local_tone(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))
