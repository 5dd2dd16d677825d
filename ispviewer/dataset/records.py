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
    measurable: bool = True  # False: too little texture to measure


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
