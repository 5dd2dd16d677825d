"""Loss and metrics: torch and numpy agree with each other and with scikit-image."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ispviewer.model.losses import ISPLoss, l1_ssim_loss, psnr, psnr_np, ssim, ssim_np


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    a = rng.random((40, 52, 3))
    b = np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1)
    return a, b


def _t(x):
    return torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None]


def test_ssim_matches_scikit_image(pair):
    a, b = pair
    ref = structural_similarity(a, b, data_range=1.0, channel_axis=2, gaussian_weights=True,
                                sigma=1.5, use_sample_covariance=False)
    assert ssim_np(a, b) == pytest.approx(ref, abs=1e-9)
    assert float(ssim(_t(a), _t(b))) == pytest.approx(ref, abs=1e-9)
    assert 0.3 < ref < 0.99


def test_ssim_of_uint8_and_gray(pair):
    a, b = pair
    a8, b8 = (a * 255).round().astype(np.uint8), (b * 255).round().astype(np.uint8)
    ref = structural_similarity(a8, b8, channel_axis=2, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False, data_range=255)
    assert ssim_np(a8, b8) == pytest.approx(ref, abs=1e-9)
    assert ssim_np(a[..., 0], a[..., 0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim_np(a[:8], b[:8])


def test_psnr_matches_definition_and_scikit_image(pair):
    a, b = pair
    assert psnr_np(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1.0))
    assert psnr_np(np.zeros((4, 4)), np.full((4, 4), 0.1)) == pytest.approx(20.0)
    assert psnr_np(a, a) == math.inf
    a8 = (a * 255).astype(np.uint8)
    assert psnr_np(a8, a8 // 2) == pytest.approx(peak_signal_noise_ratio(a8, a8 // 2))
    batch = torch.stack([_t(a)[0], _t(b)[0]]).float()
    shifted = (batch + 0.1).clamp(max=10)
    assert float(psnr(batch, shifted)) == pytest.approx(20.0, abs=1e-3)


def test_loss_is_zero_for_equal_images_and_differentiable(pair):
    a, b = pair
    ta, tb = _t(a).float(), _t(b).float().requires_grad_(True)
    assert float(l1_ssim_loss(ta, ta)) == pytest.approx(0.0, abs=1e-6)
    loss = ISPLoss(0.5)(tb, ta)
    with torch.no_grad():
        expected = float(torch.mean(torch.abs(tb - ta))) + 0.5 * (1 - float(ssim(tb, ta)))
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    loss.backward()
    assert tb.grad is not None and tb.grad.abs().sum() > 0
