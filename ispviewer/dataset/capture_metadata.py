"""Capture metadata of a triplet: exposure, sensitivity, aperture, focal length and capture time.

Read from the TIFF/EXIF tags of the phone raw (DNG and most raws are TIFF containers that carry
the EXIF tags in IFD0 or in an EXIF sub-IFD) and from the EXIF segment of both JPEGs.  From the
phone capture we derive the scene brightness

    EV100 = log2(N² / t) − log2(ISO / 100)

(N the f-number, t the exposure time in seconds) and an illumination class from it; from the
two capture times, the time between the phone and the target capture (things move in between).

Nothing here raises on odd files: a tag that is missing, malformed or absurd is simply absent.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path

#: Illumination classes, darkest first, and the default EV100 upper bounds of all but the last:
#: night < 4 <= low light < 7 <= indoor < 11 <= daylight.  (EV100 4 is a lit street at night,
#: 7 a bright office, 11 an overcast day; direct sun is about 15.)  A dataset setting overrides them.
ILLUMINATIONS: tuple[str, ...] = ("night", "low light", "indoor", "daylight")
DEFAULT_BOUNDS: tuple[float, ...] = (4.0, 7.0, 11.0)
BOUNDS_SETTING = "illumination_bounds"

_TAG_EXPOSURE, _TAG_FNUMBER, _TAG_EXIF_IFD = 0x829A, 0x829D, 0x8769
_TAG_ISO, _TAG_DATETIME_ORIGINAL, _TAG_FOCAL = 0x8827, 0x9003, 0x920A
_TAG_OFFSET_ORIGINAL, _TAG_SUBSEC_ORIGINAL, _TAG_DATETIME = 0x9011, 0x9291, 0x0132
_WANTED = {_TAG_EXPOSURE, _TAG_FNUMBER, _TAG_EXIF_IFD, _TAG_ISO, _TAG_DATETIME_ORIGINAL, _TAG_FOCAL,
           _TAG_OFFSET_ORIGINAL, _TAG_SUBSEC_ORIGINAL, _TAG_DATETIME}
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8}


@dataclass(frozen=True)
class ExposureInfo:
    """What one file says about its exposure; None where the file does not say (or says nonsense)."""

    exposure_time: float | None = None  # seconds
    iso: float | None = None
    f_number: float | None = None
    focal_length: float | None = None  # mm
    captured_at: str | None = None  # ISO 8601; with a UTC offset when the file gives one

    def merged(self, other: ExposureInfo) -> ExposureInfo:
        """Fields of ``self``, with the gaps filled from ``other``."""
        return ExposureInfo(**{f.name: getattr(self, f.name) if getattr(self, f.name) is not None
                               else getattr(other, f.name) for f in fields(self)})


@dataclass(frozen=True)
class CaptureMetadata:
    """A triplet's capture metadata: the phone capture (raw, gaps filled from the phone JPEG) and
    the target capture, plus what is derived from them."""

    phone: ExposureInfo
    target: ExposureInfo
    ev100: float | None
    illumination: str | None
    capture_gap_s: float | None  # target capture time minus phone capture time

    def to_json(self) -> str:
        return json.dumps({"phone": asdict(self.phone), "target": asdict(self.target)})


def ev100(info: ExposureInfo) -> float | None:
    """Scene brightness at ISO 100 from exposure time, f-number and ISO; None if one is missing."""
    t, n, iso = info.exposure_time, info.f_number, info.iso
    if not (t and n and iso) or t <= 0 or n <= 0 or iso <= 0:
        return None
    return math.log2(n * n / t) - math.log2(iso / 100.0)


def parse_bounds(text: str | None) -> tuple[float, ...]:
    """Illumination bounds from their setting text ("4,7,11"); ValueError names what is wrong."""
    if text is None:
        return DEFAULT_BOUNDS
    try:
        bounds = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise ValueError(f"illumination bounds {text!r}: expected {len(DEFAULT_BOUNDS)} numbers, "
                         "e.g. 4,7,11") from None
    if len(bounds) != len(ILLUMINATIONS) - 1 or any(not math.isfinite(b) for b in bounds) \
            or any(a >= b for a, b in zip(bounds, bounds[1:])):
        raise ValueError(f"illumination bounds {text!r}: need {len(ILLUMINATIONS) - 1} increasing EV100 "
                         f"values (upper bounds of {', '.join(ILLUMINATIONS[:-1])}), e.g. 4,7,11")
    return bounds


def illumination(ev: float | None, bounds: tuple[float, ...] = DEFAULT_BOUNDS) -> str | None:
    if ev is None:
        return None
    for name, upper in zip(ILLUMINATIONS, bounds):
        if ev < upper:
            return name
    return ILLUMINATIONS[-1]


def capture_gap_s(phone: ExposureInfo, target: ExposureInfo) -> float | None:
    """Seconds from the phone capture to the target capture (either sign); None if unknown."""
    if not phone.captured_at or not target.captured_at:
        return None
    a, b = datetime.fromisoformat(phone.captured_at), datetime.fromisoformat(target.captured_at)
    if (a.tzinfo is None) != (b.tzinfo is None):  # one offset unknown: compare the wall clocks
        a, b = a.replace(tzinfo=None), b.replace(tzinfo=None)
    return (b - a).total_seconds()


def read_capture_metadata(raw: str | os.PathLike, phone_jpeg: str | os.PathLike,
                          target_jpeg: str | os.PathLike,
                          bounds: tuple[float, ...] = DEFAULT_BOUNDS) -> CaptureMetadata:
    """The capture metadata of one triplet's three files."""
    phone = read_exposure(raw).merged(read_exposure(phone_jpeg))
    target = read_exposure(target_jpeg)
    ev = ev100(phone)
    return CaptureMetadata(phone=phone, target=target, ev100=ev, illumination=illumination(ev, bounds),
                           capture_gap_s=capture_gap_s(phone, target))


def read_exposure(path: str | os.PathLike) -> ExposureInfo:
    """EXIF exposure fields of a TIFF-based raw or a JPEG; empty when it has none or is unreadable."""
    try:
        with open(Path(path), "rb") as fh:
            head = fh.read(1 << 20)
    except OSError:
        return ExposureInfo()
    tiff = _jpeg_exif(head) if head[:2] == b"\xff\xd8" else head
    if tiff is None or len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return ExposureInfo()
    try:
        tags = _read_tags(tiff)
    except (struct.error, ValueError, IndexError):
        return ExposureInfo()
    return _exposure_from_tags(tags)


# --------------------------------------------------------------------------- TIFF / EXIF parsing


def _jpeg_exif(buf: bytes) -> bytes | None:
    pos = 2
    while pos + 4 <= len(buf) and buf[pos] == 0xFF:
        marker = buf[pos + 1]
        (length,) = struct.unpack(">H", buf[pos + 2:pos + 4])
        if marker == 0xE1 and buf[pos + 4:pos + 10] == b"Exif\0\0":
            return buf[pos + 10:pos + 2 + length]
        if marker == 0xDA or length < 2:
            return None
        pos += 2 + length
    return None


def _read_tags(tiff: bytes) -> dict[int, object]:
    end = "<" if tiff[:2] == b"II" else ">"
    (ifd0,) = struct.unpack(end + "I", tiff[4:8])
    tags = _read_ifd(tiff, end, ifd0)
    exif = tags.pop(_TAG_EXIF_IFD, None)
    if isinstance(exif, (int, float)) and 8 <= int(exif) < len(tiff):
        for tag, value in _read_ifd(tiff, end, int(exif)).items():
            tags.setdefault(tag, value)  # IFD0's own value wins (DNG keeps them there)
    return tags


def _read_ifd(tiff: bytes, end: str, offset: int) -> dict[int, object]:
    (count,) = struct.unpack(end + "H", tiff[offset:offset + 2])
    out: dict[int, object] = {}
    for k in range(min(count, 1024)):
        entry = tiff[offset + 2 + 12 * k: offset + 14 + 12 * k]
        if len(entry) < 12:
            break
        tag, typ, n = struct.unpack(end + "HHI", entry[:8])
        if tag not in _WANTED or typ not in _TYPE_SIZES or n == 0 or n > 64:
            continue
        size = _TYPE_SIZES[typ] * n
        if size <= 4:
            data = entry[8:8 + size]
        else:
            (ptr,) = struct.unpack(end + "I", entry[8:12])
            data = tiff[ptr:ptr + size]
            if len(data) < size:
                continue
        out[tag] = _decode(typ, data, end)
    return out


def _decode(typ: int, data: bytes, end: str) -> object:
    if typ == 2:
        return data.split(b"\0", 1)[0].decode("latin-1").strip()
    if typ in (5, 10):
        num, den = struct.unpack(end + ("II" if typ == 5 else "ii"), data[:8])
        return num / den if den else None
    fmt = {1: "B", 3: "H", 4: "I", 7: "B", 9: "i"}[typ]
    return struct.unpack(end + fmt, data[:struct.calcsize(fmt)])[0]


def _positive(value, low: float, high: float) -> float | None:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
        return None
    return float(value)


def _exposure_from_tags(tags: dict[int, object]) -> ExposureInfo:
    return ExposureInfo(
        exposure_time=_positive(tags.get(_TAG_EXPOSURE), 1e-6, 3600.0),
        iso=_positive(tags.get(_TAG_ISO), 1.0, 1e7),
        f_number=_positive(tags.get(_TAG_FNUMBER), 0.5, 256.0),
        focal_length=_positive(tags.get(_TAG_FOCAL), 0.1, 10000.0),
        captured_at=_capture_time(tags.get(_TAG_DATETIME_ORIGINAL) or tags.get(_TAG_DATETIME),
                                  tags.get(_TAG_SUBSEC_ORIGINAL), tags.get(_TAG_OFFSET_ORIGINAL)))


def _capture_time(text, subsec, offset) -> str | None:
    if not isinstance(text, str):
        return None
    try:
        when = datetime.strptime(text.strip()[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    if isinstance(subsec, str) and subsec.strip().isdigit():
        digits = subsec.strip()[:6]
        when = when.replace(microsecond=int(digits.ljust(6, "0")))
    if isinstance(offset, str) and len(offset.strip()) == 6 and offset.strip()[0] in "+-":
        try:
            sign = 1 if offset.strip()[0] == "+" else -1
            hours, minutes = int(offset.strip()[1:3]), int(offset.strip()[4:6])
            when = when.replace(tzinfo=timezone(sign * timedelta(hours=hours, minutes=minutes)))
        except ValueError:
            pass
    return when.isoformat(timespec="milliseconds" if when.microsecond else "seconds")
