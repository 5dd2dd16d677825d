"""Per-pixel kernel application: the content-aware convolution of the poster's Eq. 1.

    Ŷ_i = Σ_{j ∈ δ_i} W^i[i − j] X_j + b_i

Every output pixel ``i`` has its own k×k kernel ``W^i`` (predicted by the network) that weighs the
k×k neighbourhood ``δ_i`` of the feature map ``X`` around ``i``.  The kernels are applied by
accumulating k² shifted views of the zero-padded features, one fused multiply-add per tap; unlike
``F.unfold`` this never materialises a (C·k², H, W) buffer and is about an order of magnitude
faster on a CPU.  The backward pass is written out the same way (a custom autograd function):
autograd's own backward of k² slices would allocate a full-size zero tensor per tap.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

# One tap of the accumulation: (output phase, tap index, input phase, row offset, col offset)
Tap = tuple[int, int, int, int, int]


def kernel_size_of(taps: int) -> int:
    """The odd k with k*k == taps, or ValueError."""
    k = math.isqrt(taps)
    if k * k != taps or k % 2 == 0:
        raise ValueError(f"{taps} kernel taps is not the square of an odd kernel size")
    return k


class _ShiftedMAC(torch.autograd.Function):
    """out[:, :, :, s] = bias + Σ_taps K[:, :, t, s] · Xp[:, :, :, s_in, oy:oy+H, ox:ox+W].

    Shapes: Xp (B, G, Cg, S_in, H + 2p, W + 2p) zero-padded input, K (B, G, T, S, H, W),
    bias (B, G, Cg, S, H, W) or None; out (B, G, Cg, S, H, W).
    """

    @staticmethod
    def forward(ctx, padded, kernels, bias, taps, size):
        h, w = size
        b, g, cg, _, _, _ = padded.shape
        s_out = kernels.shape[3]
        if bias is None:
            out = padded.new_zeros((b, g, cg, s_out, h, w))
        else:
            out = bias.clone(memory_format=torch.contiguous_format)
        for s, t, si, oy, ox in taps:
            out[:, :, :, s].addcmul_(padded[:, :, :, si, oy:oy + h, ox:ox + w], kernels[:, :, t, s].unsqueeze(2))
        ctx.save_for_backward(padded, kernels)
        ctx.taps, ctx.size, ctx.has_bias = taps, size, bias is not None
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        padded, kernels = ctx.saved_tensors
        h, w = ctx.size
        grad_padded = grad_kernels = None
        if ctx.needs_input_grad[0]:
            grad_padded = torch.zeros_like(padded, memory_format=torch.contiguous_format)
        if ctx.needs_input_grad[1]:
            grad_kernels = torch.zeros_like(kernels, memory_format=torch.contiguous_format)
        for s, t, si, oy, ox in ctx.taps:
            go = grad_out[:, :, :, s]
            if grad_padded is not None:
                grad_padded[:, :, :, si, oy:oy + h, ox:ox + w].addcmul_(go, kernels[:, :, t, s].unsqueeze(2))
            if grad_kernels is not None:
                grad_kernels[:, :, t, s] += (go * padded[:, :, :, si, oy:oy + h, ox:ox + w]).sum(2)
        grad_bias = grad_out if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_padded, grad_kernels, grad_bias, None, None


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
    padded = F.pad(features, (r, r, r, r)).view(b, groups, c // groups, 1, h + 2 * r, w + 2 * r)
    if bias is not None:
        bias = torch.broadcast_to(bias, (b, c, h, w)).reshape(b, groups, c // groups, 1, h, w)
    table = tuple((0, t, 0, t // k, t % k) for t in range(taps))
    out = _ShiftedMAC.apply(padded, kernels.unsqueeze(3), bias, table, (h, w))
    return out.view(b, c, h, w)


def _subpixel_taps(k: int) -> tuple[tuple[Tap, ...], int]:
    """Tap table of a k×k kernel on the 2×-upsampled grid, in phase form; and the padding."""
    r = k // 2
    p = (r + 1) // 2  # reach of a tap in packed pixels
    table = []
    for s in range(4):
        a, b = divmod(s, 2)
        for t in range(k * k):
            dy, dx = divmod(t, k)
            qy, ay = divmod(a + dy - r, 2)  # source row 2i + a + dy - r = 2(i + qy) + ay
            qx, ax = divmod(b + dx - r, 2)
            table.append((s, t, 2 * ay + ax, p + qy, p + qx))
    return tuple(table), p


def apply_subpixel_kernels(phases: torch.Tensor, kernels: torch.Tensor,
                           bias: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`apply_pixel_kernels` on a 2×-upsampled grid, computed on its four sub-pixel phases.

    A map ``X`` of size (2h, 2w) is held as its phases ``phases[:, :, s] = X[a::2, b::2]``
    with ``s = 2a + b`` — the channel order of ``PixelShuffle(2)``, so a network's (B, 4C, h, w)
    output viewed as (B, C, 4, h, w) needs no shuffle.  Working on phases skips shuffling the
    large kernel tensor (k² planes at output resolution) and reads it in its natural layout.

    Args:
        phases: (B, C, 4, h, w).
        kernels: (B, G, k*k, 4, h, w): kernel of output pixel (2i + a, 2j + b) is
            ``kernels[:, :, :, 2a + b, i, j]``, taps ordered as in :func:`apply_pixel_kernels`.
        bias: (B, C, 4, h, w) or broadcastable, or None.

    Returns:
        (B, C, 4, h, w) phases of the result;
        ``F.pixel_shuffle(out.flatten(1, 2), 2)`` equals :func:`apply_pixel_kernels` applied to the
        shuffled inputs.
    """
    if phases.dim() != 5 or phases.shape[2] != 4:
        raise ValueError(f"phases must be (B, C, 4, h, w), got {tuple(phases.shape)}")
    b, c, _, h, w = phases.shape
    if kernels.dim() != 6 or kernels.shape[3] != 4 or kernels.shape[0] != b or kernels.shape[-2:] != (h, w):
        raise ValueError(f"kernels {tuple(kernels.shape)} do not match phases {tuple(phases.shape)}")
    groups, taps = kernels.shape[1:3]
    if c % groups:
        raise ValueError(f"{c} feature channels cannot be split into {groups} kernel groups")
    table, p = _subpixel_taps(kernel_size_of(taps))
    padded = F.pad(phases, (p, p, p, p)).view(b, groups, c // groups, 4, h + 2 * p, w + 2 * p)
    if bias is not None:
        bias = torch.broadcast_to(bias, (b, c, 4, h, w)).reshape(b, groups, c // groups, 4, h, w)
    out = _ShiftedMAC.apply(padded, kernels, bias, table, (h, w))
    return out.view(b, c, 4, h, w)
