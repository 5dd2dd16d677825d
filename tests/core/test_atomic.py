"""Atomic dataset-file writes: the old file or the whole new one, never a leftover temporary file."""

import stat

import pytest

from ispviewer.dataset.atomic import FILE_MODE, atomic_file, write_atomically


def test_write_replaces_the_file_readable_and_creates_the_folder(tmp_path):
    path = tmp_path / "heatmaps" / "a.npz"
    write_atomically(path, b"old")
    write_atomically(path, b"new content")
    assert path.read_bytes() == b"new content"
    assert stat.S_IMODE(path.stat().st_mode) == FILE_MODE
    assert [p.name for p in path.parent.iterdir()] == ["a.npz"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "a.jpg"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_file(path) as fh:
        fh.write(b"half of the new")
        seen = [p.name for p in tmp_path.iterdir()]
        raise RuntimeError("interrupted")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.jpg"]
    assert any(n.startswith(".a.jpg.") and n.endswith(".tmp") for n in seen)  # a name check --repair knows
