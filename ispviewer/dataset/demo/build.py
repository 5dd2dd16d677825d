"""Build the demo sources: triplets of phone raw, phone ISP JPEG and Nikon target, with ground truth.

Layout written (the by-role layout ``ispviewer import`` accepts, plus the ground truth)::

    out/raw/<stem>.dng   out/phone/<stem>.jpg|.heic   out/target/<stem>.jpg   out/groundtruth/<stem>.npz

Every file depends only on (seed, triplet index, size), so equal arguments give byte-identical files.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from ispviewer.dataset.demo.cameras import PHONE_MODELS, PhoneModel, draw_capture_settings
from ispviewer.dataset.demo.capture_exif import (
    TARGET_MAKE,
    TARGET_MODEL,
    DemoCapture,
    dng_exif_tags,
    draw_demo_capture,
    jpeg_with_exif,
)
from ispviewer.dataset.demo.capture_frames import DEMO_FRAMES, CaptureFrame, stored_image, stored_mosaic
from ispviewer.dataset.demo.dng_writer import dng_bytes
from ispviewer.dataset.demo.geometry import DISP_STEP, make_displacement_grid, make_homography
from ispviewer.dataset.demo.groundtruth import GroundTruth, save_groundtruth
from ispviewer.dataset.demo.local_motion import add_local_motions, draw_local_motions, textured_map
from ispviewer.dataset.demo.looks import (
    draw_look,
    encode_jpeg,
    lens_distortion_grid,
    render_look,
    render_phone_look,
    srgb_to_linear,
)
from ispviewer.dataset.demo.parallax import draw_near_objects, object_rows, paint_phone_view, paint_target_view
from ispviewer.dataset.demo.phone_isp import render_phone_jpeg_rgb
from ispviewer.dataset.demo.scenes import compose_scene, load_asset
from ispviewer.dataset.demo.target_render import canvas_frame_for, phone_view, target_jpeg_rgb, target_view
from ispviewer.dataset.demo.unprocess import unprocess_to_raw
from ispviewer.dataset.orientation import oriented_size

#: canvas pixels per phone pixel (the target's pixel is 2/3 of a phone pixel)
CANVAS_SCALE = 2
#: target linear resolution relative to the phone's
TARGET_RATIO = 1.5
PHONE_JPEG_QUALITY = 85
TARGET_JPEG_QUALITY = 92
ROLES = ("raw", "phone", "target", "groundtruth")

Progress = Callable[[int, int, str], None]
#: one camera's JPEG encoder: RGB uint8 -> JPEG bytes
Encoder = Callable[[np.ndarray], bytes]


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
                  phone: PhoneModel, capture: CaptureFrame | None = None, hard: bool = False) -> str:
    """Render and write one triplet, stored as ``capture`` says (default: plain); returns its stem.

    ``hard``: randomised camera looks for both cameras (:mod:`.looks`), a lens-distortion
    difference, and near objects with rig parallax and occlusion borders (:mod:`.parallax`).
    """
    capture = CaptureFrame() if capture is None else capture
    stem = stem_for(index)
    w, h = phone_size
    tsize = target_size_for(phone_size)
    geo_rng, scene_rng, sensor_rng, motion_rng = (np.random.default_rng([seed, index, k]) for k in range(4))

    hom = make_homography(geo_rng, phone_size, tsize)
    smooth = make_displacement_grid(geo_rng, phone_size)
    hard_rng = np.random.default_rng([seed, index, 4]) if hard else None
    if hard:
        smooth = smooth + lens_distortion_grid(hard_rng, smooth.shape[:2], DISP_STEP, phone_size)
    frame = canvas_frame_for(hom, phone_size, tsize, CANVAS_SCALE)
    canvas = compose_scene(scene_rng, frame.shape, CANVAS_SCALE, max(w, h))
    phone_srgb = phone_view(canvas, frame, phone_size)
    objects = draw_near_objects(hard_rng, phone_size) if hard else []
    if objects:
        phone_srgb = paint_phone_view(phone_srgb, canvas, frame, objects)
    motions = draw_local_motions(motion_rng, phone_size, textured=textured_map(phone_srgb))
    grid, motions = add_local_motions(smooth, DISP_STEP, motions)
    target = target_view(canvas, frame, hom, grid, DISP_STEP, tsize)
    if objects:
        paint_target_view(target, canvas, frame, hom, grid, DISP_STEP, objects, w / tsize[0])
    del canvas

    settings = draw_capture_settings(phone, sensor_rng)
    raw_dn = unprocess_to_raw(phone_srgb, phone, settings, sensor_rng)
    if hard:
        phone_look, target_look = draw_look(hard_rng), draw_look(hard_rng)
        phone_rgb = render_phone_look(raw_dn, phone, settings, phone_look)
        target_rgb = render_look(srgb_to_linear(target), target_look)
        encode_phone: Encoder = functools.partial(encode_jpeg, look=phone_look)
        encode_target: Encoder = functools.partial(encode_jpeg, look=target_look)
    else:
        phone_rgb = render_phone_jpeg_rgb(raw_dn, phone, settings, sensor_rng)
        target_rgb = target_jpeg_rgb(target)
        encode_phone = functools.partial(_jpeg, quality=PHONE_JPEG_QUALITY)
        encode_target = functools.partial(_jpeg, quality=TARGET_JPEG_QUALITY)

    exif = draw_demo_capture(phone, index, np.random.default_rng([seed, index, 4]))
    _write_capture(out, stem, raw_dn, phone_rgb, target_rgb, phone, settings, capture, exif,
                   encode_phone, encode_target)
    gt = GroundTruth(homography=hom, disp_grid=grid, disp_step=DISP_STEP, phone_size=(w, h),
                     target_size=tsize, cfa_pattern=phone.cfa, make=phone.make, model=phone.model,
                     seed=seed, index=index,
                     local_motions=np.array([m.as_row() for m in motions], np.float64).reshape(-1, 6),
                     near_objects=object_rows(objects))
    buf = io.BytesIO()
    save_groundtruth(buf, gt)
    _write_atomic(out / "groundtruth" / f"{stem}.npz", buf.getvalue())
    return stem


def _write_capture(out: Path, stem: str, raw_dn: np.ndarray, phone_rgb: np.ndarray, target_rgb: np.ndarray,
                   phone: PhoneModel, settings, capture: CaptureFrame, exif: DemoCapture,
                   encode_phone: Encoder, encode_target: Encoder) -> None:
    """The three source files, stored as a device held/configured as ``capture`` writes them, with
    the capture metadata ``exif`` in their EXIF tags; the JPEGs encoded by each camera's encoder."""
    raw, cfa, crop_origin = stored_mosaic(raw_dn, phone.cfa, capture)
    crop = None
    if crop_origin is not None:
        m = capture.crop_margin
        crop = (*crop_origin, raw.shape[1] - 2 * m, raw.shape[0] - 2 * m)
    _write_atomic(out / "raw" / f"{stem}.dng", dng_bytes(raw, phone, settings, orientation=capture.raw_orientation,
                                                         cfa=cfa, default_crop=crop,
                                                         extra_tags=dng_exif_tags(exif.phone)))
    if capture.phone_format == "heic":
        from ispviewer.dataset.heif import heif_bytes

        _write_atomic(out / "phone" / f"{stem}.heic",
                      heif_bytes(phone_rgb, PHONE_JPEG_QUALITY, capture.phone_orientation))
    else:
        _write_atomic(out / "phone" / f"{stem}.jpg", jpeg_with_exif(
            encode_phone(np.ascontiguousarray(stored_image(phone_rgb, capture.phone_orientation))), exif.phone,
            phone.make, phone.model, capture.phone_orientation))
    _write_atomic(out / "target" / f"{stem}.jpg", jpeg_with_exif(
        encode_target(np.ascontiguousarray(stored_image(target_rgb, capture.target_orientation))), exif.target,
        TARGET_MAKE, TARGET_MODEL, capture.target_orientation))


def phone_image_path(out: str | os.PathLike, stem: str) -> Path:
    """The demo phone image of ``stem`` (a JPEG, or a HEIC for the captures saved that way)."""
    out = Path(out)
    heic = out / "phone" / f"{stem}.heic"
    return heic if heic.exists() else out / "phone" / f"{stem}.jpg"


def build_demo_sources(out: str | os.PathLike, count: int = 6, size: tuple[int, int] = (2000, 1500),
                       seed: int = 0, progress: Progress | None = None,
                       capture_frames: bool = True, hard: bool = False) -> list[str]:
    """Write ``count`` demo triplets under ``out`` in the by-role layout; returns their stems.

    ``size`` is the sensor's (width, height), 4:3 like the phones simulated (the phone frame of a
    capture turned 90° is (height, width): a portrait); the target is 1.5x
    larger.  Triplets alternate between the phone models (iPhone-like RGGB 12-bit, Xiaomi-like
    BGGR 10-bit).  ``progress(i, count, stem)`` is called before triplet ``i`` (0-based, i.e. the
    number already written) is rendered, as ``ispviewer.dataset.importer`` does.

    With ``capture_frames`` the captures are stored the ways phones write them, cycling through
    :data:`~ispviewer.dataset.demo.capture_frames.DEMO_FRAMES` (turned raws and images with
    their orientation tags, a DNG with a default crop, HEIC phone images); the scene, the ground
    truth and every loader's output stay in the upright phone frame.  Without, all are plain.
    ``hard`` builds the harder variant (see :func:`build_triplet`).
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
            capture = DEMO_FRAMES[index % len(DEMO_FRAMES)] if capture_frames else CaptureFrame()
            # a sensor is landscape: a capture tagged to turn 90° shows a portrait phone frame
            frame_size = oriented_size(phone_size, capture.raw_orientation)
            stems.append(build_triplet(out, index, int(seed), frame_size, phone, capture, hard=bool(hard)))
    finally:
        load_asset.cache_clear()  # the decoded photos (~60 MB) are not needed any more
    return stems
