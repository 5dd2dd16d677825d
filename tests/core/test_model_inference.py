"""Tiled inference: exactness against one untiled pass, regions, origins, progress, cancel."""

from __future__ import annotations

import functools
import threading

import numpy as np
import pytest
import torch

from ispviewer.model import RenderCancelled, build_model, render_full, render_region
from ispviewer.model.inference import ISPNetwork

TOL = 1 / 255


def _strong_model(name: str):
    """Seeded random model whose backbone weights are doubled so far pixels matter (a weak
    random net would hide seams: too small a context must show up at the 1/255 level)."""
    torch.manual_seed(0)
    model = build_model(name).eval()
    with torch.no_grad():
        for module in model.backbone.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.weight.mul_(2.0)
    return model


PACKED = np.random.default_rng(0).random((192, 256, 4), dtype=np.float32)


@functools.cache
def case(name: str):
    """(model, untiled reference) — the reference is one pass over the reflect-padded image."""
    model = _strong_model(name)
    ctx = model.default_context
    padded = np.pad(PACKED, ((ctx, ctx), (ctx, ctx), (0, 0)), mode="reflect")
    with torch.inference_mode():
        out = model(torch.from_numpy(padded).permute(2, 0, 1)[None])[0].clamp(0, 1)
    out = out.permute(1, 2, 0).numpy()[2 * ctx:-2 * ctx, 2 * ctx:-2 * ctx]
    assert ((out > 0) & (out < 1)).mean() > 0.2  # not all clipped: the comparison means something
    return model, out


@pytest.mark.parametrize("name", ["kpn", "plain"])
def test_single_tile_equals_reference(name):
    model, untiled = case(name)
    out = render_full(model, PACKED, tile=10_000)
    assert out.shape == (384, 512, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, untiled, atol=1e-5)


# 3x4 tiles; 80: 3 rows (last 32 high) x 3 columns (a last 16-wide piece merged: 96 wide);
# 52: 4 x 5 with partial last ones
@pytest.mark.parametrize("name,tile,count", [("kpn", 64, 12), ("kpn", 80, 9), ("kpn", 52, 20),
                                             ("plain", 64, 12)])
def test_tiled_equals_untiled(name, tile, count):
    model, untiled = case(name)
    calls = []
    out = render_full(model, PACKED, tile=tile, progress=lambda d, n: calls.append((d, n)))
    assert np.abs(out - untiled).max() <= TOL
    np.testing.assert_allclose(out, untiled, atol=1e-5)  # in fact equal up to float rounding
    assert calls == [(i, count) for i in range(count + 1)]


@pytest.mark.parametrize("name", ["kpn", "plain"])
def test_too_small_context_shows_seams(name):
    """The exactness test can fail: context below the receptive field breaks it."""
    model, untiled = case(name)
    out = render_full(model, PACKED, tile=64, context=8)
    assert np.abs(out - untiled).max() > TOL


@pytest.mark.parametrize("name,region", [
    ("kpn", (0, 0, 512, 384)), ("kpn", (1, 1, 37, 21)), ("kpn", (130, 63, 131, 129)),
    ("kpn", (511, 383, 1, 1)), ("kpn", (0, 300, 512, 84)), ("kpn", (257, 0, 255, 7)),
    ("plain", (3, 5, 129, 67)),
])
def test_region_equals_crop_of_full(name, region):
    model, untiled = case(name)
    x, y, w, h = region
    out = render_region(model, PACKED, region, tile=48)
    assert out.shape == (h, w, 3)
    np.testing.assert_allclose(out, untiled[y:y + h, x:x + w], atol=1e-5)


def test_origin_shifts_the_phone_frame():
    """origin (-1, 0): packed pixel (0, 0)'s R sits at phone row -1, so phone row r = canvas r+1."""
    model, untiled = case("kpn")
    out = render_region(model, PACKED, (10, 20, 64, 40), origin=(-1, 0), tile=64)
    np.testing.assert_allclose(out, untiled[21:61, 10:74], atol=1e-5)


def test_packed_raw_object_supplies_origin_and_frame():
    from ispviewer.dataset.images import PackedRaw
    from ispviewer.dataset.records import RawInfo

    torch.manual_seed(0)
    model = build_model("kpn", widths=(8, 16))
    data = np.random.default_rng(1).random((20, 30, 4), dtype=np.float32)
    info = RawInfo(width=61, height=41, make="", model="", cfa_pattern="GRBG", black_level=0, white_level=1)
    raw = PackedRaw(data=data, info=info, origin=(0, -1))
    out = render_full(model, raw, tile=16)
    assert out.shape == (41, 61, 3)
    canvas = render_full(model, data, tile=16)
    np.testing.assert_allclose(out[:40, :59], canvas[:, 1:], atol=1e-5)


def test_cancel_callable_stops_between_tiles():
    model = build_model("kpn", widths=(8, 16))
    seen = []
    model.register_forward_hook(lambda *a: seen.append(1))
    progress = []
    with pytest.raises(RenderCancelled) as info:
        render_full(model, PACKED, tile=32, progress=lambda d, n: progress.append(d),
                    cancel=lambda: len(progress) > 2)
    assert len(seen) == 2 and progress == [0, 1, 2]
    assert (info.value.done, info.value.total) == (2, 48)


def test_cancel_event_set_before_start_runs_nothing():
    model = build_model("kpn", widths=(8, 16))
    seen = []
    model.register_forward_hook(lambda *a: seen.append(1))
    event = threading.Event()
    event.set()
    with pytest.raises(RenderCancelled):
        render_full(model, PACKED, tile=64, cancel=event)
    assert seen == []


def test_bad_arguments_are_clear_errors():
    model = build_model("kpn", widths=(8, 16))
    with pytest.raises(ValueError, match="outside"):
        render_region(model, PACKED, (500, 0, 13, 10))
    with pytest.raises(ValueError, match="empty"):
        render_region(model, PACKED, (0, 0, 0, 10))
    with pytest.raises(ValueError, match=r"\(h, w, 4\)"):
        render_full(model, PACKED[..., :3])
    with pytest.raises(ValueError, match="float"):
        render_full(model, (PACKED * 1000).astype(np.uint16))
    with pytest.raises(TypeError, match="not an ISP network"):  # no align / default_context / hparams
        render_full(torch.nn.Conv2d(4, 3, 1), PACKED)
    assert isinstance(model, ISPNetwork) and isinstance(build_model("plain", widths=(8, 16)), ISPNetwork)


def test_restores_training_flag_and_threads():
    model = build_model("kpn", widths=(8, 16)).train()
    threads = torch.get_num_threads()
    render_region(model, PACKED, (0, 0, 16, 16), threads=1)
    assert model.training and torch.get_num_threads() == threads


def test_float64_input_and_values_in_range():
    model = build_model("plain", widths=(8, 16))
    data = np.random.default_rng(2).random((10, 14, 4))  # float64
    out = render_full(model, data)
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
