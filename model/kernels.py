"""Per-pixel kernel application: the content-aware convolution of the poster's Eq. 1.

    Ŷ_i = Σ_{j ∈ δ_i} W^i[i − j] X_j + b_i

Every output pixel ``i`` has its own k×k kernel ``W^i`` (predicted by the network) that weighs the
k×k neighbourhood ``δ_i`` of the feature map ``X`` around ``i``.  The kernels are applied by
accumulating k² shifted views of the zero-padded features, one fused multiply-add per tap; unlike
``F.unfold`` this never materialises a (C·k², H, W) buffer and is about an order of magnitude
faster on a CPU.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def kernel_size_of(taps: int) -> int:
    """The odd k with k*k == taps, or ValueError."""
    k = math.isqrt(taps)
    if k * k != taps or k % 2 == 0:
        raise ValueError(f"{taps} kernel taps is not the square of an odd kernel size")
    return k


def apply_pixel_kernels(features: torch.Tensor, kernels: torch.Tensor,
                        bias: torch.Tensor | None = None) -> torch.Tensor:
    """Filter ``features`` with a separate k×k kernel at every pixel.

    Args:
        features: (B, C, H, W) the maps ``X`` the kernels act on.
        kernels: (B, k*k, H, W) one kernel per pixel shared by all channels, or
            (B, G, k*k, H, W) with G groups of C/G consecutive channels each (G == C: one
            kernel per channel).  Tap ``t = (dy + r) * k + (dx + r)`` (r = k // 2) weighs
            ``X[y + dy, x + dx]`` — the same order as ``F.unfold``.
        bias: (B, C, H, W), or anything broadcastable to it, or None.

    Returns:
        (B, C, H, W); samples outside the feature map count as zero (like ``F.unfold``'s padding).
        Differentiable with respect to all three inputs.
    """
    if features.dim() != 4:
        raise ValueError(f"features must be (B, C, H, W), got shape {tuple(features.shape)}")
    b, c, h, w = features.shape
    if kernels.dim() == 4:
        kernels = kernels.unsqueeze(1)
    if kernels.dim() != 5:
        raise ValueError(f"kernels must be (B, k*k, H, W) or (B, G, k*k, H, W), got {tuple(kernels.shape)}")
    kb, groups, taps, kh, kw = kernels.shape
    if (kb, kh, kw) != (b, h, w):
        raise ValueError(f"kernels {tuple(kernels.shape)} do not match features {tuple(features.shape)}")
    if c % groups:
        raise ValueError(f"{c} feature channels cannot be split into {groups} kernel groups")
    k = kernel_size_of(taps)
    r = k // 2

    padded = F.pad(features, (r, r, r, r)).view(b, groups, c // groups, h + 2 * r, w + 2 * r)
    if bias is None:
        out = features.new_zeros((b, groups, c // groups, h, w))
    else:
        out = torch.broadcast_to(bias, (b, c, h, w)).clone(memory_format=torch.contiguous_format)
        out = out.view(b, groups, c // groups, h, w)
    for t in range(taps):
        dy, dx = divmod(t, k)
        out.addcmul_(padded[..., dy:dy + h, dx:dx + w], kernels[:, :, t:t + 1])
    return out.view(b, c, h, w)
