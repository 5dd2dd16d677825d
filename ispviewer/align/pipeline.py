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
from ispviewer.align.homography import Plausibility, SiftParams, check_homography, refine_homography, sift_homography
from ispviewer.align.misalignment import (
    Lattice,
    downscale_heatmap,
    patch_flow_stats,
    patch_means,
    patch_texture,
    smooth_flow,
)
from ispviewer.align.patches import match_patches, patch_grid
from ispviewer.align.photometric import gradient_energy, match_tone, normalize_luminance, structure_tensor, trust
from ispviewer.align.warp import prefilter_target, target_scale, warp_prefiltered
from ispviewer.dataset.records import AlignmentResult, PatchMeasurement, Status
from ispviewer.dataset.rules import DEFAULT_THRESHOLD_PX
from ispviewer.dataset.rules import auto_status as _rule

RANSAC_SEED = 20220801

__all__ = ["AlignParams", "AlignmentError", "TripletAlignment", "align_triplet", "auto_status", "luminance"]


@dataclass(frozen=True)
class AlignParams:
    """Everything that changes what the aligner measures (all pickle)."""

    patch_size: int = 128  # px, even
    search_radius: int = 8  # px, NCC search range around the homography's prediction
    threshold_px: float = DEFAULT_THRESHOLD_PX  # auto status: rejected above
    flow: str | FlowEstimator = "dis"  # registered name or an estimator instance
    flow_scale: float = 0.5  # flow runs at this fraction of the phone resolution
    stats_scale: float = 0.25  # patch statistics (and smoothing) at this fraction, <= flow_scale
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
    threads: int | None = None  # SIFT in both images at once when > 1; None: cv2.getNumThreads()

    def __post_init__(self):
        if self.patch_size < 8 or self.patch_size % 2:
            raise ValueError(f"patch_size must be even and >= 8, got {self.patch_size}")
        if self.search_radius < 1:
            raise ValueError(f"search_radius must be >= 1, got {self.search_radius}")
        for name in ("flow_scale", "stats_scale"):
            value = getattr(self, name)
            if not 0 < value <= 1 or abs(1 / value - round(1 / value)) > 1e-9 or (self.patch_size * value) % 1:
                raise ValueError(f"{name} must be 1/k for a whole k and map patches to whole pixels, got {value}")
        if self.stats_scale > self.flow_scale:
            raise ValueError("stats_scale must not exceed flow_scale")
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

    def to_result(self, heatmap: str | None, params: AlignParams,
                  aligned_target: str | None = None) -> AlignmentResult:
        """The manifest's record of this alignment (``heatmap``, ``aligned_target``: paths relative
        to the dataset)."""
        return AlignmentResult(homography=tuple(tuple(float(v) for v in row) for row in self.homography),
                               patches=tuple(self.patches), heatmap=heatmap, threshold_px=params.threshold_px,
                               params=params.describe(), aligned_target=aligned_target)


def auto_status(measurement: PatchMeasurement, threshold_px: float = DEFAULT_THRESHOLD_PX) -> tuple[Status, str | None]:
    """The aligner's decision for a patch: rejected above the threshold, flagged if unmeasurable."""
    return _rule(measurement.misalignment_px, measurement.measurable, threshold_px)


def luminance(image: np.ndarray) -> np.ndarray:
    """uint8 luminance (BT.601, like a JPEG's Y) of an RGB image; a 2-D image is returned as is."""
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
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


def align_triplet(phone_rgb: np.ndarray, target_rgb: np.ndarray,
                  params: AlignParams = AlignParams()) -> TripletAlignment:
    """Align the Nikon target to the phone ISP image and measure every patch's misalignment.

    Images are uint8 RGB (h, w, 3) or luminance (h, w).  Raises :class:`AlignmentError`.
    The same images give the same result in any process: RANSAC's random generator (per thread
    in OpenCV) is re-seeded here.
    """
    cv2.setRNGSeed(RANSAC_SEED)
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
        margin = params.search_radius + 2  # the aligned target is rendered beyond the frame by this
        align = int(np.lcm.reduce([2, round(1 / params.flow_scale), round(1 / params.stats_scale)]))
        positions = patch_grid(phone_size, params.patch_size, target_footprint(H, target_size), margin, align)
        if len(positions) == 0:
            raise AlignmentError(f"no {params.patch_size} px patch lies fully inside the part of the phone "
                                 f"frame that the target covers ({coverage:.0%} of it)")
        region = (-margin, -margin, phone_size[0] + 2 * margin, phone_size[1] + 2 * margin)
        aligned = warp_prefiltered(pre, H, region, border_mode=cv2.BORDER_REPLICATE)
        del pre

    with _stage(timings, "patches"):
        offsets, ncc = match_patches(phone, aligned, (-margin, -margin), positions, params.patch_size,
                                     params.search_radius)

    with _stage(timings, "flow"):
        inner = aligned[margin:margin + phone_size[1], margin:margin + phone_size[0]]
        flow, p_tensor, t_tensor = _flow(phone, inner, estimator, params)
        del aligned, inner

    with _stage(timings, "stats"):
        patches, heatmap = _measure(flow, p_tensor, t_tensor, positions, offsets, ncc, phone_size, params)
    timings["total"] = time.perf_counter() - t_start
    return TripletAlignment(homography=H, patches=patches, heatmap=heatmap, heatmap_scale=params.heatmap_scale,
                            phone_size=phone_size, target_size=target_size, coverage=coverage,
                            sift_matches=n_matches, sift_inliers=n_inliers, refine_points=used, timings=timings)


def _scaled_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    return int(round(size[0] * scale)), int(round(size[1] * scale))


def _flow(phone: np.ndarray, aligned: np.ndarray, estimator: FlowEstimator, params: AlignParams):
    """Flow (at flow_scale, in phone px) between the phone and the aligned target luminance, and
    both images' structure tensors at stats_scale."""
    s, q = params.flow_scale, params.stats_scale
    phone_size = (phone.shape[1], phone.shape[0])
    if s < 1:
        p_small = cv2.resize(phone, _scaled_size(phone_size, s), interpolation=cv2.INTER_AREA)
        t_small = cv2.resize(aligned, _scaled_size(phone_size, s), interpolation=cv2.INTER_AREA)
    else:
        p_small, t_small = phone, np.ascontiguousarray(aligned)
    p_tensor = structure_tensor(p_small, s, _scaled_size(phone_size, q))
    t_tensor = structure_tensor(t_small, s, _scaled_size(phone_size, q))
    window = params.normalize_sigma_px * s
    p_norm = normalize_luminance(match_tone(p_small, t_small), window_sigma=window)
    t_norm = normalize_luminance(t_small, window_sigma=window)
    flow = np.asarray(estimator.estimate(p_norm, t_norm), np.float32) * np.float32(1.0 / s)
    return flow, p_tensor, t_tensor


def _measure(flow: np.ndarray, p_tensor, t_tensor, positions: np.ndarray, offsets: np.ndarray, ncc: np.ndarray,
             phone_size: tuple[int, int], params: AlignParams) -> tuple[list[PatchMeasurement], np.ndarray]:
    """Per-patch measurements and the heatmap, at stats_scale (the smoothed flow has no finer detail)."""
    q, size = params.stats_scale, params.patch_size
    if q < params.flow_scale:
        flow = cv2.resize(flow, _scaled_size(phone_size, q), interpolation=cv2.INTER_AREA)
    energy_sigma = params.normalize_sigma_px * q / 4
    weight = trust(gradient_energy(*p_tensor[:2], energy_sigma), gradient_energy(*t_tensor[:2], energy_sigma),
                   *params.structure_px)
    flow = smooth_flow(flow, params.flow_smooth_px * q, weight)
    stats = patch_flow_stats(flow, q, positions, size, offsets, weight)
    texture = np.minimum(patch_texture(p_tensor, q, positions, size), patch_texture(t_tensor, q, positions, size))
    trusted_share = patch_means(weight, q, positions, size)
    measurable = (texture >= params.min_texture) & (trusted_share >= params.min_trusted_share)
    magnitude = stats.magnitude
    if not measurable.all():
        lat = Lattice.of(positions, size, q)
        for r, c in zip(lat.ri[~measurable], lat.ci[~measurable]):
            lat.view(magnitude)[r, :, c, :] = np.nan
    heatmap = magnitude if params.heatmap_scale == q else downscale_heatmap(magnitude, params.heatmap_scale,
                                                                           phone_size)
    patches = [
        PatchMeasurement(x=int(positions[k, 0]), y=int(positions[k, 1]), size=size,
                         dx=float(offsets[k, 0]), dy=float(offsets[k, 1]), ncc=float(ncc[k]),
                         misalignment_px=float(stats.mean[k]) if measurable[k] else None,
                         misalignment_p95=float(stats.p95[k]) if measurable[k] else None,
                         measurable=bool(measurable[k]))
        for k in range(len(positions))]
    return patches, heatmap
