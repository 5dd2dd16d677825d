"""Align one triplet: homography, patches, per-patch misalignment, heatmap.

``align_triplet`` is a pure function of two decoded images and an :class:`AlignParams`, so a
batch runner can call it in worker processes (params and results pickle).  It raises
:class:`AlignmentError` for input it cannot align.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from ispviewer.align.errors import AlignmentError
from ispviewer.align.flow import FlowEstimator, make_flow_estimator
from ispviewer.align.geometry import target_footprint
from ispviewer.align.homography import (
    Plausibility, SiftParams, check_homography, refine_homography, sift_homography,
)
from ispviewer.align.misalignment import (
    Lattice, downscale_heatmap, patch_flow_stats, patch_means, patch_texture, smooth_flow,
)
from ispviewer.align.patches import match_patches, patch_grid
from ispviewer.align.photometric import (
    gradient_energy, gradients, match_tone, normalize_luminance, trust,
)
from ispviewer.align.warp import prefilter_target, target_scale, warp_prefiltered
from ispviewer.dataset.records import AlignmentResult, PatchMeasurement, Status
from ispviewer.dataset.rules import DEFAULT_THRESHOLD_PX
from ispviewer.dataset.rules import auto_status as _rule

__all__ = ["AlignParams", "AlignmentError", "TripletAlignment", "align_triplet", "auto_status", "luminance"]


@dataclass(frozen=True)
class AlignParams:
    """Everything that changes what the aligner measures (all pickle)."""

    patch_size: int = 128  # px, even
    search_radius: int = 8  # px, NCC search range around the homography's prediction
    threshold_px: float = DEFAULT_THRESHOLD_PX  # auto status: rejected above
    flow: str | FlowEstimator = "dis"  # registered name or an estimator instance
    flow_scale: float = 0.5  # flow runs at this fraction of the phone resolution
    flow_smooth_px: float = 10.0  # sigma (phone px) of the smoothing of flow vectors: noise debias
    normalize_sigma_px: float = 16.0  # local-contrast window (phone px) of the photometric normalization
    structure_px: tuple[float, float] = (0.5, 2.0)  # local RMS gradient (grey levels / phone px):
    #                                                   flow untrusted below the first, trusted above the second
    min_texture: float = 0.4  # grey levels / phone px (structure tensor's smaller eigenvalue)
    min_trusted_share: float = 0.25  # of a patch's area with trusted flow; below: not measurable
    heatmap_scale: float = 0.25  # of the phone frame
    refine: bool = True  # refine the SIFT homography at full resolution
    sift: SiftParams = field(default_factory=SiftParams)
    limits: Plausibility = field(default_factory=Plausibility)
    threads: int | None = None  # threads for per-patch loops; None: cv2.getNumThreads()

    def __post_init__(self):
        if self.patch_size < 8 or self.patch_size % 2:
            raise ValueError(f"patch_size must be even and >= 8, got {self.patch_size}")
        if self.search_radius < 1:
            raise ValueError(f"search_radius must be >= 1, got {self.search_radius}")
        if not 0 < self.flow_scale <= 1 or (self.patch_size * self.flow_scale) % 1:
            raise ValueError(f"flow_scale must be in (0, 1] and map patches to whole pixels, got {self.flow_scale}")
        if not 0 < self.heatmap_scale <= 1:
            raise ValueError(f"heatmap_scale must be in (0, 1], got {self.heatmap_scale}")

    def describe(self) -> dict:
        """Plain-JSON summary (for the manifest's ``params``)."""
        d = asdict(self)
        d["flow"] = self.flow if isinstance(self.flow, str) else getattr(self.flow, "name", type(self.flow).__name__)
        return d


@dataclass
class TripletAlignment:
    """What :func:`align_triplet` measured for one triplet."""

    homography: np.ndarray  # 3x3 float64, Nikon target px -> phone px
    patches: list[PatchMeasurement]
    heatmap: np.ndarray  # float32 (rows, cols) at heatmap_scale of the phone frame, NaN = not measured
    heatmap_scale: float
    phone_size: tuple[int, int]  # (w, h)
    target_size: tuple[int, int]
    coverage: float  # fraction of the phone frame the target covers
    sift_matches: int
    sift_inliers: int
    refine_points: int
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, plus "total"

    def to_result(self, heatmap: str | None, params: AlignParams) -> AlignmentResult:
        """The manifest's record of this alignment (``heatmap``: path relative to the dataset)."""
        return AlignmentResult(homography=tuple(tuple(float(v) for v in row) for row in self.homography),
                               patches=tuple(self.patches), heatmap=heatmap, threshold_px=params.threshold_px,
                               params=params.describe())


def auto_status(measurement: PatchMeasurement, threshold_px: float = DEFAULT_THRESHOLD_PX) -> tuple[Status, str | None]:
    """The aligner's decision for a patch: rejected above the threshold, flagged if unmeasurable."""
    return _rule(measurement.misalignment_px, measurement.measurable, threshold_px)


def luminance(image: np.ndarray) -> np.ndarray:
    """uint8 luminance (BT.601, like a JPEG's Y) of an RGB image; a 2-D image is returned as is."""
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    raise ValueError(f"expected an RGB (h, w, 3) or luminance (h, w) image, got shape {image.shape}")


@contextmanager
def _stage(timings: dict, name: str):
    t = time.perf_counter()
    yield
    timings[name] = timings.get(name, 0.0) + time.perf_counter() - t


def _check_sizes(phone: np.ndarray, target: np.ndarray, params: AlignParams) -> None:
    ph, pw = phone.shape[:2]
    th, tw = target.shape[:2]
    if min(pw, ph) < params.patch_size:
        raise AlignmentError(f"phone image {pw}x{ph} is smaller than one {params.patch_size} px patch")
    if tw * th < (params.limits.min_target_scale ** 2) * pw * ph:
        raise AlignmentError(f"target {tw}x{th} is much smaller than the phone frame {pw}x{ph}: "
                             "it cannot provide a target at the phone's resolution")


def align_triplet(phone_rgb: np.ndarray, target_rgb: np.ndarray, params: AlignParams = AlignParams()) -> TripletAlignment:
    """Align the Nikon target to the phone ISP image and measure every patch's misalignment.

    Images are uint8 RGB (h, w, 3) or luminance (h, w).  Raises :class:`AlignmentError`.
    """
    timings: dict[str, float] = {}
    t_start = time.perf_counter()
    threads = params.threads if params.threads is not None else max(1, cv2.getNumThreads())
    with _stage(timings, "luminance"):
        phone = luminance(phone_rgb)
        target = luminance(target_rgb)
    _check_sizes(phone, target, params)
    phone_size = (phone.shape[1], phone.shape[0])
    target_size = (target.shape[1], target.shape[0])
    estimator = make_flow_estimator(params.flow)

    with _stage(timings, "homography"):
        H, n_matches, n_inliers = sift_homography(phone, target, params.sift, threads)
        check_homography(H, phone_size, target_size, params.limits)
        factor = target_scale(H, phone_size)
        pre = prefilter_target(target, factor)
        used = 0
        if params.refine:
            H, used = refine_homography(phone, pre, H, target_size)
            if abs(target_scale(H, phone_size) / factor - 1) > 0.02:
                pre = prefilter_target(target, target_scale(H, phone_size))
        coverage = check_homography(H, phone_size, target_size, params.limits)

    with _stage(timings, "warp"):
        r = params.search_radius
        margin = r + 2
        positions = patch_grid(phone_size, params.patch_size, target_footprint(H, target_size), margin)
        if len(positions) == 0:
            raise AlignmentError(f"no {params.patch_size} px patch lies fully inside the part of the phone "
                                 f"frame that the target covers ({coverage:.0%} of it)")
        region = (-margin, -margin, phone_size[0] + 2 * margin, phone_size[1] + 2 * margin)
        aligned = warp_prefiltered(pre, H, region, border_mode=cv2.BORDER_REPLICATE)
        del pre

    with _stage(timings, "patches"):
        offsets, ncc = match_patches(phone, aligned, (-margin, -margin), positions, params.patch_size, r, threads)

    with _stage(timings, "flow"):
        s = params.flow_scale
        inner = aligned[margin:margin + phone_size[1], margin:margin + phone_size[0]]
        small_size = (int(round(phone_size[0] * s)), int(round(phone_size[1] * s)))
        if s < 1:
            p_small = cv2.resize(phone, small_size, interpolation=cv2.INTER_AREA)
            t_small = cv2.resize(inner, small_size, interpolation=cv2.INTER_AREA)
        else:
            p_small, t_small = phone, np.ascontiguousarray(inner)
        del aligned, inner
        p_grad = gradients(p_small, s)
        t_grad = gradients(t_small, s)
        window = params.normalize_sigma_px * s
        weight = trust(gradient_energy(*p_grad, window / 4), gradient_energy(*t_grad, window / 4),
                       *params.structure_px)
        p_norm = normalize_luminance(match_tone(p_small, t_small), window_sigma=window)
        t_norm = normalize_luminance(t_small, window_sigma=window)
        flow = estimator.estimate(p_norm, t_norm)
        del p_norm, t_norm
        flow = np.asarray(flow, np.float32) * np.float32(1.0 / s)  # phone-frame pixels
        flow = smooth_flow(flow, params.flow_smooth_px * s, weight)

    with _stage(timings, "stats"):
        stats = patch_flow_stats(flow, s, positions, params.patch_size, offsets, weight)
        texture = np.minimum(patch_texture(*p_grad, s, positions, params.patch_size),
                             patch_texture(*t_grad, s, positions, params.patch_size))
        trusted_share = patch_means(weight, s, positions, params.patch_size)
        measurable = (texture >= params.min_texture) & (trusted_share >= params.min_trusted_share)
        magnitude = stats.magnitude
        if not measurable.all():
            lat = Lattice.of(positions, params.patch_size, s)
            for r, c in zip(lat.ri[~measurable], lat.ci[~measurable]):
                lat.view(magnitude)[r, :, c, :] = np.nan
        heatmap = downscale_heatmap(magnitude, params.heatmap_scale, phone_size)
        patches = [
            PatchMeasurement(x=int(positions[k, 0]), y=int(positions[k, 1]), size=params.patch_size,
                             dx=float(offsets[k, 0]), dy=float(offsets[k, 1]), ncc=float(ncc[k]),
                             misalignment_px=float(stats.mean[k]) if measurable[k] else None,
                             misalignment_p95=float(stats.p95[k]) if measurable[k] else None,
                             measurable=bool(measurable[k]))
            for k in range(len(positions))]
    timings["total"] = time.perf_counter() - t_start
    return TripletAlignment(homography=H, patches=patches, heatmap=heatmap, heatmap_scale=params.heatmap_scale,
                            phone_size=phone_size, target_size=target_size, coverage=coverage,
                            sift_matches=n_matches, sift_inliers=n_inliers, refine_points=used, timings=timings)
