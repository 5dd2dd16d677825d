"""Training loss (L1 + SSIM) and image-quality metrics (PSNR, SSIM), in torch and in numpy.

SSIM follows Wang et al. 2004 as scikit-image computes it with ``gaussian_weights=True,
sigma=1.5, use_sample_covariance=False``: an 11-tap Gaussian window (σ = 1.5), K1 = 0.01,
K2 = 0.03, averaged over the pixels whose window lies fully inside the image and over channels.
The torch and numpy versions compute the same number (tests compare both with scikit-image).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # int(3.5 * sigma + 0.5), as scipy's gaussian_filter truncates
K1, K2 = 0.01, 0.03


def _gauss_1d() -> np.ndarray:
    x = np.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=np.float64)
    g = np.exp(-(x ** 2) / (2 * SSIM_SIGMA ** 2))
    return g / g.sum()


# --------------------------------------------------------------------------- torch


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian, 'valid' region only. x: (B, C, H, W)."""
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def ssim_map(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-pixel SSIM (B, C, H-10, W-10) of two (B, C, H, W) batches."""
    if pred.shape != target.shape or pred.dim() != 4:
        raise ValueError(f"expected two equal (B, C, H, W) shapes, got {tuple(pred.shape)} and {tuple(target.shape)}")
    win = 2 * SSIM_RADIUS + 1
    if min(pred.shape[-2:]) < win:
        raise ValueError(f"SSIM needs images of at least {win}x{win} pixels, got {tuple(pred.shape[-2:])}")
    g = torch.as_tensor(_gauss_1d(), dtype=pred.dtype, device=pred.device)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    mu_x, mu_y = _blur(pred, g), _blur(target, g)
    sxx = _blur(pred * pred, g) - mu_x * mu_x
    syy = _blur(target * target, g) - mu_y * mu_y
    sxy = _blur(pred * target, g) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (sxx + syy + c2)
    return num / den


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM of two (B, C, H, W) batches (a 0-d tensor, differentiable)."""
    return ssim_map(pred, target, data_range).mean()


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """PSNR in dB of each image of a (B, C, H, W) batch, averaged over the batch (inf if equal)."""
    if pred.shape != target.shape:
        raise ValueError(f"shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    mse = (pred.double() - target.double()).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(data_range ** 2 / mse)).mean().to(pred.dtype)


def l1_ssim_loss(pred: torch.Tensor, target: torch.Tensor, ssim_weight: float = 0.2) -> torch.Tensor:
    """``L1 + ssim_weight * (1 - SSIM)``: L1 keeps colours right, SSIM keeps local structure."""
    loss = F.l1_loss(pred, target)
    if ssim_weight:
        loss = loss + ssim_weight * (1.0 - ssim(pred, target))
    return loss


class ISPLoss(nn.Module):
    """:func:`l1_ssim_loss` as a module (its weight is its only hyper-parameter)."""

    def __init__(self, ssim_weight: float = 0.2):
        super().__init__()
        self.ssim_weight = float(ssim_weight)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return l1_ssim_loss(pred, target, self.ssim_weight)


# --------------------------------------------------------------------------- numpy


def _as_float(a: np.ndarray, b: np.ndarray, data_range: float | None):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if data_range is None:
        data_range = 255.0 if a.dtype == np.uint8 else 1.0
    return a.astype(np.float64), b.astype(np.float64), float(data_range)


def psnr_np(a: np.ndarray, b: np.ndarray, data_range: float | None = None) -> float:
    """PSNR in dB of two images (uint8 -> range 255, float -> range 1); inf if equal."""
    a, b, data_range = _as_float(a, b, data_range)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(data_range ** 2 / mse))


def _blur_np(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    n = len(g)
    h, w = x.shape[:2]
    rows = sum(g[k] * x[k:h - n + 1 + k] for k in range(n))
    return sum(g[k] * rows[:, k:w - n + 1 + k] for k in range(n))


def ssim_np(a: np.ndarray, b: np.ndarray, data_range: float | None = None) -> float:
    """Mean SSIM of two (H, W) or (H, W, C) images (uint8 -> range 255, float -> range 1)."""
    a, b, data_range = _as_float(a, b, data_range)
    if a.ndim not in (2, 3):
        raise ValueError(f"expected (H, W) or (H, W, C) images, got shape {a.shape}")
    win = 2 * SSIM_RADIUS + 1
    if min(a.shape[:2]) < win:
        raise ValueError(f"SSIM needs images of at least {win}x{win} pixels, got {a.shape[:2]}")
    g = _gauss_1d()
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    mu_a, mu_b = _blur_np(a, g), _blur_np(b, g)
    saa = _blur_np(a * a, g) - mu_a ** 2
    sbb = _blur_np(b * b, g) - mu_b ** 2
    sab = _blur_np(a * b, g) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (saa + sbb + c2))
    return float(s.mean())
