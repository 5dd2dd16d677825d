"""Misalignment per group of triplets — the poster's Figure 4(b): per illumination, phone, tag or split.

Each measurable patch counts in the group of its triplet (under every tag of a triplet with
several tags; "(untagged)", "(unassigned)" or "(unknown)" when the triplet has none).  The PNG
overlays one outlined histogram per group, normalized to its own patch count, so groups of
different sizes compare by shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ispviewer.dataset.manifest import Manifest

GROUPINGS = ("illumination", "phone", "tag", "split")
#: BGR colours of the groups, in order (colour-blind-safe Okabe-Ito palette)
_COLOURS = ((0, 114, 230), (233, 180, 86), (115, 158, 0), (66, 228, 240), (178, 114, 0), (0, 94, 213),
            (167, 121, 204), (0, 0, 0))
_ILLUMINATION_ORDER = ("night", "low light", "indoor", "daylight")


@dataclass
class GroupStats:
    by: str
    threshold_px: float
    groups: dict[str, np.ndarray]  # group -> misalignment of its measurable patches (px)

    def report(self) -> str:
        lines = [f"misalignment by {self.by} (threshold {self.threshold_px:g} px):",
                 f"  {'group':<22} {'patches':>8} {'mean':>7} {'median':>7} {'p95':>7} {'<= thr':>7}"]
        for name, v in self.groups.items():
            if v.size:
                lines.append(f"  {name:<22} {v.size:8d} {v.mean():7.3f} {np.median(v):7.3f} "
                             f"{np.percentile(v, 95):7.3f} {100 * np.mean(v <= self.threshold_px):6.1f}%")
            else:
                lines.append(f"  {name:<22} {0:8d}       -       -       -       -")
        if not self.groups:
            lines.append("  no measured patches (run `ispviewer align` first)")
        return "\n".join(lines)


def group_keys(manifest: Manifest, by: str) -> dict[str, tuple[str, ...]]:
    """triplet name -> the groups its patches count in."""
    if by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r} (one of {', '.join(GROUPINGS)})")
    tags = manifest.tags() if by == "tag" else {}
    out = {}
    for t in manifest.triplets():
        if by == "phone":
            out[t.name] = (t.phone_model or "unknown",)
        elif by == "split":
            out[t.name] = (t.split or "(unassigned)",)
        elif by == "illumination":
            out[t.name] = ((t.metadata.illumination if t.metadata else None) or "(unknown)",)
        else:
            out[t.name] = tags.get(t.name) or ("(untagged)",)
    return out


def collect_groups(manifest: Manifest, by: str) -> GroupStats:
    keys = group_keys(manifest, by)
    values: dict[str, list[float]] = {}
    for r in manifest.misalignment_table():
        if not r["measurable"] or r["misalignment_px"] is None:
            continue
        for g in keys.get(r["triplet"], ("(unknown)",)):
            values.setdefault(g, []).append(float(r["misalignment_px"]))
    order = sorted(values, key=lambda g: (_ILLUMINATION_ORDER.index(g) if g in _ILLUMINATION_ORDER else 99,
                                          g.startswith("("), g))
    return GroupStats(by, manifest.threshold_px, {g: np.asarray(values[g]) for g in order})


def render_groups_png(stats: GroupStats, path, width: int = 900, height: int = 540, bin_px: float = 0.1) -> None:
    """Overlaid per-group histograms (share of each group's patches per bin), drawn with OpenCV."""
    import cv2

    img = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = 70, 20, 50, 60
    pw, ph = width - left - right, height - top - bottom
    allv = np.concatenate(list(stats.groups.values())) if stats.groups else np.zeros(0)
    xmax = max(3.0, float(np.ceil(np.percentile(allv, 99.5)))) if allv.size else 3.0
    edges = np.arange(0.0, xmax + bin_px / 2, bin_px)
    shares = {}
    for g, v in stats.groups.items():
        counts, _ = np.histogram(np.clip(v, 0, xmax - 1e-9), bins=edges)
        shares[g] = counts / max(v.size, 1)
    peak = max((float(s.max()) for s in shares.values() if s.size), default=1.0) or 1.0
    font = cv2.FONT_HERSHEY_SIMPLEX
    for k, (g, share) in enumerate(shares.items()):
        colour = _COLOURS[k % len(_COLOURS)]
        pts = []
        for s, lo, hi in zip(share, edges[:-1], edges[1:]):
            y = top + ph - int(ph * s / peak)
            pts += [(left + int(pw * lo / xmax), y), (left + int(pw * hi / xmax), y)]
        cv2.polylines(img, [np.array(pts, np.int32)], False, colour, 2, cv2.LINE_AA)
        v = stats.groups[g]
        label = f"{g}: {v.size} patches, mean {v.mean():.2f} px" if v.size else f"{g}: 0 patches"
        cv2.line(img, (left + pw - 330, top + 18 + 22 * k), (left + pw - 300, top + 18 + 22 * k), colour, 3)
        cv2.putText(img, label, (left + pw - 292, top + 23 + 22 * k), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    tx = left + int(pw * stats.threshold_px / xmax)
    cv2.line(img, (tx, top), (tx, top + ph), (0, 0, 0), 1)
    cv2.rectangle(img, (left, top), (left + pw, top + ph), (0, 0, 0), 1)
    for k in range(int(xmax) + 1):
        cv2.putText(img, f"{k}", (left + int(pw * k / xmax) - 5, top + ph + 22), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "misalignment (px)", (left + pw // 2 - 80, height - 15), font, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, f"{100 * peak:.0f}%", (10, top + 5), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, f"misalignment by {stats.by} (share of each group's patches)", (left, 30), font, 0.65,
                (0, 0, 0), 1, cv2.LINE_AA)
    if not cv2.imwrite(str(path), img):
        raise OSError(f"{path}: could not write PNG")
