"""Build the demo sources: triplets of phone raw, phone ISP JPEG and Nikon target, with ground truth.

Layout written (the by-role layout ``ispviewer import`` accepts, plus the ground truth)::

    out/raw/<stem>.dng   out/phone/<stem>.jpg   out/target/<stem>.jpg   out/groundtruth/<stem>.npz

Every file depends only on (seed, triplet index, size), so equal arguments give byte-identical files.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from ispviewer.dataset.demo.cameras import PHONE_MODELS, PhoneModel, draw_capture_settings
from ispviewer.dataset.demo.dng_writer import dng_bytes
from ispviewer.dataset.demo.geometry import DISP_STEP, make_displacement_grid, make_homography
from ispviewer.dataset.demo.groundtruth import GroundTruth, save_groundtruth
from ispviewer.dataset.demo.local_motion import add_local_motions, draw_local_motions, textured_map
from ispviewer.dataset.demo.phone_isp import render_phone_jpeg_rgb
from ispviewer.dataset.demo.scenes import compose_scene, load_asset
from ispviewer.dataset.demo.target_render import canvas_frame_for, phone_view, target_jpeg_rgb, target_view
from ispviewer.dataset.demo.unprocess import unprocess_to_raw

#: canvas pixels per phone pixel (the target's pixel is 2/3 of a phone pixel)
CANVAS_SCALE = 2
#: target linear resolution relative to the phone's
TARGET_RATIO = 1.5
PHONE_JPEG_QUALITY = 85
TARGET_JPEG_QUALITY = 92
ROLES = ("raw", "phone", "target", "groundtruth")

Progress = Callable[[int, int, str], None]


def target_size_for(phone_size: tuple[int, int]) -> tuple[int, int]:
    """The Nikon target's (width, height): 1.5x the phone's, rounded to even numbers."""
    w, h = phone_size
    return 2 * round(w * TARGET_RATIO / 2), 2 * round(h * TARGET_RATIO / 2)


def stem_for(index: int) -> str:
    return f"demo_{index:03d}"


def _check_size(size) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (width, height), got {size!r}") from None
    if w < 64 or h < 64:
        raise ValueError(f"phone frame {w}x{h} is too small (at least 64x64)")
    if w % 2 or h % 2:
        raise ValueError(f"phone frame {w}x{h}: width and height must be even (Bayer mosaic)")
    return w, h


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _jpeg(rgb: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def build_triplet(out: Path, index: int, seed: int, phone_size: tuple[int, int],
                  phone: PhoneModel) -> str:
    """Render and write one triplet; returns its stem."""
    stem = stem_for(index)
    w, h = phone_size
    tsize = target_size_for(phone_size)
    geo_rng, scene_rng, sensor_rng, motion_rng = (np.random.default_rng([seed, index, k]) for k in range(4))

    hom = make_homography(geo_rng, phone_size, tsize)
    smooth = make_displacement_grid(geo_rng, phone_size)
    frame = canvas_frame_for(hom, phone_size, tsize, CANVAS_SCALE)
    canvas = compose_scene(scene_rng, frame.shape, CANVAS_SCALE, max(w, h))
    phone_srgb = phone_view(canvas, frame, phone_size)
    motions = draw_local_motions(motion_rng, phone_size, textured=textured_map(phone_srgb))
    grid, motions = add_local_motions(smooth, DISP_STEP, motions)
    target = target_view(canvas, frame, hom, grid, DISP_STEP, tsize)
    del canvas

    settings = draw_capture_settings(phone, sensor_rng)
    raw_dn = unprocess_to_raw(phone_srgb, phone, settings, sensor_rng)
    phone_rgb = render_phone_jpeg_rgb(raw_dn, phone, settings, sensor_rng)

    _write_atomic(out / "raw" / f"{stem}.dng", dng_bytes(raw_dn, phone, settings))
    _write_atomic(out / "phone" / f"{stem}.jpg", _jpeg(phone_rgb, PHONE_JPEG_QUALITY))
    _write_atomic(out / "target" / f"{stem}.jpg", _jpeg(target_jpeg_rgb(target), TARGET_JPEG_QUALITY))
    gt = GroundTruth(homography=hom, disp_grid=grid, disp_step=DISP_STEP, phone_size=(w, h),
                     target_size=tsize, cfa_pattern=phone.cfa, make=phone.make, model=phone.model,
                     seed=seed, index=index,
                     local_motions=np.array([m.as_row() for m in motions], np.float64).reshape(-1, 6))
    buf = io.BytesIO()
    save_groundtruth(buf, gt)
    _write_atomic(out / "groundtruth" / f"{stem}.npz", buf.getvalue())
    return stem


def build_demo_sources(out: str | os.PathLike, count: int = 6, size: tuple[int, int] = (2000, 1500),
                       seed: int = 0, progress: Progress | None = None) -> list[str]:
    """Write ``count`` demo triplets under ``out`` in the by-role layout; returns their stems.

    ``size`` is the phone frame (width, height), 4:3 like the phones simulated; the target is 1.5x
    larger.  Triplets alternate between the phone models (iPhone-like RGGB 12-bit, Xiaomi-like
    BGGR 10-bit).  ``progress(i, count, stem)`` is called before triplet ``i`` (0-based, i.e. the
    number already written) is rendered, as ``ispviewer.dataset.importer`` does.
    """
    phone_size = _check_size(size)
    if int(count) < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    out = Path(out)
    for role in ROLES:
        (out / role).mkdir(parents=True, exist_ok=True)
    stems = []
    try:
        for index in range(int(count)):
            if progress is not None:
                progress(index, int(count), stem_for(index))
            phone = PHONE_MODELS[index % len(PHONE_MODELS)]
            stems.append(build_triplet(out, index, int(seed), phone_size, phone))
    finally:
        load_asset.cache_clear()  # the decoded photos (~60 MB) are not needed any more
    return stems
