"""Review queues over the whole dataset (Qt-free).

A queue is an ordered list of patches to look at:

- ``worst``: measurable patches by misalignment, largest first;
- ``near-threshold``: patches with |misalignment - threshold| <= band, closest first;
- ``flagged``: patches the aligner could not measure or that are flagged, in reading order per
  triplet (triplets by name);
- ``audit``: a seeded random sample of the aligner's accepted patches (optionally its rejected
  ones too).  Each patch's place comes from a hash of the seed and the patch, so the sample stays
  the same while people work through it, and is the same in every copy of the dataset.  A patch
  a person decided (or confirmed) from any queue stays in it as seen; the audit estimate counts
  the ones decided from the audit queue (see :mod:`ispviewer.dataset.review.audit`).

Ties are broken by triplet name, then patch id (the aligner stores patches in reading order).
``limit`` keeps the first N of that order — a fixed set, so that "reviewed n of m" and an audit
sample do not move while people decide.  Patches a person already decided are skipped unless
``include_decided``; they still count in the progress.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from enum import Enum

import numpy as np

from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.records import PatchRecord
from ispviewer.dataset.review.filters import TripletSelection

DEFAULT_BAND_PX = 0.3


class QueueKind(str, Enum):
    WORST = "worst"
    NEAR_THRESHOLD = "near-threshold"
    FLAGGED = "flagged"
    AUDIT = "audit"


@dataclass(frozen=True)
class QueueSpec:
    """What a queue holds; :meth:`key` names it for saved positions (the limit included, the
    decided-or-not view excluded)."""

    kind: QueueKind = QueueKind.WORST
    band_px: float = DEFAULT_BAND_PX
    seed: int = 0
    audit_rejected: bool = False  # audit: sample the aligner's rejected patches too
    include_decided: bool = False
    limit: int | None = None
    selection: TripletSelection = field(default_factory=TripletSelection)

    def __post_init__(self):
        object.__setattr__(self, "kind", QueueKind(self.kind))
        if self.band_px < 0:
            raise ValueError("the band must be >= 0 px")
        if self.limit is not None and self.limit < 0:
            raise ValueError("the limit must be >= 0")

    def key(self) -> str:
        out: dict = {"kind": self.kind.value}
        if self.kind == QueueKind.NEAR_THRESHOLD:
            out["band"] = round(float(self.band_px), 6)
        if self.kind == QueueKind.AUDIT:
            out["seed"] = int(self.seed)
            out["rejected"] = bool(self.audit_rejected)
        if self.limit is not None:
            out["limit"] = int(self.limit)
        out.update(self.selection.describe())
        return json.dumps(out, sort_keys=True, separators=(",", ":"))

    def describe(self) -> str:
        """Short words for the status bar and messages, e.g. "near-threshold ±0.3 px"."""
        text = self.kind.value
        if self.kind == QueueKind.NEAR_THRESHOLD:
            text += f" ±{self.band_px:g} px"
        if self.kind == QueueKind.AUDIT:
            text += f" (seed {self.seed}{', rejected too' if self.audit_rejected else ''})"
        if self.limit is not None:
            text += f" first {self.limit}"
        if self.include_decided:
            text += " +decided"
        extra = self.selection.describe()
        if extra:
            text += " [" + ", ".join(f"{k} {v}" for k, v in extra.items()) + "]"
        return text


@dataclass(eq=False)
class Queue:
    """A built queue: ``order`` (patch ids, the whole queue, decided ones included), their
    triplets, which of them a person decided (kept current with :meth:`mark`), and ``entries``
    — the positions in ``order`` the queue shows (decided ones left out unless asked for)."""

    spec: QueueSpec
    threshold_px: float
    order: np.ndarray  # int64 patch ids
    triplet_ids: np.ndarray  # int64, aligned with order
    decided: np.ndarray  # bool, aligned with order
    entries: np.ndarray  # int64 indices into order

    def __post_init__(self):
        sorter = np.argsort(self.order, kind="stable")
        self._sorted_ids, self._sorter = self.order[sorter], sorter

    def __len__(self) -> int:
        return int(self.entries.size)

    @property
    def empty(self) -> bool:
        return self.entries.size == 0

    @property
    def total(self) -> int:
        """Patches in the whole queue, decided ones included (the m of "reviewed n of m")."""
        return int(self.order.size)

    @property
    def reviewed(self) -> int:
        """Patches of the whole queue a person has decided (the n of "reviewed n of m")."""
        return int(self.decided.sum())

    def index_in_order(self, patch_id: int) -> int | None:
        i = int(np.searchsorted(self._sorted_ids, patch_id))
        if i < self._sorted_ids.size and self._sorted_ids[i] == patch_id:
            return int(self._sorter[i])
        return None

    def position(self, patch_id: int) -> int | None:
        """The patch's position among the entries (0-based), None when it is not one."""
        i = self.index_in_order(patch_id)
        if i is None:
            return None
        j = int(np.searchsorted(self.entries, i))
        return j if j < self.entries.size and self.entries[j] == i else None

    def patch_ids(self, start: int = 0, stop: int | None = None) -> list[int]:
        return [int(v) for v in self.order[self.entries[start:stop]]]

    def triplet_of(self, position: int) -> int:
        return int(self.triplet_ids[self.entries[position]])

    def is_decided(self, patch_id: int) -> bool:
        i = self.index_in_order(patch_id)
        return bool(i is not None and self.decided[i])

    def mark(self, patch_id: int, decided: bool = True) -> None:
        """Keep the progress current after a decision (or its undo) on ``patch_id``."""
        i = self.index_in_order(patch_id)
        if i is not None:
            self.decided[i] = decided

    def records(self, manifest: Manifest, start: int = 0, stop: int | None = None) -> list[PatchRecord]:
        """The entries' patch records, in queue order (patches deleted meanwhile are left out)."""
        ids = self.patch_ids(start, stop)
        found = manifest.patches_by_id(ids)
        return [found[i] for i in ids if i in found]

    def resume_position(self, patch_id: int | None) -> int:
        """Where to continue after ``patch_id``: its entry if it is still open, else the first
        open entry after it in the whole order (0 when unknown or nothing is left after it)."""
        if patch_id is None or self.empty:
            return 0
        i = self.index_in_order(patch_id)
        if i is None:
            return 0
        open_entries = self.entries[~self.decided[self.entries]] if not self.spec.include_decided else self.entries
        j = int(np.searchsorted(open_entries, i))
        if j >= open_entries.size:
            return 0
        return int(np.searchsorted(self.entries, open_entries[j]))

    def next_open(self, position: int, step: int = 1, triplet_id: int | None = None,
                  other_than: int | None = None) -> int | None:
        """The next entry after ``position`` (``step`` +1) or before it (-1) that no person has
        decided yet, optionally only within ``triplet_id`` or outside ``other_than``; None when
        there is none (vectorised: a few ms on 300K entries)."""
        mask = ~self.decided[self.entries]
        if triplet_id is not None:
            mask &= self.triplet_ids[self.entries] == triplet_id
        if other_than is not None:
            mask &= self.triplet_ids[self.entries] != other_than
        if step > 0:
            start = max(position + 1, 0)
            found = np.flatnonzero(mask[start:])
            return int(start + found[0]) if found.size else None
        found = np.flatnonzero(mask[:max(min(position, mask.size), 0)])
        return int(found[-1]) if found.size else None


def build_queue(manifest: Manifest, spec: QueueSpec) -> Queue:
    """Build the queue ``spec`` describes from the manifest as it is now."""
    threshold = manifest.threshold_px
    triplets = spec.selection.triplet_ids(manifest)
    statuses = ("accepted", "rejected") if spec.audit_rejected else ("accepted",)
    packed, key = manifest.queue_candidates(spec.kind.value, threshold_px=threshold, band_px=spec.band_px,
                                            audit_statuses=statuses, triplet_ids=triplets)
    triplet_ids = packed >> 33
    patch_ids = (packed >> 1) & ((1 << 32) - 1)
    decided = (packed & 1).astype(bool)
    if packed.size:
        rank = _name_rank(manifest)[triplet_ids]
        if spec.kind == QueueKind.WORST:
            order = np.lexsort((patch_ids, rank, -key))
        elif spec.kind == QueueKind.NEAR_THRESHOLD:
            order = np.lexsort((patch_ids, rank, key))
        elif spec.kind == QueueKind.FLAGGED:
            order = np.lexsort((patch_ids, key, rank))
        else:
            order = np.lexsort((patch_ids, _seeded_hash(patch_ids, spec.seed)))
        if spec.limit is not None:
            order = order[:spec.limit]
        patch_ids, triplet_ids, decided = patch_ids[order], triplet_ids[order], decided[order]
    entries = np.arange(patch_ids.size, dtype=np.int64)
    if not spec.include_decided:
        entries = entries[~decided]
    return Queue(spec, threshold, patch_ids, triplet_ids, decided, entries)


def with_kind(spec: QueueSpec, kind: QueueKind | str) -> QueueSpec:
    return replace(spec, kind=QueueKind(kind))


def _name_rank(manifest: Manifest) -> np.ndarray:
    """rank[triplet_id]: the triplet's place in name order."""
    rows = sorted((r["name"], int(r["id"])) for r in manifest.triplet_filter_rows())
    rank = np.zeros(max((tid for _, tid in rows), default=0) + 1, np.int64)
    for place, (_, tid) in enumerate(rows):
        rank[tid] = place
    return rank


def _seeded_hash(ids: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64 of (seed, id): a fixed pseudo-random place per patch for each seed."""
    with np.errstate(over="ignore"):
        z = ids.astype(np.uint64) + np.uint64((int(seed) * 0x9E3779B97F4A7C15 + 1) % (1 << 64))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))
