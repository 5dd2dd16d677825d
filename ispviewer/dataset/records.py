"""Plain records that cross module boundaries: what the manifest stores and returns.

They are frozen dataclasses with no behaviour beyond small derived values, so that the aligner,
the manifest, the exporter and the GUI can exchange them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Status(str, Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    FLAGGED = "flagged"


class DecidedBy(str, Enum):
    AUTO = "auto"
    USER = "user"


class AlignState(str, Enum):
    PENDING = "pending"
    ALIGNED = "aligned"
    FAILED = "failed"


@dataclass(frozen=True)
class CaptureFiles:
    """The three files of one capture, as paths relative to the dataset root."""

    raw: str
    phone: str
    target: str


@dataclass(frozen=True)
class RawInfo:
    """What the phone raw says about itself (read with rawpy)."""

    width: int
    height: int
    make: str
    model: str
    cfa_pattern: str  # e.g. "RGGB", "GRBG": colours of the 2x2 tile, row-major, top-left first
    black_level: float
    white_level: float
    #: How the sensor mosaic becomes the phone frame: the crop (x, y, w, h) of LibRaw's visible
    #: area (None: all of it), then the EXIF orientation code (1..8).  ``width``, ``height`` and
    #: ``cfa_pattern`` describe the phone frame, i.e. after both.
    orientation: int = 1
    crop: tuple[int, int, int, int] | None = None


@dataclass(frozen=True)
class CaptureFormat:
    """How a capture's images were stored (the raw's geometry is in :class:`RawInfo`) and what the
    import could not verify about them."""

    phone_format: str = "jpeg"  # "jpeg" or "heif"
    phone_orientation: int = 1  # EXIF orientation the phone image is stored with (applied on load)
    target_orientation: int = 1
    note: str | None = None  # e.g. the orientation guard's "not verifiable: flat scene"


SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class CaptureInfo:
    """A triplet's stored capture metadata (None: the files do not say)."""

    exposure_time: float | None = None  # phone capture, seconds
    iso: float | None = None
    f_number: float | None = None
    focal_length: float | None = None  # mm
    captured_at: str | None = None  # ISO 8601
    target_exposure_time: float | None = None
    target_iso: float | None = None
    target_f_number: float | None = None
    target_focal_length: float | None = None
    target_captured_at: str | None = None
    ev100: float | None = None  # scene brightness of the phone capture
    illumination: str | None = None  # class of ev100 (night, low light, indoor, daylight)
    capture_gap_s: float | None = None  # seconds from the phone capture to the target capture


@dataclass(frozen=True)
class TripletRecord:
    """One triplet as the manifest knows it."""

    id: int
    name: str
    files: CaptureFiles
    raw: RawInfo
    target_width: int
    target_height: int
    align_state: AlignState = AlignState.PENDING
    align_error: str | None = None
    homography: tuple[tuple[float, ...], ...] | None = None  # 3x3, Nikon target px -> phone px
    heatmap: str | None = None  # path relative to the dataset root
    mean_misalignment: float | None = None
    patch_counts: dict[str, int] = field(default_factory=dict)  # status -> count
    aligned_target: str | None = None  # the aligned target JPEG (display cache), relative to the root
    capture: CaptureFormat = field(default_factory=CaptureFormat)
    metadata: CaptureInfo | None = None  # capture metadata; None: not read yet (or a dataset older than schema 4)
    split: str | None = None  # train / val / test, None: not assigned

    @property
    def phone_model(self) -> str:
        return f"{self.raw.make} {self.raw.model}".strip()


@dataclass(frozen=True)
class PatchMeasurement:
    """What the aligner measured for one patch (input to the manifest)."""

    x: int  # top-left corner in the phone frame (even)
    y: int
    size: int
    dx: float  # offset of the matched square in the aligned target
    dy: float
    ncc: float
    misalignment_px: float | None  # mean flow magnitude; None when not measurable
    misalignment_p95: float | None
    measurable: bool = True  # False: not measurable (``cause`` says why)
    cause: str | None = None  # why not measurable, or a caveat on the measurement (e.g. match at the search's edge)


@dataclass(frozen=True)
class AlignmentResult:
    """Everything the aligner hands to the manifest for one triplet."""

    homography: tuple[tuple[float, ...], ...]  # 3x3, Nikon target px -> phone px
    patches: tuple[PatchMeasurement, ...]
    heatmap: str | None  # path relative to the dataset root, written by the aligner
    threshold_px: float
    params: dict = field(default_factory=dict)
    aligned_target: str | None = None  # aligned target JPEG written by the aligner (a cache), relative path


@dataclass(frozen=True)
class PatchRecord:
    """One patch as the manifest knows it: measurement plus current decision."""

    id: int
    triplet_id: int
    triplet: str
    x: int
    y: int
    size: int
    dx: float
    dy: float
    ncc: float
    misalignment_px: float | None
    misalignment_p95: float | None
    measurable: bool
    status: Status
    decided_by: DecidedBy
    reason: str | None
    annotator: str | None = None  # the person whose decision this is; None: the aligner's


@dataclass(frozen=True)
class DecisionEvent:
    """One line of a patch's append-only decision history."""

    id: int
    patch_id: int
    at: str  # ISO 8601, UTC
    actor: DecidedBy
    old_status: Status | None
    new_status: Status
    reason: str | None
    annotator: str | None = None  # the person behind the event; None: the aligner
    queue: str | None = None  # the review queue it was made from (e.g. "audit"), if any
