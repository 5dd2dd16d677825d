"""The automatic decision rule, shared by the aligner and the manifest."""

from __future__ import annotations

from ispviewer.dataset.records import Status

DEFAULT_THRESHOLD_PX = 1.2
LOW_TEXTURE_REASON = "too little texture to measure misalignment"


def auto_status(misalignment_px: float | None, measurable: bool, threshold_px: float,
                cause: str | None = None) -> tuple[Status, str | None]:
    """What the aligner decides for a patch: reject above the threshold, flag what it cannot measure.

    ``cause``: the aligner's reason why a patch is not measurable (default: too little texture),
    or its caveat on a measurement (e.g. the match lay at the edge of the search range): a
    rejected patch's reason ends with it, an accepted patch's reason is the caveat alone, so it
    is kept whatever the threshold (see :func:`caveat_of`).
    """
    if not measurable or misalignment_px is None:
        return Status.FLAGGED, cause or LOW_TEXTURE_REASON
    if misalignment_px > threshold_px:
        reason = f"misalignment {misalignment_px:.2f} px > {threshold_px:g} px"
        return Status.REJECTED, f"{reason}{_CAVEAT_SEPARATOR}{cause}" if cause else reason
    return Status.ACCEPTED, cause


_CAVEAT_SEPARATOR = "; "


def caveat_of(status: Status | str, reason: str | None) -> str | None:
    """The aligner's cause or caveat inside a reason :func:`auto_status` gave (None: none).

    Re-deciding an automatic decision (a new threshold) passes it back to :func:`auto_status`,
    so a patch keeps saying, for instance, that its match lay at the edge of the search range.
    """
    if reason is None:
        return None
    if Status(status) != Status.REJECTED:
        return reason
    if not reason.startswith("misalignment ") or _CAVEAT_SEPARATOR not in reason:
        return None
    return reason.split(_CAVEAT_SEPARATOR, 1)[1] or None
