"""Dense optical flow between the phone luminance and the aligned target luminance.

``FlowEstimator`` is the small interface the aligner needs; ``DISFlowEstimator`` (OpenCV's Dense
Inverse Search) is the default.  A learned estimator (PWC-Net, RAFT...) only has to implement
``estimate`` and be registered with :func:`register_flow_estimator`.

The aligner hands estimators photometrically normalized luminance (see
:mod:`ispviewer.align.photometric`), so tone and colour differences between the phone ISP and the
Nikon do not read as motion.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import cv2
import numpy as np


@runtime_checkable
class FlowEstimator(Protocol):
    """Estimates dense flow between two photometrically normalized luminance images."""

    name: str

    def estimate(self, phone: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Flow (h, w, 2) float32 in pixels of the inputs, with ``phone(p) ~ target(p + flow(p))``.

        Inputs are float32 (h, w) of the same shape, zero-mean and of about unit local contrast.
        """
        ...


def to_uint8(norm: np.ndarray, gain: float = 40.0) -> np.ndarray:
    """Map normalized luminance (about +-3) to the 8-bit range DIS works on."""
    return np.ascontiguousarray(np.clip(norm * gain + 128.0, 0, 255).astype(np.uint8))


class DISFlowEstimator:
    """OpenCV DIS optical flow; ``preset`` in {'ultrafast', 'fast', 'medium'} plus overrides.

    The defaults make ``passes=2`` passes.  The first works down to half of the input
    resolution (``finest_scale=1``: DIS's patches then span 16 input px).  The later ones measure
    what the earlier missed, on the target resampled by the flow found so far, with an engine
    that works at the input resolution (``refine_finest_scale=0``) with lighter iterations: the
    coarse pass alone shrinks motion that varies over a few tens of pixels (a moved object) by
    20-30% and leaves twice the error on small misalignments (0.11 vs 0.054 px on bench_align's
    triplet); the fine pass recovers most of it.

    With the fine pass carrying the precision, the first pass needs one variational iteration,
    not three (0.17 -> 0.10 s of 0.43 s for a 12 MP frame's flow at 2016 x 1512, one thread; on
    bench_align's triplet and its demo, hard demo and non-rigid sets the same mean patch error
    within 0.004 px and decisions within 0.4 points; the flow inside small moving things,
    test_align_demo_rejections' pairs, errs 7% more: 0.45 -> 0.48 px).

    Inputs longer than ``fine_only_above`` px (a frame above 2048 px at the aligner's flow scale
    of 1/2) get the fine pass alone: there the coarse pass adds about nothing the fine one does not
    find by itself, and costs a third of the flow's time (a 12 MP frame: 0.32 -> 0.22 s).  Mean
    |reported - true| patch error, both passes -> the fine one alone: 12 MP hard demo (2 triplets)
    0.093 -> 0.086 px, 12 MP demo (2) 0.074 -> 0.068, bench_align's triplet 0.054 -> 0.053, hard
    demo at 3264 x 2448 0.072 -> 0.074 and at 2400 x 1800 0.074 -> 0.081 (one each; decisions
    agree on 99.2-99.7% either way).  Shorter inputs keep both passes: there the fine pass alone
    errs clearly more (hard demo at 1024 x 768: 0.072 -> 0.096 px; the flow inside small moving
    things, 512 x 384 px: 0.48 -> 0.59 px).

    That fine pass alone places its patches ``fine_only_stride`` = 7 px apart instead of 6 and
    makes ``fine_only_gradient_iterations`` = 16 gradient steps instead of 8: DIS's time goes with
    the number of patches, hardly with the steps (2016 x 1512 px, one thread: 0.237 -> 0.182 s;
    8 -> 16 steps at stride 6: +0.01 s), and the extra steps win back what the sparser patches
    lose.  Mean patch error, stride 6 / 8 steps -> stride 7 / 16 steps: bench_align's triplet
    0.053 -> 0.050 px, 12 MP demo (2 triplets) 0.068 -> 0.065, 12 MP hard demo (2) 0.086 ->
    0.091; patches not measurable 394 -> 409 of 3,255 over those five (stride 7 with 8 steps:
    0.054, 0.070, 0.092; stride 8: 16-25% more patches not measurable).
    """

    PRESETS = {"ultrafast": 0, "fast": 1, "medium": 2}

    def __init__(self, preset: str = "medium", *, finest_scale: int | None = 1,
                 patch_size: int | None = 8, patch_stride: int | None = 6,
                 gradient_iterations: int | None = 10, variational_iterations: int | None = 1,
                 alpha: float | None = None, gamma: float | None = None, delta: float | None = None,
                 passes: int = 2, refine_finest_scale: int | None = 0,
                 refine_gradient_iterations: int | None = 8, refine_variational_iterations: int | None = 0,
                 fine_only_above: int | None = 1024, fine_only_stride: int | None = 7,
                 fine_only_gradient_iterations: int | None = 16):
        if preset not in self.PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; choose from {sorted(self.PRESETS)}")
        self.preset = preset
        self.overrides = dict(finest_scale=finest_scale, patch_size=patch_size, patch_stride=patch_stride,
                              gradient_iterations=gradient_iterations,
                              variational_iterations=variational_iterations,
                              alpha=alpha, gamma=gamma, delta=delta)
        if passes < 1:
            raise ValueError(f"passes must be >= 1, got {passes}")
        self.passes = passes
        self.fine_only_above = fine_only_above  # long side (input px) above which only the fine pass runs
        # later passes: the same settings, but finer (None: the first pass's engine again)
        self.refine_overrides = None if refine_finest_scale is None else dict(
            self.overrides, finest_scale=refine_finest_scale, gradient_iterations=refine_gradient_iterations,
            variational_iterations=refine_variational_iterations)
        # the fine pass when it runs alone (None: the refinement engine as it is)
        self.fine_only_overrides = None if self.refine_overrides is None else {
            **self.refine_overrides,
            **({} if fine_only_stride is None else {"patch_stride": fine_only_stride}),
            **({} if fine_only_gradient_iterations is None else {"gradient_iterations": fine_only_gradient_iterations})}
        self.name = f"dis-{preset}"
        self._dis = None
        self._refine = None
        self._fine = None

    def __getstate__(self):  # cv2 objects do not pickle; rebuild in the worker process
        state = self.__dict__.copy()
        state["_dis"] = state["_refine"] = state["_fine"] = None
        return state

    def __setstate__(self, state):
        state.setdefault("refine_overrides", None)  # pickled by a version without refinement engines
        state.setdefault("_refine", None)
        state.setdefault("fine_only_above", None)  # pickled by a version that always made every pass
        state.setdefault("fine_only_overrides", None)  # ... or whose lone fine pass was the refinement engine
        state.setdefault("_fine", None)
        self.__dict__.update(state)

    def _build(self, o: dict):
        dis = cv2.DISOpticalFlow_create(self.PRESETS[self.preset])
        setters = {"finest_scale": dis.setFinestScale, "patch_size": dis.setPatchSize,
                   "patch_stride": dis.setPatchStride,
                   "gradient_iterations": dis.setGradientDescentIterations,
                   "variational_iterations": dis.setVariationalRefinementIterations,
                   "alpha": dis.setVariationalRefinementAlpha, "gamma": dis.setVariationalRefinementGamma,
                   "delta": dis.setVariationalRefinementDelta}
        for key, setter in setters.items():
            if o.get(key) is not None:
                setter(o[key])
        return dis

    def _engine(self):
        if self._dis is None:
            self._dis = self._build(self.overrides)
        return self._dis

    def _built(self, slot: str, overrides: dict | None, otherwise):
        """The engine of ``overrides``, built once into attribute ``slot``; ``otherwise()`` without them."""
        if overrides is None:
            return otherwise()
        if getattr(self, slot) is None:
            setattr(self, slot, self._build(overrides))
        return getattr(self, slot)

    def _refine_engine(self):
        return self._built("_refine", self.refine_overrides, self._engine)

    def _fine_engine(self):
        return self._built("_fine", self.fine_only_overrides, self._refine_engine)

    def fine_only(self, shape: tuple[int, ...]) -> bool:
        """Whether inputs of ``shape`` (h, w) get the fine pass alone (see the class notes)."""
        return (self.passes > 1 and self.refine_overrides is not None and self.fine_only_above is not None
                and max(shape[:2]) > self.fine_only_above)

    def estimate(self, phone: np.ndarray, target: np.ndarray) -> np.ndarray:
        if phone.shape != target.shape:
            raise ValueError(f"flow inputs differ in shape: {phone.shape} vs {target.shape}")
        a = to_uint8(phone)
        b = to_uint8(target)
        if self.fine_only(a.shape):
            return self._fine_engine().calc(a, b, None)
        flow = self._engine().calc(a, b, None)
        if self.passes > 1:
            refine = self._refine_engine()
            h, w = a.shape
            xs = np.arange(w, dtype=np.float32)[None, :]
            ys = np.arange(h, dtype=np.float32)[:, None]
            for _ in range(self.passes - 1):
                # DIS's smoothness shrinks a varying flow by ~10%: estimate what is left after
                # undoing the flow found so far, on the target resampled by it
                moved = cv2.remap(b, flow[..., 0] + xs, flow[..., 1] + ys, cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE)
                flow += refine.calc(a, moved, None)
        return flow


_REGISTRY: dict[str, Callable[[], FlowEstimator]] = {
    "dis": DISFlowEstimator,
    "dis-fast": lambda: DISFlowEstimator("fast", finest_scale=None, patch_size=None, patch_stride=None,
                                         gradient_iterations=None, variational_iterations=None, passes=1),
}


def register_flow_estimator(name: str, factory: Callable[[], FlowEstimator]) -> None:
    """Make ``AlignParams(flow=name)`` use estimators built by ``factory()``."""
    _REGISTRY[name] = factory


def flow_estimator_names() -> list[str]:
    return sorted(_REGISTRY)


def make_flow_estimator(flow: str | FlowEstimator) -> FlowEstimator:
    """An estimator from a registered name, or ``flow`` itself if it already is one."""
    if isinstance(flow, str):
        try:
            return _REGISTRY[flow]()
        except KeyError:
            raise ValueError(f"unknown flow estimator {flow!r}; known: {', '.join(flow_estimator_names())}") from None
    if not isinstance(flow, FlowEstimator):
        raise TypeError(f"{flow!r} is not a FlowEstimator (needs .name and .estimate(phone, target))")
    return flow
