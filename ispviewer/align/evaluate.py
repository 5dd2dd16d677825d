"""Score an alignment against known geometry (demo ground truth, synthetic pairs, benchmarks).

The truth is a callable ``truth(x, y, size, H_est, dx, dy) -> px``: the true misalignment of the
match the aligner claims for a patch (see ``GroundTruth.true_misalignment``), so this module needs
nothing from the data that produced it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ispviewer.align.geometry import apply_homography
from ispviewer.dataset.records import Status
from ispviewer.dataset.rules import auto_status

Truth = Callable[[int, int, int, np.ndarray, float, float], float]


def corner_error(h_est: np.ndarray, h_true: np.ndarray, phone_size: tuple[int, int]) -> float:
    """Largest distance (phone px) between where two target -> phone homographies put the frame's corners."""
    w, h = phone_size
    c = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], float)
    return float(np.linalg.norm(apply_homography(h_true, apply_homography(np.linalg.inv(h_est), c)) - c,
                                axis=1).max())


@dataclass
class Score:
    """Accuracy over one or more aligned triplets."""

    threshold_px: float
    errors: list[float] = field(default_factory=list)  # |reported - true| of measured patches
    agree: list[bool] = field(default_factory=list)  # decision == truth, patches > 0.2 px off the threshold
    corners: list[float] = field(default_factory=list)
    truly_over: int = 0
    patches: int = 0
    unmeasured: Counter = field(default_factory=Counter)  # reason -> count
    unmeasured_over: Counter = field(default_factory=Counter)  # reason -> how many of them truly > threshold

    def add(self, alignment, h_true: np.ndarray, truth: Truth) -> Score:
        """Add one :class:`~ispviewer.align.pipeline.TripletAlignment` with its true homography."""
        self.corners.append(corner_error(alignment.homography, h_true, alignment.phone_size))
        for p in alignment.patches:
            self.patches += 1
            t = truth(p.x, p.y, p.size, alignment.homography, p.dx, p.dy)
            if not p.measurable:
                cause = getattr(p, "cause", None) or "unmeasurable"
                self.unmeasured[cause] += 1
                self.unmeasured_over[cause] += t > self.threshold_px
                continue
            self.errors.append(abs(p.misalignment_px - t))
            self.truly_over += t > self.threshold_px
            if abs(t - self.threshold_px) > 0.2:
                status, _ = auto_status(p.misalignment_px, True, self.threshold_px)
                self.agree.append((status == Status.REJECTED) == (t > self.threshold_px))
        return self

    @property
    def mean_error(self) -> float:
        return float(np.mean(self.errors)) if self.errors else float("nan")

    @property
    def agreement(self) -> float:
        return float(np.mean(self.agree)) if self.agree else float("nan")

    @property
    def worst_corner(self) -> float:
        return max(self.corners) if self.corners else float("nan")

    def summary(self) -> str:
        p95 = float(np.percentile(self.errors, 95)) if self.errors else float("nan")
        unmeasured = sum(self.unmeasured.values())
        why = "; ".join(f"{n} {r} ({self.unmeasured_over[r]} truly > {self.threshold_px:g} px)"
                        for r, n in self.unmeasured.most_common())
        return (f"mean |reported-true| {self.mean_error:.3f} px (p95 {p95:.3f}), decisions agree "
                f"{self.agreement:.1%} of {len(self.agree)} ({self.truly_over} truly > {self.threshold_px:g} px), "
                f"corner error max {self.worst_corner:.3f} px, {unmeasured}/{self.patches} patches unmeasured"
                + (f" ({why})" if why else ""))
