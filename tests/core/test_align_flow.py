"""The flow side: the estimator interface is swappable, DIS measures known motion, tone is not motion."""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest

from ispviewer.align import (
    AlignParams,
    DISFlowEstimator,
    FlowEstimator,
    align_triplet,
    flow_estimator_names,
    make_flow_estimator,
    register_flow_estimator,
)
from ispviewer.align.photometric import match_tone, normalize_luminance
from ispviewer.align.synthetic import make_pair


class ConstantFlow:
    """A stand-in estimator: the same motion everywhere (pixels of its inputs)."""

    name = "constant"

    def __init__(self, dx: float, dy: float):
        self.dx, self.dy = dx, dy
        self.calls: list[tuple] = []

    def estimate(self, phone: np.ndarray, target: np.ndarray) -> np.ndarray:
        self.calls.append((phone.shape, target.shape, phone.dtype, target.dtype))
        flow = np.empty((*phone.shape, 2), np.float32)
        flow[..., 0], flow[..., 1] = self.dx, self.dy
        return flow


@pytest.fixture(scope="module")
def still_pair():
    """No displacement field: the NCC offsets come out near zero."""
    return make_pair((512, 384), seed=7, shift_px=0.0)


def test_a_fake_estimator_gives_its_misalignment(still_pair):
    fake = ConstantFlow(0.6, -0.3)  # at flow_scale 1/2: (1.2, -0.6) phone px
    assert isinstance(fake, FlowEstimator)
    # refine=False: with refinement the homography is re-fitted to the dense flow, and a uniform
    # flow is a homography's job (the offsets would then carry it instead)
    result = align_triplet(still_pair.phone, still_pair.target, AlignParams(flow=fake, patch_size=64, refine=False))
    assert fake.calls and fake.calls[0][0] == fake.calls[0][1] == (192, 256)
    assert fake.calls[0][2] == np.float32
    measured = [p for p in result.patches if p.measurable]
    assert len(measured) >= 0.8 * len(result.patches)
    for p in measured:
        expected = np.hypot(1.2 - p.dx, -0.6 - p.dy)
        assert p.misalignment_px == pytest.approx(expected, abs=1e-3)
        assert p.misalignment_p95 == pytest.approx(expected, abs=1e-3)
        assert abs(p.dx) < 0.5 and abs(p.dy) < 0.5


def test_estimators_register_by_name(still_pair):
    register_flow_estimator("test-constant", lambda: ConstantFlow(0.0, 0.0))
    assert "test-constant" in flow_estimator_names() and "dis" in flow_estimator_names()
    result = align_triplet(still_pair.phone, still_pair.target, AlignParams(flow="test-constant", patch_size=64))
    for p in result.patches:
        if p.measurable:
            assert p.misalignment_px == pytest.approx(np.hypot(p.dx, p.dy), abs=1e-3)
    with pytest.raises(ValueError, match="unknown flow estimator"):
        make_flow_estimator("no-such-flow")
    with pytest.raises(TypeError):
        make_flow_estimator(object())


def test_dis_measures_a_known_smooth_motion():
    rng = np.random.default_rng(2)
    base = cv2.GaussianBlur(rng.normal(size=(300, 400)).astype(np.float32), (0, 0), 2.0)
    ys, xs = np.mgrid[0:300, 0:400].astype(np.float32)
    true = np.stack([0.8 + 0.6 * np.sin(xs / 40.0), -0.5 + 0.4 * np.cos(ys / 35.0)], axis=-1)
    # phone(p) = target(p + flow(p))
    phone = cv2.remap(base, xs + true[..., 0], ys + true[..., 1], cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    est = DISFlowEstimator()
    flow = est.estimate(phone / phone.std(), base / base.std())
    inner = np.s_[30:-30, 30:-30]
    err = np.linalg.norm(flow[inner] - true[inner], axis=-1)
    assert err.mean() < 0.1
    est2 = pickle.loads(pickle.dumps(est))  # the cv2 engine is rebuilt in the other process
    assert np.allclose(est2.estimate(phone / phone.std(), base / base.std()), flow, atol=1e-3)


def test_tone_and_contrast_differences_do_not_read_as_motion():
    rng = np.random.default_rng(3)
    base = cv2.GaussianBlur(rng.normal(size=(240, 320)).astype(np.float32), (0, 0), 2.5)
    target = np.clip(128 + 40 * base / base.std(), 0, 255).astype(np.uint8)
    x = target.astype(np.float32) / 255
    harsh = np.clip(255 * (x * x * (3 - 2 * x)) ** 0.8 * 1.1 + 6, 0, 255).astype(np.uint8)  # another tone curve
    a = normalize_luminance(match_tone(harsh, target), window_sigma=8)
    b = normalize_luminance(target, window_sigma=8)
    flow = DISFlowEstimator().estimate(a, b)
    assert np.linalg.norm(flow[20:-20, 20:-20], axis=-1).mean() < 0.05


def test_tone_curve_is_the_monotonic_mean_target_level_per_phone_level():
    rng = np.random.default_rng(5)
    phone = rng.integers(0, 256, (300, 400), dtype=np.uint8)
    phone[:, :7] = 17  # a level seen often; levels seen fewer than 32 times are interpolated
    target = np.clip(0.5 * phone + rng.normal(40, 12, phone.shape), 0, 255).astype(np.uint8)
    levels = np.arange(256)
    count = np.array([(phone == v).sum() for v in levels])
    mean = np.array([target[phone == v].mean() if c else 0 for v, c in zip(levels, count)])
    seen = count >= 32
    curve = np.maximum.accumulate(np.interp(levels, levels[seen], mean[seen]))
    expected = np.clip(curve + 0.5, 0, 255).astype(np.uint8)[phone]
    assert np.array_equal(match_tone(phone, target), expected)
    flat = np.full((40, 40), 9, np.uint8)
    assert match_tone(flat, flat + 1) is flat  # one level seen: no curve to fit


def test_dis_settings_are_checked():
    with pytest.raises(ValueError):
        DISFlowEstimator("slowest")
    with pytest.raises(ValueError):
        DISFlowEstimator(passes=0)
    with pytest.raises(ValueError):
        DISFlowEstimator().estimate(np.zeros((10, 10), np.float32), np.zeros((10, 12), np.float32))


def test_long_inputs_get_the_fine_pass_alone_short_ones_both():
    rng = np.random.default_rng(4)

    def pair(w, h):
        base = cv2.GaussianBlur(rng.normal(size=(h, w)).astype(np.float32), (0, 0), 2.0)
        return np.roll(base, 1, axis=1) / base.std(), base / base.std()

    est = DISFlowEstimator()
    long_pair, short_pair = pair(1100, 300), pair(400, 300)
    assert est.fine_only(long_pair[0].shape) and not est.fine_only(short_pair[0].shape)
    # the fine pass alone is a one-pass estimator of its own (full resolution, sparser patches, more steps)
    fine = DISFlowEstimator(finest_scale=0, patch_stride=7, gradient_iterations=16, variational_iterations=0, passes=1)
    assert np.array_equal(est.estimate(*long_pair), fine.estimate(*long_pair))
    as_refined = DISFlowEstimator(finest_scale=0, gradient_iterations=8, variational_iterations=0, passes=1)
    assert np.array_equal(DISFlowEstimator(fine_only_stride=None, fine_only_gradient_iterations=None)
                          .estimate(*long_pair), as_refined.estimate(*long_pair))
    assert not np.array_equal(est.estimate(*short_pair), fine.estimate(*short_pair))
    for flow in (est.estimate(*long_pair), est.estimate(*short_pair)):  # phone(x) = target(x - 1): flow -1
        assert abs(np.median(flow[20:-20, 20:-20, 0]) + 1.0) < 0.05
    # every pass whatever the size: without the limit, or as pickled by a version without it
    assert not DISFlowEstimator(fine_only_above=None).fine_only(long_pair[0].shape)
    old_state = {k: v for k, v in est.__getstate__().items() if k not in ("fine_only_above", "fine_only_overrides")}
    legacy = DISFlowEstimator.__new__(DISFlowEstimator)
    legacy.__setstate__(old_state)
    assert not legacy.fine_only(long_pair[0].shape)
    # pickled by a version whose lone fine pass was the refinement engine: it stays so
    older = DISFlowEstimator.__new__(DISFlowEstimator)
    older.__setstate__({k: v for k, v in est.__getstate__().items() if k != "fine_only_overrides"})
    assert np.array_equal(older.estimate(*long_pair), as_refined.estimate(*long_pair))
