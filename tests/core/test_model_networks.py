"""Architecture: shapes, registry, size budget, receptive field, identity initialisation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ispviewer.model import MODELS, build_model, model_name, parameter_count
from ispviewer.model.registry import UnknownModelError

SMALL = {"widths": (8, 16, 32)}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_output_is_twice_the_packed_size(name):
    model = build_model(name, **SMALL)
    out = model(torch.rand(2, 4, 17, 23))  # sides that are not multiples of model.align
    assert out.shape == (2, 3, 34, 46)
    assert out.dtype == torch.float32


def test_rejects_non_packed_input():
    with pytest.raises(ValueError, match=r"\(B, 4, h, w\)"):
        build_model("kpn", **SMALL)(torch.rand(1, 3, 16, 16))


def test_registry_and_hparams_round_trip():
    assert set(MODELS) == {"kpn", "plain"}
    for name in MODELS:
        model = build_model(name, **SMALL)
        assert model_name(model) == name
        twin = build_model(name, **model.hparams)
        assert twin.hparams == model.hparams
        assert parameter_count(twin) == parameter_count(model)
    with pytest.raises(UnknownModelError, match="known: kpn, plain"):
        build_model("unet9")
    with pytest.raises(ValueError, match="bad hyper-parameters"):
        build_model("kpn", depth=3)
    with pytest.raises(ValueError, match="kernel_size"):
        build_model("kpn", kernel_size=4)
    with pytest.raises(ValueError, match="not a registered"):
        model_name(torch.nn.Conv2d(1, 1, 1))


def test_default_size_budget_and_similar_baseline():
    kpn, plain = build_model("kpn"), build_model("plain")
    n_kpn, n_plain = parameter_count(kpn), parameter_count(plain)
    assert 200_000 <= n_kpn <= 1_500_000
    assert n_kpn * 4 <= 10 * 2**20  # float32 weights under 10 MB
    assert abs(n_kpn - n_plain) / n_kpn < 0.05


def _measured_radius(model):
    n = 2 * (model.receptive_radius + model.align) + 8  # wide enough that borders do not clip
    x = torch.rand(1, 4, n, n, requires_grad=True)
    out = model(x)
    worst = 0
    for yy, xx in ((n, n), (n + 1, n + 3), (n + 6, n + 5)):
        (grad,) = torch.autograd.grad(out[0, :, yy, xx].sum(), x, retain_graph=True)
        hit = (grad[0].abs().sum(0) > 0).nonzero()
        worst = max(worst, int((hit[:, 0] - yy // 2).abs().max()), int((hit[:, 1] - xx // 2).abs().max()))
    return worst


@pytest.mark.parametrize("name,hparams", [
    ("kpn", {}), ("plain", {}), ("kpn", {"widths": (8,), "kernel_size": 7, "kernel_groups": 3}),
    ("kpn", {"widths": (8, 16), "convs": 2}),
])
def test_declared_receptive_radius_bounds_the_measured_one(name, hparams):
    torch.manual_seed(0)
    model = build_model(name, **hparams)
    measured = _measured_radius(model)
    assert measured <= model.receptive_radius <= measured + model.align
    assert model.default_context % model.align == 0
    assert model.default_context >= model.receptive_radius


@pytest.mark.parametrize("groups", [1, 3])
def test_kpn_without_head_weights_renders_its_base(groups):
    """Zero head weights leave the identity kernels and zero bias: output == shuffled base."""
    torch.manual_seed(0)
    model = build_model("kpn", widths=(8, 16), kernel_groups=groups)
    with torch.no_grad():
        model.head.weight.zero_()
    x = torch.rand(1, 4, 12, 16)
    base = F.pixel_shuffle(model.base_conv(x), 2)
    torch.testing.assert_close(model(x), base, rtol=0, atol=1e-6)


def test_train_and_eval_compute_the_same_and_backprop_reaches_all_weights():
    torch.manual_seed(0)
    model = build_model("kpn", **SMALL)
    x = torch.rand(2, 4, 16, 16)
    out = model.train()(x)
    torch.testing.assert_close(out, model.eval()(x))
    out.mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_base_starts_as_bilinear_demosaic_with_the_right_cfa_phase():
    """Bilinear interpolation is exact for affine images: mosaic an affine RGB scene, and the
    untrained base must give it back inside the frame (any plane/phase mix-up breaks this)."""
    h, w = 10, 12
    yy, xx = torch.meshgrid(torch.arange(2 * h, dtype=torch.float64),
                            torch.arange(2 * w, dtype=torch.float64), indexing="ij")
    scene = torch.stack([0.1 + 0.01 * yy + 0.02 * xx, 0.5 - 0.01 * yy + 0.005 * xx, 0.3 + 0.003 * yy])
    packed = torch.stack([scene[0, 0::2, 0::2], scene[1, 0::2, 1::2],
                          scene[1, 1::2, 0::2], scene[2, 1::2, 1::2]])[None]
    model = build_model("kpn", **SMALL).double()
    base = F.pixel_shuffle(model.base_conv(packed), 2)[0]
    torch.testing.assert_close(base[:, 2:-2, 2:-2], scene[:, 2:-2, 2:-2])
