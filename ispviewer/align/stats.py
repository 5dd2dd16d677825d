"""Misalignment statistics of a dataset, like the poster's Figure 4 (text and PNG)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.review.audit import report_lines


@dataclass
class MisalignmentStats:
    threshold_px: float
    values: np.ndarray  # measured misalignment of every measurable patch (px)
    by_status: Counter = field(default_factory=Counter)
    by_phone: dict[str, np.ndarray] = field(default_factory=dict)
    failed_triplets: list[tuple[str, str]] = field(default_factory=list)
    unmeasurable: int = 0
    review: list[str] = field(default_factory=list)  # decisions per person, audit estimates

    @property
    def share_under(self) -> float:
        return float(np.mean(self.values <= self.threshold_px)) if self.values.size else float("nan")

    def histogram(self, bin_px: float = 0.1, top: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        top = top or max(3.0, float(np.ceil(np.percentile(self.values, 99.5))) if self.values.size else 3.0)
        edges = np.arange(0.0, top + bin_px / 2, bin_px)
        counts, _ = np.histogram(np.clip(self.values, 0, top - 1e-9), bins=edges)
        return counts, edges


def collect(manifest: Manifest) -> MisalignmentStats:
    rows = manifest.misalignment_table()
    values, phones = [], defaultdict(list)
    stats = MisalignmentStats(threshold_px=manifest.threshold_px, values=np.zeros(0))
    for r in rows:
        stats.by_status[r["status"]] += 1
        if r["measurable"] and r["misalignment_px"] is not None:
            values.append(r["misalignment_px"])
            phones[r["phone_model"] or "unknown"].append(r["misalignment_px"])
        else:
            stats.unmeasurable += 1
    stats.values = np.asarray(values, dtype=np.float64)
    stats.by_phone = {k: np.asarray(v) for k, v in sorted(phones.items())}
    stats.failed_triplets = [(t.name, t.align_error or "") for t in manifest.triplets() if t.align_error]
    stats.review = report_lines(manifest)
    return stats


def format_report(stats: MisalignmentStats) -> str:
    lines = []
    v = stats.values
    if v.size:
        lines.append(f"patches measured: {v.size}  mean misalignment {v.mean():.3f} px  median {np.median(v):.3f} px")
        under = v[v <= stats.threshold_px]
        lines.append(f"under the {stats.threshold_px:g} px threshold: {100 * stats.share_under:.1f}%  "
                     f"mean of those: {under.mean() if under.size else float('nan'):.3f} px")
    else:
        lines.append("no measured patches (run `ispviewer align` first)")
    lines.append("patches by status: " + ", ".join(f"{k} {n}" for k, n in sorted(stats.by_status.items()))
                 + f"  (unmeasurable: {stats.unmeasurable})")
    for phone, vals in stats.by_phone.items():
        lines.append(f"  {phone:<24} {vals.size:6d} patches  mean {vals.mean():.3f} px  "
                     f"under threshold {100 * np.mean(vals <= stats.threshold_px):.1f}%")
    if v.size:
        counts, edges = stats.histogram(bin_px=0.2)
        peak = counts.max() or 1
        lines.append("histogram (px):")
        for c, lo, hi in zip(counts, edges[:-1], edges[1:]):
            mark = " <- threshold" if lo < stats.threshold_px <= hi else ""
            lines.append(f"  {lo:4.1f}-{hi:4.1f} {c:7d} {'#' * int(round(40 * c / peak))}{mark}")
    for name, error in stats.failed_triplets:
        lines.append(f"failed triplet {name}: {error}")
    lines.extend(stats.review)
    return "\n".join(lines)


def render_png(stats: MisalignmentStats, path, width: int = 900, height: int = 540) -> None:
    """A Figure-4-style histogram drawn with OpenCV (no plotting library needed)."""
    import cv2

    img = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = 70, 20, 50, 60
    pw, ph = width - left - right, height - top - bottom
    counts, edges = stats.histogram(bin_px=0.05)
    peak = max(int(counts.max()) if counts.size else 1, 1)
    xmax = float(edges[-1]) if edges.size else 3.0
    for c, lo, hi in zip(counts, edges[:-1], edges[1:]):
        x0, x1 = left + int(pw * lo / xmax), left + int(pw * hi / xmax)
        y0 = top + ph - int(ph * c / peak)
        colour = (80, 150, 60) if hi <= stats.threshold_px + 1e-9 else (60, 60, 200)
        cv2.rectangle(img, (x0, y0), (max(x0, x1 - 1), top + ph), colour, -1)
    tx = left + int(pw * stats.threshold_px / xmax)
    cv2.line(img, (tx, top), (tx, top + ph), (0, 0, 0), 2)
    cv2.rectangle(img, (left, top), (left + pw, top + ph), (0, 0, 0), 1)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for k in range(int(xmax) + 1):
        x = left + int(pw * k / xmax)
        cv2.putText(img, f"{k}", (x - 5, top + ph + 22), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "misalignment (px)", (left + pw // 2 - 80, height - 15), font, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, f"{peak}", (10, top + 5), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    mean = stats.values.mean() if stats.values.size else float("nan")
    title = (f"{stats.values.size} patches, mean {mean:.2f} px, "
             f"{100 * stats.share_under:.1f}% <= {stats.threshold_px:g} px")
    cv2.putText(img, title, (left, 30), font, 0.65, (0, 0, 0), 1, cv2.LINE_AA)
    if not cv2.imwrite(str(path), img):
        raise OSError(f"{path}: could not write PNG")
