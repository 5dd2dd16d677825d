"""The aligner's parts: warp, patch grid and NCC, heatmap file, statistics, params, decisions."""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest

from ispviewer.align import AlignParams, auto_status, patch_grid, warp_target_to_phone
from ispviewer.align.geometry import apply_homography, inside_convex, target_footprint
from ispviewer.align.misalignment import downscale_heatmap, patch_flow_stats, smooth_flow
from ispviewer.align.patches import match_patches
from ispviewer.dataset.heatmap_file import HeatmapError, load_heatmap, save_heatmap
from ispviewer.dataset.records import PatchMeasurement, Status


def smooth_texture(h: int, w: int, sigma: float = 3.0, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(size=(h, w)).astype(np.float32)
    g = cv2.GaussianBlur(noise, (0, 0), sigma)
    return np.clip(128 + 60 * g / g.std(), 0, 255).astype(np.uint8)


H_DEMO = np.array([[0.66, 0.012, 8.0], [-0.011, 0.67, 5.0], [2e-6, -1e-6, 1.0]])


# --------------------------------------------------------------------------- warp


def test_warp_puts_target_pixels_where_the_homography_says():
    target = smooth_texture(450, 600, sigma=6)
    out = warp_target_to_phone(target, H_DEMO, (400, 300))
    ys, xs = np.mgrid[20:280:13, 20:380:17]
    pts = np.stack([xs.ravel(), ys.ravel()], 1).astype(float)
    src = apply_homography(np.linalg.inv(H_DEMO), pts).astype(np.float32)
    expected = cv2.remap(cv2.GaussianBlur(target.astype(np.float32), (0, 0), 0.6), src[:, 0:1], src[:, 1:2],
                         cv2.INTER_LINEAR)[:, 0]
    assert np.abs(out[ys, xs].ravel().astype(float) - expected).mean() < 1.5


def test_warp_region_equals_the_crop_of_the_full_render():
    target = np.dstack([smooth_texture(450, 600, seed=s) for s in range(3)])
    full = warp_target_to_phone(target, H_DEMO, (400, 300))
    crop = warp_target_to_phone(target, H_DEMO, (400, 300), region=(100, 60, 128, 96))
    assert crop.shape == (96, 128, 3)
    diff = np.abs(crop.astype(int) - full[60:156, 100:228].astype(int))
    assert diff.mean() < 2.0 and diff.max() <= 20  # same geometry; the prefilter's grid phase differs


def test_warp_region_may_start_between_pixels():
    ramp = np.tile(np.arange(600, dtype=np.float32) * 0.4, (450, 1))  # linear: interpolation is exact
    H = np.array([[0.5, 0, 0], [0, 0.5, 0], [0, 0, 1.0]])
    whole = warp_target_to_phone(ramp, H, (300, 225), region=(40, 30, 16, 16))
    shifted = warp_target_to_phone(ramp, H, (300, 225), region=(40.25, 30.5, 16, 16))
    assert np.allclose(shifted - whole, 0.25 * 2 * 0.4, atol=0.02)  # 0.25 phone px = 0.5 target px


def test_warp_region_outside_the_target_is_border():
    target = smooth_texture(450, 600)
    out = warp_target_to_phone(target, H_DEMO, (400, 300), region=(5000, 5000, 32, 16), border_value=7)
    assert out.shape == (16, 32) and (out == 7).all()


def test_warp_prefilters_instead_of_aliasing():
    """Stripes at the target's Nyquist frequency cannot be shown at ~half the resolution: a proper
    prefilter renders them as nearly flat grey, point sampling as full-contrast false stripes."""
    target = np.zeros((400, 600), np.uint8)
    target[:, ::2] = 255
    H = np.array([[0.55, 0, 0], [0, 0.55, 0], [0, 0, 1.0]])
    out = warp_target_to_phone(target, H, (300, 200))[10:-10, 10:-10].astype(float)
    naive = cv2.warpPerspective(target, H, (300, 200))[10:-10, 10:-10].astype(float)
    assert naive.std() > 60
    assert out.std() < 15 and abs(out.mean() - 127.5) < 3


# --------------------------------------------------------------------------- patches


def test_patch_grid_is_even_centred_and_inside_the_footprint():
    pos = patch_grid((1000, 700), 128, align=4)
    assert len(pos) == 7 * 5
    assert (pos % 4 == 0).all()
    assert pos[:, 0].min() == pos[:, 0].min() // 4 * 4 and pos[:, 0].max() + 128 <= 1000
    quad = target_footprint(np.array([[0.8, 0, -100], [0, 0.8, -50], [0, 0, 1.0]]), (1000, 800))
    inside = patch_grid((1000, 700), 128, quad, margin=10)
    assert 0 < len(inside) < len(pos)
    for x, y in inside:
        corners = [[x - 10, y - 10], [x + 137, y - 10], [x - 10, y + 137], [x + 137, y + 137]]
        assert inside_convex(quad, corners).all()
    with pytest.raises(ValueError):
        patch_grid((1000, 700), 127)


def test_ncc_finds_subpixel_offsets():
    big = smooth_texture(400, 400, sigma=4, seed=1)
    shift = (2.3, -1.6)  # the aligned target shows the phone's content moved by this
    M = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    aligned = cv2.warpAffine(big, M, (400, 400), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    phone = np.ascontiguousarray(big[20:340, 20:340])  # aligned covers phone pixels from (-20, -20)
    pos = patch_grid((320, 320), 64)
    offsets, ncc = match_patches(phone, aligned, (-20, -20), pos, 64, radius=8)
    assert (ncc > 0.98).all()
    assert np.abs(offsets - np.array(shift)).max() < 0.2
    assert np.abs(offsets.mean(axis=0) - np.array(shift)).max() < 0.05


# --------------------------------------------------------------------------- statistics


def test_patch_stats_of_a_known_flow():
    pos = patch_grid((256, 128), 64)
    flow = np.zeros((64, 128, 2), np.float32)  # at scale 1/2
    flow[..., 0] = 1.0
    ramp = np.linspace(0, 2, 32, dtype=np.float32)
    flow[:32, 64:96, 1] = ramp[None, :]  # a ramp inside patch 2 (phone x 128..191, y 0..63)
    offsets = np.zeros((len(pos), 2), np.float32)
    offsets[1] = (1.0, 0.0)
    stats = patch_flow_stats(flow, 0.5, pos, 64, offsets)
    assert stats.mean[0] == pytest.approx(1.0)  # no offset: the flow itself
    assert stats.mean[1] == pytest.approx(0.0)  # offset equals flow
    assert stats.mean[2] == pytest.approx(np.hypot(1, ramp).mean(), rel=1e-4)
    assert stats.p95[2] > stats.mean[2]
    heat = downscale_heatmap(stats.magnitude, 0.25, (256, 128))
    assert heat.shape == (32, 64)
    assert np.nanmean(heat[:, :16]) == pytest.approx(1.0)


def test_noise_shrinkage_removes_flow_noise_but_keeps_local_motion(monkeypatch):
    """Flow noise inflates a mean magnitude; the shrinkage takes it out, and leaves alone motion
    that truly varies inside a patch (a moved disc) and what an affine field explains."""
    from ispviewer.align import misalignment

    rng = np.random.default_rng(0)
    pos = patch_grid((1024, 1024), 128)
    q, n = 0.25, 32
    ys, xs = np.mgrid[0:256, 0:256].astype(np.float32)
    truth = np.dstack([0.3 + 0.002 * xs, 0.1 - 0.001 * ys]).astype(np.float32)  # a homography residual
    disc = (xs - 48) ** 2 + (ys - 48) ** 2 < 12 ** 2  # patch (128, 128): a disc moved by 3 px
    truth[disc] += (3.0, 0.0)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (256, 256, 2)).astype(np.float32), (0, 0), 1.5) * 2.5
    offsets = np.zeros((len(pos), 2), np.float32)

    def true_means():
        m = np.hypot(truth[..., 0], truth[..., 1])
        return m.reshape(8, n, 8, n).mean(axis=(1, 3)).ravel()

    everywhere = np.ones(len(pos), bool)
    capped = patch_flow_stats(truth + noise, q, pos, 128, offsets, denoise=everywhere)
    assert capped.noise_power == misalignment.MAX_NOISE_POWER  # more noise than any DIS flow shows
    monkeypatch.setattr(misalignment, "MAX_NOISE_POWER", np.inf)
    plain = patch_flow_stats(truth + noise, q, pos, 128, offsets)
    clean = patch_flow_stats(truth + noise, q, pos, 128, offsets, denoise=everywhere)
    expected = true_means()
    moved = (pos == (128, 128)).all(axis=1)
    plain_error = np.abs(plain.mean - expected)[~moved].mean()
    assert plain_error > 0.15  # the noise reads as misalignment...
    # ...and most of it goes (what is left: the noise's own affine part, which no shrinkage can tell)
    assert np.abs(clean.mean - expected)[~moved].mean() < min(0.08, plain_error / 3)
    assert clean.mean[moved][0] == pytest.approx(expected[moved][0], rel=0.1)  # the disc is kept
    assert clean.noise_power > capped.noise_power
    exact = patch_flow_stats(truth, q, pos, 128, offsets, denoise=everywhere)
    assert np.abs(exact.mean - expected).max() < 0.02  # nothing to remove: nothing removed


def test_weighted_smoothing_fills_flat_areas_from_their_surroundings():
    flow = np.zeros((60, 60, 2), np.float32)
    flow[..., 0] = 1.0
    flow[20:40, 20:40] = 9.0  # an estimator's guesses in a flat area...
    weight = np.ones((60, 60), np.float32)
    weight[20:40, 20:40] = 0.0  # ...that carry no weight
    out = smooth_flow(flow, 6.0, weight)
    assert np.allclose(out[25:35, 25:35], (1.0, 0.0), atol=1e-4)
    assert np.isnan(smooth_flow(flow, 2.0, np.zeros((60, 60), np.float32))).all()


# --------------------------------------------------------------------------- heatmap file


def test_heatmap_round_trip(tmp_path):
    heat = np.random.default_rng(0).uniform(0, 3, (75, 100)).astype(np.float32)
    heat[10:20, 30:40] = np.nan
    path = tmp_path / "heatmaps" / "t.npz"
    save_heatmap(path, heat, 0.25)
    back, scale = load_heatmap(path)
    assert scale == 0.25 and back.dtype == np.float32 and back.shape == heat.shape
    assert np.array_equal(np.isnan(back), np.isnan(heat))
    assert np.nanmax(np.abs(back - heat)) < 3e-3  # float16
    assert [p.name for p in path.parent.iterdir()] == ["t.npz"]  # no temporary file left
    assert path.stat().st_size < heat.nbytes / 2 + 1024  # float16, plus the archive's headers (stored, not deflated)


@pytest.mark.parametrize("content", [b"", b"not a zip", None])
def test_bad_heatmap_files(tmp_path, content):
    path = tmp_path / "bad.npz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(HeatmapError):
        load_heatmap(path)


def test_heatmap_file_without_heatmap(tmp_path):
    np.savez(tmp_path / "x.npz", other=np.zeros(3))
    with pytest.raises(HeatmapError, match="not a heatmap"):
        load_heatmap(tmp_path / "x.npz")


# --------------------------------------------------------------------------- params, decisions


def patch(mis: float | None, measurable: bool = True) -> PatchMeasurement:
    return PatchMeasurement(x=0, y=0, size=128, dx=0.0, dy=0.0, ncc=0.9, misalignment_px=mis,
                            misalignment_p95=mis, measurable=measurable)


def test_auto_status():
    assert auto_status(patch(0.5), 1.2) == (Status.ACCEPTED, None)
    status, reason = auto_status(patch(1.5), 1.2)
    assert status == Status.REJECTED and "1.5" in reason
    status, reason = auto_status(patch(None, measurable=False), 1.2)
    assert status == Status.FLAGGED and "texture" in reason
    assert auto_status(patch(1.5), 2.0)[0] == Status.ACCEPTED


def test_params_validate_and_pickle():
    for bad in (dict(patch_size=127), dict(search_radius=0), dict(flow_scale=0.3), dict(stats_scale=0.75),
                dict(heatmap_scale=0)):
        with pytest.raises(ValueError):
            AlignParams(**bad)
    params = AlignParams(patch_size=64, threshold_px=1.0)
    assert pickle.loads(pickle.dumps(params)) == params
    d = params.describe()
    assert d["patch_size"] == 64 and d["flow"] == "dis"
