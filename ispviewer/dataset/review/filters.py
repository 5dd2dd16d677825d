"""Which triplets a review queue draws from: phone model, triplet name pattern, optional
per-triplet columns (split, illumination) where the dataset has them, and a team member's shard.

Column filters are pluggable: :data:`COLUMN_FILTERS` names each optional triplets column a
queue can be narrowed by.  A dataset whose manifest has no such column simply offers no such
filter (:func:`available_filters`); asking for one anyway is refused with the reason.
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass

from ispviewer.dataset.manifest import ManifestError


@dataclass(frozen=True)
class ColumnFilter:
    """An optional triplets column a queue can be filtered by (exact, case-insensitive match)."""

    name: str  # the option's name, e.g. "split"
    column: str  # the triplets column
    help: str


COLUMN_FILTERS: tuple[ColumnFilter, ...] = (
    ColumnFilter("split", "split", "only triplets of this split (train, val, test...)"),
    ColumnFilter("illumination", "illumination", "only triplets of this illumination (e.g. daylight, indoor)"),
)


class FilterUnavailable(ManifestError):
    """A filter was asked for that this dataset cannot answer (its column does not exist)."""


def available_filters(manifest) -> tuple[ColumnFilter, ...]:
    columns = manifest.triplet_columns()
    return tuple(f for f in COLUMN_FILTERS if f.column in columns)


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> (K, N), 1 <= K <= N."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"shard {text!r}: expected K/N, e.g. 1/3") from None
    if n < 1 or not 1 <= k <= n:
        raise ValueError(f"shard {text!r}: K must be between 1 and N (N >= 1)")
    return k, n


def shard_of(triplet_name: str, count: int) -> int:
    """The shard (1..count) a triplet belongs to: a hash of its name, the same in every copy."""
    digest = hashlib.blake2b(triplet_name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count + 1


@dataclass(frozen=True)
class TripletSelection:
    """The triplet-level part of a queue's definition."""

    phone: str | None = None  # "Apple iPhone 6s" or just "iPhone 6s", any case
    name_pattern: str | None = None  # shell-style pattern on the triplet name, e.g. "2026-11-*"
    columns: tuple[tuple[str, str], ...] = ()  # (filter name, value), see COLUMN_FILTERS
    shard: tuple[int, int] | None = None  # (K, N)

    @property
    def active(self) -> bool:
        return bool(self.phone or self.name_pattern or self.columns or self.shard)

    def describe(self) -> dict:
        out: dict = {}
        if self.phone:
            out["phone"] = self.phone
        if self.name_pattern:
            out["triplets"] = self.name_pattern
        out.update(dict(self.columns))
        if self.shard:
            out["shard"] = f"{self.shard[0]}/{self.shard[1]}"
        return out

    def triplet_ids(self, manifest) -> list[int] | None:
        """The ids of the selected triplets; None when nothing narrows the selection."""
        if not self.active:
            return None
        by_name = {f.name: f for f in COLUMN_FILTERS}
        wanted = []
        for name, value in self.columns:
            if name not in by_name:
                raise FilterUnavailable(f"unknown filter {name!r} (known: {', '.join(by_name)})")
            wanted.append((by_name[name].column, value))
        columns = manifest.triplet_columns()
        for column, _ in wanted:
            if column not in columns:
                raise FilterUnavailable(f"{manifest.root}: this dataset's triplets have no {column!r} "
                                        "(a newer manifest schema records it); the filter cannot be applied")
        rows = manifest.triplet_filter_rows(tuple(c for c, _ in wanted))
        phone = self.phone.strip().casefold() if self.phone else None
        out = []
        for r in rows:
            if phone and phone not in (str(r["phone_model"]).casefold(), str(r["model"]).casefold()):
                continue
            if self.name_pattern and not fnmatch.fnmatchcase(r["name"], self.name_pattern):
                continue
            if any(str(r[c] or "").casefold() != v.casefold() for c, v in wanted):
                continue
            if self.shard and shard_of(r["name"], self.shard[1]) != self.shard[0]:
                continue
            out.append(int(r["id"]))
        return out
