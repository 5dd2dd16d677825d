"""Assigning whole triplets to train / val / test, reproducibly and without moving anyone.

Rules: a triplet already assigned keeps its split (unless the caller asks to reassign all); new
triplets fill each stratum (e.g. phone × illumination) towards the requested fractions, in an
order that depends only on the seed and the triplet names, so the same call on the same dataset
gives the same answer and a triplet imported later never changes the others.  Each split with a
nonzero fraction gets at least one triplet once there are enough new ones to give it one.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable

from ispviewer.dataset.records import SPLITS, TripletRecord

STRATA = ("phone", "illumination")


def check_fractions(val: float, test: float) -> dict[str, float]:
    """The fractions of train/val/test; ValueError says which is out of range."""
    for name, f in (("--val", val), ("--test", test)):
        if not 0.0 <= f < 1.0:
            raise ValueError(f"{name} {f:g}: a fraction must be in [0, 1)")
    if val + test >= 1.0:
        raise ValueError(f"--val {val:g} + --test {test:g} leaves nothing to train on (must add up to < 1)")
    return {"train": 1.0 - val - test, "val": val, "test": test}


def stratum_key(strata: Iterable[str]) -> Callable[[TripletRecord], tuple]:
    strata = tuple(strata)
    for s in strata:
        if s not in STRATA:
            raise ValueError(f"cannot stratify by {s!r} (known: {', '.join(STRATA)})")

    def key(t: TripletRecord) -> tuple:
        out = []
        for s in strata:
            if s == "phone":
                out.append(t.phone_model or "unknown")
            else:
                out.append((t.metadata.illumination if t.metadata else None) or "unknown")
        return tuple(out)
    return key


def _order(name: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}\0{name}".encode()).hexdigest()


def plan_splits(triplets: list[TripletRecord], fractions: dict[str, float], seed: int = 0,
                strata: Iterable[str] = (), reassign: bool = False) -> dict[str, str]:
    """name -> split for every triplet that needs one (all of them with ``reassign``)."""
    key = stratum_key(strata)
    current = {t.name: (None if reassign else t.split) for t in triplets}
    new: dict[str, str] = {}
    groups: dict[tuple, list[TripletRecord]] = {}
    for t in triplets:
        groups.setdefault(key(t), []).append(t)
    for _, members in sorted(groups.items(), key=lambda kv: repr(kv[0])):
        counts = Counter(current[t.name] for t in members if current[t.name])
        todo = sorted((t for t in members if not current[t.name]), key=lambda t: _order(t.name, seed))
        for t in todo:
            total = sum(counts.values()) + 1
            # the split furthest below its share once this triplet is counted
            split = max(SPLITS, key=lambda s: (fractions[s] * total - counts[s], fractions[s], -SPLITS.index(s)))
            counts[split] += 1
            new[t.name] = split
    _give_every_split_one(current, new, fractions, seed)
    return new


def _give_every_split_one(current: dict, new: dict, fractions: dict[str, float], seed: int) -> None:
    """Move new triplets into nonzero-fraction splits that are still empty, from the fullest."""
    final = Counter(current[n] or new.get(n) for n in current)
    for split in SPLITS:
        if fractions[split] <= 0 or final[split] > 0:
            continue
        donors = [n for n in sorted(new, key=lambda n: _order(n, seed))
                  if final[new[n]] > 1 and new[n] != split]
        if not donors:
            continue
        donor = max(donors, key=lambda n: final[new[n]] / max(fractions[new[n]], 1e-9))
        final[new[donor]] -= 1
        new[donor] = split
        final[split] += 1
