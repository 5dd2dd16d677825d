"""Global alignment: SIFT + RANSAC homography (target -> phone), refined at full resolution.

1. ``sift_homography``: SIFT on area-downscaled luminance (long side ~256 px), Lowe's ratio
   test, robust (MAGSAC++) homography, rescaled to full-resolution pixel coordinates.
2. ``refine_homography``: a grid of textured phone templates is matched by NCC (sub-pixel) in the
   target warped with the current estimate; a robust fit to these full-resolution
   correspondences corrects the coarse estimate.
3. ``check_homography``: refuses what no real capture pair can produce (a fold, strong shear or
   rotation, a target that would have to be upsampled, too little overlap).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from ispviewer.align.errors import AlignmentError
from ispviewer.align.geometry import (
    apply_homography,
    inside_convex,
    jacobian,
    quad_overlap_fraction,
    resize_matrix,
    target_footprint,
)
from ispviewer.align.patches import ncc_map, subpixel_peak
from ispviewer.align.warp import PrefilteredTarget, warp_prefiltered


@dataclass(frozen=True)
class SiftParams:
    #: SIFT runs on luminance downscaled to about this long side.  OpenCV's SIFT doubles its input
    #: before its first octave, so 256 px finds features down to the scale of a 512 px image, at a
    #: quarter of the cost of SIFT on a 512 px image; the template refinement then pins the estimate
    #: down at full resolution.
    long_side: int = 256
    #: fewer inliers than ``confident_inliers`` there (little texture, a small or blurred frame,
    #: a scene that changed): SIFT again at ``retry_long_side`` (None: never), the estimate with more
    #: inliers kept
    retry_long_side: int | None = 512
    confident_inliers: int = 100
    features: int = 1500
    ratio: float = 0.75  # Lowe's ratio test
    ransac_px: float = 1.5  # inlier distance at the SIFT scale
    min_inliers: int = 20
    min_inlier_ratio: float = 0.15  # of the matches that pass the ratio test


@dataclass(frozen=True)
class Plausibility:
    min_target_scale: float = 0.5  # target px per phone px: below, the target would be upsampled 2x
    max_target_scale: float = 8.0
    max_anisotropy: float = 1.5  # ratio of the local map's singular values
    max_scale_variation: float = 2.0  # max/min local scale over the overlap (perspective)
    max_rotation_deg: float = 30.0  # both images upright (EXIF applied): no more than a tilt
    min_overlap: float = 0.25  # fraction of the phone frame the target must cover


def _downscale(gray: np.ndarray, long_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Area-downscaled image (long side ``long_side`` to ``2 * long_side`` px) and the 3x3 map from its
    pixels back to full resolution.

    A whole factor k: OpenCV's block-averaging fast path (several times quicker than an area
    resize by a fractional factor); the last ``w mod k`` columns and ``h mod k`` rows are left out.
    """
    h, w = gray.shape
    k = int(max(w, h) // long_side)
    if k <= 1:
        return gray, np.eye(3)
    size = (w // k, h // k)
    small = cv2.resize(gray[:size[1] * k, :size[0] * k], size, interpolation=cv2.INTER_AREA)
    return small, np.linalg.inv(resize_matrix((size[0] * k, size[1] * k), size))


def _features(sift, gray: np.ndarray, what: str):
    kps, desc = sift.detectAndCompute(gray, None)
    if desc is None or len(kps) < 4:
        raise AlignmentError(f"no SIFT features found in the {what} image (blank or featureless?)")
    return np.float32([k.pt for k in kps]), desc


def sift_homography(phone_gray: np.ndarray, target_gray: np.ndarray, params: SiftParams = SiftParams(),
                    threads: int = 1) -> tuple[np.ndarray, int, int]:
    """Coarse homography target -> phone at full resolution: (H, ratio-test matches, inliers).

    SIFT runs at ``params.long_side``; when that leaves fewer than ``params.confident_inliers``
    inliers (or finds none), once more at ``params.retry_long_side`` (the estimate with more
    inliers is kept; the error of the larger scale when neither finds one).
    """
    retry = params.retry_long_side
    if retry is None or retry <= params.long_side:
        return _sift_homography_at(phone_gray, target_gray, params, params.long_side, threads)
    try:
        first = _sift_homography_at(phone_gray, target_gray, params, params.long_side, threads)
    except AlignmentError:
        first = None
    if first is not None and first[2] >= params.confident_inliers:
        return first
    try:
        second = _sift_homography_at(phone_gray, target_gray, params, retry, threads)
    except AlignmentError:
        if first is None:
            raise
        return first
    return second if first is None or second[2] >= first[2] else first


def _sift_homography_at(phone_gray: np.ndarray, target_gray: np.ndarray, params: SiftParams, long_side: int,
                        threads: int) -> tuple[np.ndarray, int, int]:
    p_small, p_up = _downscale(phone_gray, long_side)
    t_small, t_up = _downscale(target_gray, long_side)
    if threads > 1:  # cv2 releases the GIL: detect in both images at once
        with ThreadPoolExecutor(2) as pool:
            jobs = [pool.submit(_features, cv2.SIFT_create(nfeatures=params.features), img, what)
                    for img, what in ((p_small, "phone"), (t_small, "target"))]
            (p_pts, p_desc), (t_pts, t_desc) = (job.result() for job in jobs)
    else:
        sift = cv2.SIFT_create(nfeatures=params.features)
        p_pts, p_desc = _features(sift, p_small, "phone")
        t_pts, t_desc = _features(sift, t_small, "target")
    matcher = cv2.FlannBasedMatcher({"algorithm": 1, "trees": 4}, {"checks": 48})
    pairs = matcher.knnMatch(t_desc, p_desc, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < params.ratio * p[1].distance]
    if len(good) < params.min_inliers:
        raise AlignmentError(f"too few SIFT matches between target and phone image "
                             f"({len(good)}, need {params.min_inliers}): different scenes?")
    src = t_pts[[m.queryIdx for m in good]]
    dst = p_pts[[m.trainIdx for m in good]]
    H, mask = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, params.ransac_px, maxIters=5000, confidence=0.999)
    if H is None or mask is None:
        raise AlignmentError(f"no consistent homography among {len(good)} SIFT matches")
    inliers = int(mask.sum())
    if inliers < params.min_inliers or inliers < params.min_inlier_ratio * len(good):
        raise AlignmentError(f"implausible homography: only {inliers} of {len(good)} SIFT matches agree "
                             "(unrelated images?)")
    H_full = p_up @ H @ np.linalg.inv(t_up)
    return H_full / H_full[2, 2], len(good), inliers


# --------------------------------------------------------------------------- refinement


def _texture_map(phone_gray: np.ndarray, template: int) -> tuple[np.ndarray, float]:
    """Smaller structure-tensor eigenvalue over template-sized windows, on a small copy of the
    image (both directions must vary for a match to pin a point down); and that copy's scale."""
    small, up = _downscale(phone_gray, 512)
    f = up[0, 0]
    g = cv2.GaussianBlur(small.astype(np.float32), (0, 0), 1.0)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1)
    k = max(3, int(round(template / f)) | 1)
    jxx = cv2.boxFilter(gx * gx, -1, (k, k))
    jyy = cv2.boxFilter(gy * gy, -1, (k, k))
    jxy = cv2.boxFilter(gx * gy, -1, (k, k))
    return (jxx + jyy) / 2 - np.sqrt(((jxx - jyy) / 2) ** 2 + jxy ** 2), f


def _template_sites(texture: np.ndarray, f: float, frame: tuple[int, int], grid: tuple[int, int],
                    template: int, footprint: np.ndarray, margin: int) -> list[tuple[int, int]]:
    """The most textured template position (top-left, phone px) in each grid cell, kept where the
    template plus ``margin`` lies inside the target's footprint."""
    w, h = frame
    nx, ny = grid
    lo, hi_x, hi_y = margin, w - template - margin, h - template - margin
    if hi_x < lo or hi_y < lo:
        return []
    sh, sw = texture.shape
    sites = []
    for j in range(ny):
        for i in range(nx):
            sx0, sy0 = sw * i // nx, sh * j // ny
            cell = texture[sy0:max(sh * (j + 1) // ny, sy0 + 1), sx0:max(sw * (i + 1) // nx, sx0 + 1)]
            cy, cx = divmod(int(np.argmax(cell)), cell.shape[1])
            x = min(max(int(round((sx0 + cx + 0.5) * f - 0.5 - template / 2)), lo), hi_x)
            y = min(max(int(round((sy0 + cy + 0.5) * f - 0.5 - template / 2)), lo), hi_y)
            sites.append((x, y))
    xy = np.array(sites, np.float64)
    ok = np.ones(len(xy), bool)
    for cx, cy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        corner = xy + (np.array([cx, cy]) * (template + 2 * margin) - margin)
        ok &= inside_convex(footprint, corner, 1.0)
    return [site for site, keep in zip(sites, ok) if keep]


def _robust_fit(src: np.ndarray, dst: np.ndarray, fit_px: tuple[float, ...],
                min_share: float = 0.25) -> tuple[np.ndarray, np.ndarray] | None:
    """Homography src -> dst from the tightest tolerance in ``fit_px`` that keeps enough points.

    A tight tolerance keeps the fit on the dominant plane: points displaced by parallax, even by
    a fraction of a pixel, would otherwise pull the extrapolated corners.
    """
    for tol in fit_px:
        fit = _fit_at(src, dst, tol)
        if fit is not None and fit[1].sum() >= max(8, min_share * len(src)):
            return fit
    return None


def _fit_at(src: np.ndarray, dst: np.ndarray, fit_px: float) -> tuple[np.ndarray, np.ndarray] | None:
    """RANSAC at 2x ``fit_px``, then least squares on the inliers re-selected at ``fit_px``."""
    if len(src) < 8:
        return None
    H, mask = cv2.findHomography(src, dst, cv2.RANSAC, 2 * fit_px, maxIters=2000, confidence=0.999)
    if H is None:
        return None
    inl = mask.ravel().astype(bool)
    for _ in range(3):
        if inl.sum() < 8:
            return None
        H_ls, _ = cv2.findHomography(src[inl], dst[inl], 0)
        if H_ls is None:
            return None
        H = H_ls / H_ls[2, 2]
        res = np.linalg.norm(apply_homography(H, src) - dst, axis=1)
        new = res < fit_px
        if np.array_equal(new, inl):
            break
        inl = new
    return (H, inl) if inl.sum() >= 8 else None


#: frames up to this long side (px) get the dense template layout of :func:`refine_layout`
SMALL_FRAME_PX = 2048


def refine_layout(frame: tuple[int, int]) -> tuple[tuple[int, int], int]:
    """(grid, template px) of the template refinement for a phone frame (w, h).

    A 12 MP frame has plenty of pixels per correspondence: 16 x 12 sites of 64 px pin its
    corners well below 0.3 px.  A small frame extrapolates its corners from fewer, noisier
    matches, so it gets four times as many sites of 48 px (measured on the hard demo set at
    1024 x 768: corner error 0.39 -> 0.27 px at worst); the extra matching costs about 0.15 s of
    CPU, which only small frames pay.
    """
    if max(frame) <= SMALL_FRAME_PX:
        return (32, 24), 48
    return (16, 12), 64


def refine_radii(frame: tuple[int, int], sift: SiftParams = SiftParams()) -> tuple[int, ...]:
    """Search radii (phone px) of :func:`refine_homography` after :func:`sift_homography` on a phone
    frame (w, h): SIFT on a copy downscaled k >= 2 times leaves an error of several phone px at the
    frame's far sites, so the first search reaches +-16 px (measured on the hard demo set at
    2000 x 1500: +-12 px lost a fifth of the sites there); SIFT at full resolution starts within
    a pixel or two, and +-12 px is ample."""
    return (16, 3) if max(frame) // sift.long_side > 1 else (12, 3)


def refine_homography(phone_gray: np.ndarray, pre: PrefilteredTarget, H0: np.ndarray,
                      target_size: tuple[int, int], *, grid: tuple[int, int] | None = None,
                      template: int | None = None, radii: tuple[int, ...] = (12, 3), min_ncc: float = 0.6,
                      fit_px: tuple[float, ...] = (0.15, 0.3, 0.6)) -> tuple[np.ndarray, int]:
    """Correct ``H0`` with full-resolution NCC correspondences: (H, correspondences used).

    The best-textured ``template`` px square of each cell of a ``grid`` over the phone frame
    (default: :func:`refine_layout`) is matched in the target warped by the current estimate.
    One pass per search radius in ``radii`` (wide first, then narrow around the corrected
    estimate); a pass only replaces the estimate when its fit explains at least as many of that
    pass's correspondences within the tightest tolerance.  Returns the best estimate (``H0`` and
    0 when nothing matched reliably).
    """
    default_grid, default_template = refine_layout((phone_gray.shape[1], phone_gray.shape[0]))
    grid = default_grid if grid is None else grid
    template = default_template if template is None else template
    H = H0
    used = 0
    texture, f = _texture_map(phone_gray, template)
    frame = (phone_gray.shape[1], phone_gray.shape[0])
    for radius in radii:
        footprint = target_footprint(H, target_size)
        if footprint is None:
            break
        sites = _template_sites(texture, f, frame, grid, template, footprint, radius + 2)
        size = template + 2 * radius

        def match(site: tuple[int, int], H=H, radius=radius, size=size) -> tuple[float, float, float] | None:
            x, y = site
            tpl = cv2.GaussianBlur(phone_gray[y:y + template, x:x + template], (0, 0), 1.0)
            win = warp_prefiltered(pre, H, (x - radius, y - radius, size, size), border_mode=cv2.BORDER_REPLICATE)
            win = cv2.GaussianBlur(win, (0, 0), 1.0)  # the same light blur: a smoother NCC peak
            return subpixel_peak(ncc_map(win, tpl), interior_only=True)

        peaks = [match(site) for site in sites]
        good = [(site, peak) for site, peak in zip(sites, peaks) if peak is not None and peak[2] >= min_ncc]
        if not good:
            break
        centres = np.array([[x + (template - 1) / 2, y + (template - 1) / 2] for (x, y), _ in good])
        moved = centres + np.array([peak[:2] for _, peak in good]) - radius
        src = apply_homography(np.linalg.inv(H), moved)
        fit = _robust_fit(src, centres, fit_px)
        if fit is None:
            break

        def support(M: np.ndarray, src=src, centres=centres) -> int:  # matches M explains at the tightest tolerance
            return int((np.linalg.norm(apply_homography(M, src) - centres, axis=1) < fit_px[0]).sum())

        # A pass whose fit had to fall back to a looser tolerance (local motion among the sites)
        # must not replace an estimate that explains more of these very matches tightly.
        if support(fit[0]) >= support(H):
            H, used = fit[0], int(fit[1].sum())
    return H, used


def refit_to_flow(H: np.ndarray, flow: np.ndarray, weight: np.ndarray, scale: float, *, min_weight: float = 0.9,
                  max_points: int = 4000, fit_px: tuple[float, ...] = (0.1, 0.2)) -> np.ndarray | None:
    """A homography re-fitted to the dense flow between the phone image and the target aligned by ``H``.

    ``flow`` (h, w, 2) and ``weight`` (h, w) are sampled at ``scale`` of the phone frame, the flow
    in phone px (``phone(p) ~ aligned(p + flow(p))``, so ``p`` sees target point ``H^-1(p + flow(p))``).
    Up to ``max_points`` trusted pixels (weight >= ``min_weight``) on a regular lattice are fitted
    robustly at the tightest tolerance of ``fit_px`` that keeps enough of them: thousands of
    correspondences spread over the frame, where the template refinement has a few hundred; what
    moved (parallax, local motion) falls outside the tolerance.  None when too few points agree.
    """
    rows, cols = np.nonzero((weight >= min_weight) & np.isfinite(flow).all(axis=2))
    if len(rows) < 64:
        return None
    keep = np.linspace(0, len(rows) - 1, min(max_points, len(rows))).astype(np.intp)
    rows, cols = rows[keep], cols[keep]
    p = np.stack([(cols + 0.5) / scale - 0.5, (rows + 0.5) / scale - 0.5], axis=1)
    src = apply_homography(np.linalg.inv(H), p + flow[rows, cols].astype(np.float64))
    fit = _robust_fit(src, p, fit_px, min_share=0.4)
    return None if fit is None else fit[0]


# --------------------------------------------------------------------------- plausibility


def check_homography(H: np.ndarray, phone_size: tuple[int, int], target_size: tuple[int, int],
                     limits: Plausibility = Plausibility()) -> float:
    """Raise :class:`AlignmentError` for a homography no real capture pair produces.

    Returns the fraction of the phone frame that the target covers.
    """
    if H is None or not np.all(np.isfinite(H)) or abs(np.linalg.det(H)) < 1e-12:
        raise AlignmentError("degenerate homography (singular or not finite)")
    footprint = target_footprint(H, target_size)
    if footprint is None:
        raise AlignmentError("implausible homography: the target folds or reaches infinity in the phone frame")
    overlap = quad_overlap_fraction(footprint, phone_size)
    if overlap <= 0:
        raise AlignmentError("no overlap: the target does not cover any of the phone frame")
    if overlap < limits.min_overlap:
        raise AlignmentError(f"too little overlap: the target covers {overlap:.0%} of the phone frame "
                             f"(need {limits.min_overlap:.0%})")
    w, h = phone_size
    H_inv = np.linalg.inv(H)
    scales, aniso = [], []
    for u in np.linspace(0, w - 1, 5):
        for v in np.linspace(0, h - 1, 5):
            x, y, z = H_inv @ np.array([u, v, 1.0])
            if z <= 0:
                raise AlignmentError("implausible homography: part of the phone frame maps behind the target camera")
            J = jacobian(H_inv, (u, v))  # target px per phone px
            if np.linalg.det(J) <= 0:
                raise AlignmentError("implausible homography: the target would be mirrored")
            s = np.linalg.svd(J, compute_uv=False)
            scales.append(np.sqrt(s[0] * s[1]))
            aniso.append(s[0] / s[1])
    c = jacobian(H_inv, ((w - 1) / 2, (h - 1) / 2))
    angle = float(np.degrees(np.arctan2(c[1, 0] - c[0, 1], c[0, 0] + c[1, 1])))
    if abs(angle) > limits.max_rotation_deg:
        raise AlignmentError(f"implausible homography: the target is rotated {angle:.0f} degrees against the "
                             "phone image (unrelated images, or an EXIF orientation not applied?)")
    scale = float(np.median(scales))
    if scale < limits.min_target_scale:
        raise AlignmentError(f"target too small for the phone frame: it would be upsampled {1 / scale:.1f}x "
                             f"(it has {scale:.2f} target px per phone px)")
    if scale > limits.max_target_scale:
        raise AlignmentError(f"implausible homography: {scale:.1f} target px per phone px")
    if max(aniso) > limits.max_anisotropy:
        raise AlignmentError(f"implausible homography: strong shear/stretch (axis ratio {max(aniso):.2f})")
    if max(scales) / min(scales) > limits.max_scale_variation:
        raise AlignmentError(f"implausible homography: scale varies {max(scales) / min(scales):.1f}x "
                             "across the phone frame")
    return overlap
