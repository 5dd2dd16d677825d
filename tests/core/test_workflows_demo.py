"""The demo workflow (sources -> import -> align) and its command, ``ispviewer demo --no-gui``."""

from __future__ import annotations

import pytest

from ispviewer.cli import main
from ispviewer.dataset.check import check_dataset
from ispviewer.dataset.manifest import MANIFEST_NAME, Manifest
from ispviewer.dataset.records import AlignState
from ispviewer.workflows.demo import default_demo_dir, ensure_demo_dataset, is_dataset, parse_size


def test_demo_command_builds_an_aligned_dataset_once(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--no-gui", "--out", str(out), "--count", "1", "--size", "320x240", "--seed", "3"]) == 0
    assert f"demo dataset: {out}" in capsys.readouterr().out
    with Manifest.open(out, readonly=True) as m:
        (t,) = m.triplets()
        assert t.align_state == AlignState.ALIGNED and (t.raw.width, t.raw.height) == (320, 240)
        assert m.patches(t.id)
    assert sorted(p.name for p in (out / "groundtruth").iterdir()) == [f"{t.name}.npz"]
    assert check_dataset(out).ok
    stamp = (out / MANIFEST_NAME).stat().st_mtime_ns
    assert main(["demo", "--no-gui", "--out", str(out), "--count", "1", "--size", "320x240"]) == 0
    assert (out / MANIFEST_NAME).stat().st_mtime_ns == stamp  # there already: not built again


def test_ensure_demo_dataset_builds_only_what_is_missing(tmp_path):
    existing = tmp_path / "ds"
    existing.mkdir()
    (existing / MANIFEST_NAME).write_bytes(b"")  # any manifest: the demo is never rebuilt over it
    assert ensure_demo_dataset(existing, log=lambda *a: None) == (existing.resolve(), 0)
    assert is_dataset(existing) and not is_dataset(tmp_path)


@pytest.mark.parametrize("text", ["2000", "axb", "100x100", "2001x1500"])
def test_bad_demo_size_is_refused_with_a_message(text, capsys):
    with pytest.raises(ValueError, match="--size"):
        parse_size(text)
    assert main(["demo", "--no-gui", "--size", text]) == 2
    assert "--size" in capsys.readouterr().err


def test_default_demo_dir_follows_xdg_data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_demo_dir() == tmp_path / "ispviewer" / "demo"
    assert parse_size("2000x1500") == (2000, 1500)
