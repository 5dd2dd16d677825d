"""Train / val / test assignment of triplets (schema 4)."""

from __future__ import annotations

from ispviewer.dataset.manifest.connection import ManifestBase, ManifestError
from ispviewer.dataset.records import SPLITS


class SplitTable(ManifestBase):
    """Which split each triplet belongs to; a whole capture is always in one split."""

    def assign_splits(self, assignment: dict[str, str | None]) -> None:
        """Store ``name -> split`` (None clears it) in one transaction."""
        for name, split in assignment.items():
            if split is not None and split not in SPLITS:
                raise ManifestError(f"unknown split {split!r} for {name} (train, val or test)")
        with self._write() as db:
            for name, split in assignment.items():
                cur = db.execute("UPDATE triplets SET split = ? WHERE name = ?", (split, name))
                if cur.rowcount != 1:
                    raise ManifestError(f"{self.root}: no triplet {name!r} (no split was stored)")

    def split_names(self, split: str) -> list[str]:
        """Names of the triplets in ``split``, sorted."""
        if split not in SPLITS:
            raise ManifestError(f"unknown split {split!r} (train, val or test)")
        return [t.name for t in self.triplets() if t.split == split]

    def has_splits(self) -> bool:
        return any(t.split for t in self.triplets())
