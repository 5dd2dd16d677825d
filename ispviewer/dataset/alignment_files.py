"""Names of the aligner's per-triplet files, and removing the ones a newer alignment replaced.

Each alignment writes its heatmap and aligned target under fresh, versioned names
(``heatmaps/<name>.<token>.npz``, ``aligned/<name>.<token>.jpg``; the token is random hex shared by
both files) and the manifest row stored afterwards references exactly those files.  A process
killed between writing the files and storing the row therefore leaves the previous row with its
previous, untouched files (consistent) plus unreferenced files — *orphans*, which
``ispviewer check`` reports and ``--repair`` removes.  Once a new row is stored, the files the
previous row referenced are removed (best effort).  Datasets written before this scheme
(``heatmaps/<name>.npz``) keep working; their files are replaced on the next alignment.

Qt-free and independent of the manifest module (which imports it).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

HEATMAP_DIR = "heatmaps"
ALIGNED_DIR = "aligned"
#: Folder -> file suffix of the aligner's files.
KINDS = {HEATMAP_DIR: ".npz", ALIGNED_DIR: ".jpg"}
#: Hex digits of a version token.
TOKEN_CHARS = 12
_TOKEN = re.compile(rf"[0-9a-f]{{{TOKEN_CHARS}}}")


def new_token() -> str:
    """A fresh version token (random lowercase hex)."""
    return secrets.token_hex(TOKEN_CHARS // 2)


def alignment_paths(name: str, token: str | None = None) -> tuple[str, str]:
    """(heatmap, aligned target) relative paths of one alignment of triplet ``name``.

    Every writer of these files (batch, Dask, GUI re-align, ``check --repair``) uses this function,
    so a new alignment never overwrites the files the stored row references.
    """
    token = new_token() if token is None else token
    if not _TOKEN.fullmatch(token):
        raise ValueError(f"invalid version token {token!r}")
    return f"{HEATMAP_DIR}/{name}.{token}.npz", f"{ALIGNED_DIR}/{name}.{token}.jpg"


def owner_of(relpath: str, names: Iterable[str]) -> str | None:
    """The triplet (one of ``names``) whose aligner file ``relpath`` is by the naming scheme
    (versioned or the older unversioned name), or None when it is not such a file."""
    pure = PurePosixPath(relpath)
    if len(pure.parts) != 2 or KINDS.get(pure.parts[0]) != pure.suffix:
        return None
    names = names if isinstance(names, (set, frozenset, dict)) else set(names)
    stem = pure.name[:-len(pure.suffix)]
    base, _, token = stem.rpartition(".")
    if base and _TOKEN.fullmatch(token) and base in names:
        return base
    return stem if stem in names else None


def _removable(root: Path, relpath: str) -> Path | None:
    """``root/relpath`` when it is a regular file directly in heatmaps/ or aligned/ with its kind's suffix."""
    pure = PurePosixPath(relpath.replace("\\", "/"))
    if (len(pure.parts) != 2 or pure.parts[0] not in KINDS or pure.suffix != KINDS[pure.parts[0]]
            or pure.name.startswith(".")):
        return None
    path = root / pure.parts[0] / pure.parts[1]
    if path.parent.is_symlink() or path.is_symlink() or not path.is_file():
        return None
    return path


def remove_replaced(root: str | os.PathLike, old: Iterable[str | None], keep: Iterable[str | None]) -> list[str]:
    """Remove the files of ``old`` not in ``keep`` (best effort, never raises); the ones removed.

    Only files directly inside heatmaps/ or aligned/ with the aligner's suffix are touched, so a
    manifest that names a capture there never gets it deleted.
    """
    keep = {k for k in keep if k}
    removed = []
    for rel in dict.fromkeys(r for r in old if r and r not in keep):
        try:
            path = _removable(Path(root), rel)
            if path is not None:
                path.unlink()
                removed.append(rel)
        except OSError:
            pass
    return removed
