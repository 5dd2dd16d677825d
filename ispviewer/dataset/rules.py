"""The automatic decision rule, shared by the aligner and the manifest."""

from __future__ import annotations

from ispviewer.dataset.records import Status

DEFAULT_THRESHOLD_PX = 1.2
LOW_TEXTURE_REASON = "too little texture to measure misalignment"


def auto_status(misalignment_px: float | None, measurable: bool, threshold_px: float,
                cause: str | None = None) -> tuple[Status, str | None]:
    """What the aligner decides for a patch: reject above the threshold, flag what it cannot measure.

    ``cause``: the aligner's reason why a patch is not measurable (default: too little texture),
    or its caveat on a rejected measurement (e.g. the match lay at the edge of the search range).
    """
    if not measurable or misalignment_px is None:
        return Status.FLAGGED, cause or LOW_TEXTURE_REASON
    if misalignment_px > threshold_px:
        reason = f"misalignment {misalignment_px:.2f} px > {threshold_px:g} px"
        return Status.REJECTED, f"{reason}; {cause}" if cause else reason
    return Status.ACCEPTED, None
