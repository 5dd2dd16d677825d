"""Names of the aligner's per-triplet files, and removing the ones a newer alignment replaced.

Each alignment writes its heatmap and aligned target under fresh, versioned names
(``heatmaps/<name>.<token>.npz``, ``aligned/<name>.<token>.jpg``; the token is random hex shared by
both files) and the manifest row stored afterwards references exactly those files.  A process
killed between writing the files and storing the row therefore leaves the previous row with its
previous, untouched files (consistent) plus unreferenced files — *orphans*, which
``ispviewer check`` reports and ``--repair`` removes.  Once a new row is stored, the files the
previous row referenced are removed (best effort).  Datasets written before this scheme
(``heatmaps/<name>.npz``) keep working; their files are replaced on the next alignment.

The patch-tile cache (``tiles/<name>.<token>.tiles``, :mod:`ispviewer.dataset.patch_tiles`) is
named by the same token and referenced through it: the manifest stores no path of its own, the
row's heatmap (or aligned target) names it (:func:`patch_tiles_relpath`).  It goes with that
alignment — removed when the row's files are replaced, an orphan when no row's token names it.
A missing one is normal (datasets aligned before it): the gallery then cuts tiles from the images.

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
TILES_DIR = "tiles"
#: Folder -> file suffix of the aligner's files.
KINDS = {HEATMAP_DIR: ".npz", ALIGNED_DIR: ".jpg", TILES_DIR: ".tiles"}
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


def patch_tiles_relpath(*referenced: str | None) -> str | None:
    """The patch-tile cache of the alignment whose heatmap / aligned target are ``referenced``
    (the first that is named by the aligner's scheme gives the name), or None when none is."""
    for rel in referenced:
        pure = PurePosixPath(rel.replace("\\", "/")) if rel else None
        if (pure is not None and len(pure.parts) == 2 and pure.parts[0] in (HEATMAP_DIR, ALIGNED_DIR)
                and pure.suffix == KINDS[pure.parts[0]] and len(pure.name) > len(pure.suffix)
                and not pure.name.startswith(".")):
            return f"{TILES_DIR}/{pure.name[:-len(pure.suffix)]}{KINDS[TILES_DIR]}"
    return None


def with_patch_tiles(relpaths: Iterable[str | None]) -> list[str]:
    """``relpaths`` (heatmaps, aligned targets) and the patch-tile caches their names imply."""
    out = [r for r in relpaths if r]
    return list(dict.fromkeys(out + [t for t in map(patch_tiles_relpath, out) if t]))


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
    """``root/relpath`` when it is a regular file directly in one of the aligner's folders with its kind's suffix."""
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

    The patch-tile caches the names of ``old`` imply go with them (unless ``keep``'s imply them
    too).  Only files directly inside the aligner's folders (heatmaps/, aligned/, tiles/) with
    their kind's suffix are touched, so a manifest that names a capture there never gets it deleted.
    """
    keep = set(with_patch_tiles(keep))
    removed = []
    for rel in dict.fromkeys(r for r in with_patch_tiles(old) if r not in keep):
        try:
            path = _removable(Path(root), rel)
            if path is not None:
                path.unlink()
                removed.append(rel)
        except OSError:
            pass
    return removed
