"""Per-pixel kernel application against an F.unfold reference (values and gradients)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ispviewer.model.kernels import apply_pixel_kernels, apply_subpixel_kernels


def unfold_reference(x, kernels, bias):
    b, c, h, w = x.shape
    if kernels.dim() == 4:
        kernels = kernels.unsqueeze(1)
    groups, taps = kernels.shape[1:3]
    k = int(round(taps ** 0.5))
    patches = F.unfold(x, k, padding=k // 2).view(b, groups, c // groups, taps, h, w)
    out = (patches * kernels.unsqueeze(2)).sum(3).reshape(b, c, h, w)
    return out if bias is None else out + bias


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("groups", [None, 1, 3])
@pytest.mark.parametrize("with_bias", [True, False])
def test_matches_unfold(k, groups, with_bias):
    g = torch.Generator().manual_seed(k * 10 + (groups or 0))
    x = torch.randn(2, 3, 13, 17, generator=g, dtype=torch.float64)
    shape = (2, k * k, 13, 17) if groups is None else (2, groups, k * k, 13, 17)
    kernels = torch.randn(shape, generator=g, dtype=torch.float64)
    bias = torch.randn(2, 3, 13, 17, generator=g, dtype=torch.float64) if with_bias else None
    got = apply_pixel_kernels(x, kernels, bias)
    torch.testing.assert_close(got, unfold_reference(x, kernels, bias), rtol=1e-12, atol=1e-12)


def test_gradients_match_unfold():
    g = torch.Generator().manual_seed(1)
    args = [torch.randn(s, generator=g, dtype=torch.float64, requires_grad=True)
            for s in ((1, 3, 9, 11), (1, 3, 25, 9, 11), (1, 3, 9, 11))]
    grads = torch.autograd.grad(apply_pixel_kernels(*args).square().sum(), args)
    expected = torch.autograd.grad(unfold_reference(*args).square().sum(), args)
    for a, b in zip(grads, expected):
        torch.testing.assert_close(a, b)


def test_bias_not_modified_in_place():
    x, kernels = torch.randn(1, 3, 6, 6), torch.randn(1, 9, 6, 6)
    bias = torch.randn(1, 3, 6, 6)
    before = bias.clone()
    apply_pixel_kernels(x, kernels, bias)
    assert torch.equal(bias, before)


def _shuffled(t):
    """(B, G, T, 4, h, w) or (B, C, 4, h, w) phase form -> output resolution."""
    h, w = t.shape[-2:]
    return F.pixel_shuffle(t.flatten(1, -3), 2).view(*t.shape[:-3], 2 * h, 2 * w)


@pytest.mark.parametrize("k", [1, 3, 5, 7])
@pytest.mark.parametrize("groups", [1, 3])
def test_subpixel_equals_shuffled_pixel_kernels(k, groups):
    g = torch.Generator().manual_seed(k + groups)
    h, w = 7, 10
    phases = torch.randn(2, 3, 4, h, w, generator=g, dtype=torch.float64)
    kernels = torch.randn(2, groups, k * k, 4, h, w, generator=g, dtype=torch.float64)
    bias = torch.randn(2, 3, 4, h, w, generator=g, dtype=torch.float64)
    got = _shuffled(apply_subpixel_kernels(phases, kernels, bias))
    expected = unfold_reference(_shuffled(phases), _shuffled(kernels), _shuffled(bias))
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_subpixel_gradients_match_reference():
    g = torch.Generator().manual_seed(2)
    h, w = 5, 6
    phases, kernels, bias = [torch.randn(s, generator=g, dtype=torch.float64, requires_grad=True)
                             for s in ((1, 3, 4, h, w), (1, 1, 25, 4, h, w), (1, 3, 4, h, w))]
    # kernels as a slice of a bigger head tensor, as the network passes them (non-contiguous)
    head = torch.cat([kernels, torch.zeros(1, 1, 3, 4, h, w, dtype=torch.float64)], 2)
    got = _shuffled(apply_subpixel_kernels(phases, head[:, :, :25], bias))
    ref = unfold_reference(_shuffled(phases), _shuffled(kernels), _shuffled(bias))
    weights = torch.randn(got.shape, generator=g, dtype=torch.float64)
    grads = torch.autograd.grad((got * weights).sum(), (phases, kernels, bias))
    expected = torch.autograd.grad((ref * weights).sum(), (phases, kernels, bias))
    for a, b in zip(grads, expected):
        torch.testing.assert_close(a, b)


def test_rejects_bad_shapes():
    x = torch.zeros(1, 3, 8, 8)
    with pytest.raises(ValueError, match="odd kernel size"):
        apply_pixel_kernels(x, torch.zeros(1, 4, 8, 8))
    with pytest.raises(ValueError, match="do not match"):
        apply_pixel_kernels(x, torch.zeros(1, 9, 8, 7))
    with pytest.raises(ValueError, match="groups"):
        apply_pixel_kernels(x, torch.zeros(1, 2, 9, 8, 8))
