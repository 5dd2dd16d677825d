"""What a checkpoint says about the data it was trained on, in words a person can act on.

``ispviewer train`` records in ``meta["provenance"]`` the dataset, the number of training patches
and, since checkpoints carry them, the phone cameras of the training triplets with their patch
counts (``cameras``: {"Make Model": patches}).  Older checkpoints (the shipped ``default.pt``
among them) do not name their cameras: that is reported as unknown, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass


def camera_key(name: str | None) -> str:
    """A camera name compared loosely: case and spacing do not matter."""
    return " ".join((name or "").lower().split())


@dataclass(frozen=True)
class Provenance:
    dataset: str | None
    patch_count: int | None
    epochs: int | None
    cameras: dict[str, int] | None  # camera -> training patches; None: not recorded

    def knows(self, camera: str | None) -> bool | None:
        """Whether ``camera`` was among the training cameras (None: the checkpoint does not say)."""
        if self.cameras is None or not camera_key(camera):
            return None
        return camera_key(camera) in {camera_key(c) for c in self.cameras}


def provenance(meta: dict) -> Provenance:
    """The training provenance in a checkpoint's ``meta`` (as :func:`load_checkpoint` returns it)."""
    p = meta.get("provenance") if isinstance(meta, dict) else None
    p = p if isinstance(p, dict) else {}
    cameras = p.get("cameras")
    if isinstance(cameras, dict) and cameras:
        cameras = {str(k): int(v) for k, v in cameras.items() if isinstance(v, (int, float))}
    else:
        cameras = None

    def number(key):
        value = p.get(key)
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    dataset = p.get("dataset")
    return Provenance(str(dataset) if dataset else None, number("patch_count"), number("epochs"), cameras)


def describe(prov: Provenance) -> str:
    """One paragraph: trained on which cameras, how many patches, from which dataset."""
    if prov.cameras is None:
        cameras = "cameras: not recorded in these weights (unknown)"
    else:
        cameras = "cameras: " + ", ".join(f"{c} ({n:,} patches)" for c, n in sorted(prov.cameras.items()))
    patches = f"{prov.patch_count:,} training patches" if prov.patch_count is not None else "patch count unknown"
    parts = [f"trained on {patches}", cameras]
    if prov.dataset:
        parts.append(f"dataset {prov.dataset!r}")
    if prov.epochs is not None:
        parts.append(f"{prov.epochs} epochs")
    return "; ".join(parts)


def camera_notice(prov: Provenance, camera: str | None) -> str | None:
    """A warning when ``camera`` is not one the weights were trained on (None: nothing to say)."""
    if prov.knows(camera) is False:
        trained = ", ".join(sorted(prov.cameras))
        return (f"This raw is from {camera}, a camera these weights were not trained on ({trained}); "
                "colours and tone may be wrong (e.g. a cast where its white balance differs).")
    return None
