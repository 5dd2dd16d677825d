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
from ispviewer.align.geometry import apply_homography, target_footprint
from ispviewer.align.homography import (
    Plausibility,
    SiftParams,
    check_homography,
    refine_homography,
    refine_radii,
    refit_to_flow,
    sift_homography,
)
from ispviewer.align.misalignment import (
    Lattice,
    downscale_heatmap,
    patch_flow_stats,
    patch_means,
    patch_texture,
    smooth_flow,
)
from ispviewer.align.patches import patch_grid, search_patches
from ispviewer.align.photometric import gradient_energy, match_tone, normalize_luminance, structure_tensor, trust
from ispviewer.align.trust import EDGE_OF_SEARCH, combine, flow_inconsistency, patch_causes
from ispviewer.align.warp import PrefilteredTarget, prefilter_target, target_scale, warp_prefiltered
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
    wide_radius: int = 32  # px, coarse-to-fine search range of patches whose match hit that range's edge
    threshold_px: float = DEFAULT_THRESHOLD_PX  # auto status: rejected above
    flow: str | FlowEstimator = "dis"  # registered name or an estimator instance
    flow_scale: float = 0.5  # flow runs at this fraction of the phone resolution
    stats_scale: float = 0.25  # patch statistics (and smoothing) at this fraction, <= flow_scale
    flow_smooth_px: float = 4.0  # sigma (phone px) of the smoothing of flow vectors before measuring
    #                              (light: the per-patch noise shrinkage removes what noise it leaves)
    normalize_sigma_px: float = 16.0  # local-contrast window (phone px) of the photometric normalization
    normalize_blur_px: float = 1.0  # light blur (phone px) of both luminances before normalizing
    structure_px: tuple[float, float] = (0.5, 2.0)  # local RMS gradient (grey levels / phone px):
    #                                                   flow untrusted below the first, trusted above the second
    min_texture: float = 0.4  # grey levels / phone px (structure tensor's smaller eigenvalue)
    min_trusted_share: float = 0.25  # of a patch's area with trusted flow; below: not measurable
    max_residual: float = 1.2  # normalized luminance: phone vs flow-compensated target; above: flow not consistent
    max_flow_step_px: float = 0.4  # phone px per phone px of flow change (an occlusion / motion boundary)
    max_inconsistent_share: float = 0.04  # of a patch's area with inconsistent flow; above: not measurable
    max_clipped_share: float = 0.5  # of a patch's area clipped (<= 2 or >= 253) in either image
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
        if self.wide_radius < 0:
            raise ValueError(f"wide_radius must be >= 0, got {self.wide_radius}")
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
    #: the target's luminance area-averaged to about the phone scale (what the aligned luminance was
    #: warped from), kept only when asked (``keep_prefiltered``): the aligned-target cache reuses it
    prefiltered: PrefilteredTarget | None = field(default=None, repr=False)

    def to_result(self, heatmap: str | None, params: AlignParams,
                  aligned_target: str | None = None) -> AlignmentResult:
        """The manifest's record of this alignment (``heatmap``, ``aligned_target``: paths relative
        to the dataset)."""
        return AlignmentResult(homography=tuple(tuple(float(v) for v in row) for row in self.homography),
                               patches=tuple(self.patches), heatmap=heatmap, threshold_px=params.threshold_px,
                               params=params.describe(), aligned_target=aligned_target)


def auto_status(measurement: PatchMeasurement, threshold_px: float = DEFAULT_THRESHOLD_PX) -> tuple[Status, str | None]:
    """The aligner's decision for a patch: rejected above the threshold, flagged if unmeasurable."""
    return _rule(measurement.misalignment_px, measurement.measurable, threshold_px, measurement.cause)


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
                  params: AlignParams = AlignParams(), *, keep_prefiltered: bool = False) -> TripletAlignment:
    """Align the Nikon target to the phone ISP image and measure every patch's misalignment.

    Images are uint8 RGB (h, w, 3) or luminance (h, w).  Raises :class:`AlignmentError`.
    ``keep_prefiltered``: the result keeps the target luminance area-averaged to the phone scale
    (``prefiltered``), for rendering the aligned target without averaging the target again.
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
            H, used = refine_homography(phone, pre, H, target_size, radii=refine_radii(phone_size, params.sift))
            if abs(target_scale(H, phone_size) / factor - 1) > 0.02:
                pre = prefilter_target(target, target_scale(H, phone_size))
        coverage = check_homography(H, phone_size, target_size, params.limits)

    with _stage(timings, "warp"):
        inside = params.search_radius + 2  # patches' search windows lie inside the target by this
        align = int(np.lcm.reduce([2, round(1 / params.flow_scale), round(1 / params.stats_scale)]))
        positions = patch_grid(phone_size, params.patch_size, target_footprint(H, target_size), inside, align)
        if len(positions) == 0:
            raise AlignmentError(f"no {params.patch_size} px patch lies fully inside the part of the phone "
                                 f"frame that the target covers ({coverage:.0%} of it)")
        # the aligned target is rendered beyond the frame by this (a multiple of the coarse search's 4)
        margin = -(-(max(params.search_radius, params.wide_radius + 4) + 6) // 4) * 4
        region = (-margin, -margin, phone_size[0] + 2 * margin, phone_size[1] + 2 * margin)
        aligned = warp_prefiltered(pre, H, region, border_mode=cv2.BORDER_REPLICATE)
        if not keep_prefiltered:
            pre = None  # 12 MP the aligner no longer needs

    with _stage(timings, "patches"):
        found = search_patches(phone, aligned, (-margin, -margin), positions, params.patch_size,
                               params.search_radius, params.wide_radius)

    with _stage(timings, "flow"):
        inner = aligned[margin:margin + phone_size[1], margin:margin + phone_size[0]]
        flow, p_tensor, t_tensor, consistent, clipped = _flow(phone, inner, estimator, params)
        del aligned, inner

    with _stage(timings, "stats"):
        H, patches, heatmap = _measure(H, flow, p_tensor, t_tensor, consistent, clipped, positions, found,
                                       phone_size, target_size, params)
    timings["total"] = time.perf_counter() - t_start
    return TripletAlignment(homography=H, patches=patches, heatmap=heatmap, heatmap_scale=params.heatmap_scale,
                            phone_size=phone_size, target_size=target_size, coverage=coverage,
                            sift_matches=n_matches, sift_inliers=n_inliers, refine_points=used, timings=timings,
                            prefiltered=pre)


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
    blur = params.normalize_blur_px * s
    # both images in one two-channel pass: the same result, bit for bit, ~10% less work
    p_norm, t_norm = cv2.split(normalize_luminance(cv2.merge([match_tone(p_small, t_small), t_small]),
                                                   blur_sigma=blur, window_sigma=window))
    flow = np.asarray(estimator.estimate(p_norm, t_norm), np.float32)
    stats_size = _scaled_size(phone_size, q)
    consistent = flow_inconsistency(p_norm, t_norm, flow, params.max_residual, params.max_flow_step_px, stats_size)
    clipped = cv2.resize(((p_small <= 2) | (p_small >= 253) | (t_small <= 2) | (t_small >= 253)).astype(np.float32),
                         stats_size, interpolation=cv2.INTER_AREA)
    flow *= np.float32(1.0 / s)
    return flow, p_tensor, t_tensor, consistent, clipped


def _refit(H: np.ndarray, flow: np.ndarray, weight: np.ndarray, positions: np.ndarray, offsets: np.ndarray,
           phone_size: tuple[int, int], target_size: tuple[int, int],
           params: AlignParams) -> tuple[np.ndarray, np.ndarray]:
    """H re-fitted to the dense flow, and the patch offsets re-expressed for it (each patch still
    claims the same target point at its centre), when the re-fit is plausible and close to H."""
    H_new = refit_to_flow(H, flow, weight, params.stats_scale)
    if H_new is None:
        return H, offsets
    C = H_new @ np.linalg.inv(H)  # aligned-frame px (old H) -> aligned-frame px (new H)
    w, h = phone_size
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], float)
    if np.abs(apply_homography(C, corners) - corners).max() > 2 * params.search_radius:
        return H, offsets  # not a correction of H but something else: keep H
    try:
        check_homography(H_new, phone_size, target_size, params.limits)
    except AlignmentError:
        return H, offsets
    centres = positions + (params.patch_size - 1) / 2
    moved = apply_homography(C, centres + offsets)
    return H_new, (moved - centres).astype(np.float32)


def _measure(H: np.ndarray, flow: np.ndarray, p_tensor, t_tensor, consistent: tuple, clipped: np.ndarray,
             positions: np.ndarray, found, phone_size: tuple[int, int], target_size: tuple[int, int],
             params: AlignParams) -> tuple[np.ndarray, list[PatchMeasurement], np.ndarray]:
    """H (re-fitted to the flow), per-patch measurements and the heatmap, at stats_scale (the
    smoothed flow has no finer detail)."""
    q, size = params.stats_scale, params.patch_size
    offsets, ncc = found.offsets, found.ncc
    if q < params.flow_scale:
        flow = cv2.resize(flow, _scaled_size(phone_size, q), interpolation=cv2.INTER_AREA)
    energy_sigma = params.normalize_sigma_px * q / 4
    structure = trust(gradient_energy(*p_tensor[:2], energy_sigma), gradient_energy(*t_tensor[:2], energy_sigma),
                      *params.structure_px)
    consistent = combine(*consistent, structure)
    weight = structure * consistent
    texture = np.minimum(patch_texture(p_tensor, q, positions, size), patch_texture(t_tensor, q, positions, size))
    trusted_share = patch_means(structure, q, positions, size)
    inconsistent = 1 - patch_means(consistent, q, positions, size)
    clipped_share = patch_means(clipped, q, positions, size)
    causes = patch_causes(texture >= params.min_texture, trusted_share >= params.min_trusted_share,
                          clipped_share > params.max_clipped_share, inconsistent > params.max_inconsistent_share,
                          found.at_edge)
    measurable = np.array([c is None or c == EDGE_OF_SEARCH for c in causes])
    flow = smooth_flow(flow, params.flow_smooth_px * q, weight)
    stats = patch_flow_stats(flow, q, positions, size, offsets, weight, denoise=measurable)
    if params.refine:  # the residuals stay: only how (H, offsets) express each patch's match changes
        H, offsets = _refit(H, flow, weight, positions, offsets, phone_size, target_size, params)
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
                         measurable=bool(measurable[k]), cause=causes[k])
        for k in range(len(positions))]
    return H, patches, heatmap
