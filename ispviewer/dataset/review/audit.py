"""How good the automatic decision is, estimated from an audit, and who decided what.

People review a seeded random sample of the aligner's accepted patches (the ``audit`` queue).
The share of those a person rejected estimates the share of bad patches among all accepted ones;
it is quoted with a 95% Wilson score interval, which behaves at zero or few errors (unlike the
normal approximation).  Patches sampled from the aligner's rejected ones (an audit option) give
the share it rejected wrongly the same way.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

Z_95 = 1.959963984540054


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion; (0, 1) when there are no trials."""
    if trials <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= trials:
        raise ValueError(f"{successes} successes out of {trials} trials")
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    lo = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends (no rounding residue)
    hi = 1.0 if successes == trials else min(1.0, centre + half)
    return lo, hi


@dataclass(frozen=True)
class AuditEstimate:
    """One audited population: ``reviewed`` patches the aligner gave ``sampled_status``, of which
    a person overturned ``overturned`` (rejected an accepted one, or accepted a rejected one)."""

    sampled_status: str
    reviewed: int
    overturned: int

    @property
    def share(self) -> float:
        return self.overturned / self.reviewed if self.reviewed else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.overturned, self.reviewed)

    def describe(self) -> str:
        """E.g. "audit: 200 auto-accepted patches reviewed, 3 rejected by a person: 1.5% (0.5–4.3%)"."""
        verb = "rejected" if self.sampled_status == "accepted" else "accepted"
        lo, hi = self.interval
        return (f"audit: {self.reviewed} auto-{self.sampled_status} patches reviewed, {self.overturned} {verb} by a "
                f"person: {100 * self.share:.1f}% ({100 * lo:.1f}–{100 * hi:.1f}%)")


@dataclass
class PersonTally:
    """What one person decided: the patches they hold now by status, and their history events."""

    name: str
    held: dict[str, int] = field(default_factory=dict)
    events: int = 0

    def describe(self) -> str:
        total = sum(self.held.values())
        parts = ", ".join(f"{n} {s}" for s, n in sorted(self.held.items()))
        return f"{self.name}: {total} patches ({parts or 'none held now'}), {self.events} decisions in the history"


UNNAMED = "(no name recorded)"


def audit_estimates(manifest) -> list[AuditEstimate]:
    """One estimate per audited population (accepted first), only those with reviewed patches."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in manifest.audit_outcomes():
        sampled = r["sampled_status"]
        if sampled not in ("accepted", "rejected"):
            continue
        counts[sampled][0] += 1
        overturned = r["status"] == ("rejected" if sampled == "accepted" else "accepted")
        counts[sampled][1] += int(overturned)
    return [AuditEstimate(s, *counts[s]) for s in ("accepted", "rejected") if counts[s][0]]


def people(manifest) -> list[PersonTally]:
    """Every person with decisions, by name (decisions from before names were recorded: UNNAMED)."""
    tallies: dict[str, PersonTally] = {}
    for r in manifest.decisions_by_annotator():
        name = r["annotator"] or UNNAMED
        tally = tallies.setdefault(name, PersonTally(name))
        if r["events"] is not None:
            tally.events += int(r["events"])
        else:
            tally.held[r["status"]] = int(r["patches"])
    return [tallies[k] for k in sorted(tallies)]


def report_lines(manifest) -> list[str]:
    """The review part of ``ispviewer stats``: decisions per person (always), audit estimates."""
    tallies = people(manifest)
    lines = ["decisions by person:" + ("" if tallies else " none yet")]
    lines += [f"  {t.describe()}" for t in tallies]
    lines += [e.describe() for e in audit_estimates(manifest)]
    return lines
