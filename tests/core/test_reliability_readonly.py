"""A dataset that cannot be written (read-only folder, read-only file system) opens read-only:
everything reads, writes are refused with a message, and nothing is created or changed."""

import shutil
import subprocess
import sys
import textwrap

import pytest

from ispviewer.dataset.check import check_dataset
from ispviewer.dataset.manifest import Manifest, ManifestReadOnly
from ispviewer.dataset.records import Status
from reliability_helpers import copy_dataset, demo_template, run_cli, unwritable


def _snapshot(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def ds(tmp_path):
    return copy_dataset(demo_template(align=True), tmp_path / "ds")


def _reads_and_refuses_writes(root):
    with Manifest.open(root) as m:  # asked read-write: the folder decides
        assert m.readonly
        patches = m.patches()
        assert patches and m.triplets() and m.history(patches[0].id)
        with pytest.raises(ManifestReadOnly, match="read-only"):
            m.decide(patches[0].id, Status.REJECTED)


def test_unwritable_folder_opens_read_only_and_stays_untouched(ds, capsys):
    before = _snapshot(ds)
    with unwritable(ds, *[p for p in ds.rglob("*") if p.is_dir()]):
        _reads_and_refuses_writes(ds)
        assert check_dataset(ds).ok
        assert run_cli("export", str(ds), "--format", "csv").returncode == 0
    assert _snapshot(ds) == before  # no -wal/-shm, no journal, no change


def test_unwritable_manifest_in_a_writable_folder_opens_read_only(ds):
    before = (ds / "manifest.sqlite").read_bytes()
    with unwritable(ds / "manifest.sqlite"):
        _reads_and_refuses_writes(ds)
    assert (ds / "manifest.sqlite").read_bytes() == before


READ_ONLY_MOUNT = textwrap.dedent("""
    import sys
    from ispviewer.dataset.manifest import Manifest, ManifestReadOnly
    from ispviewer.dataset.check import check_dataset
    with Manifest.open(sys.argv[1]) as m:
        try:
            m.decide(m.patches()[0].id, "rejected")
        except ManifestReadOnly as exc:
            print("refused:", exc)
        print("readonly", m.readonly, len(m.patches()))
    print("check ok", check_dataset(sys.argv[1]).ok)
""")


def test_read_only_file_system(ds):
    """A real read-only mount (EROFS), in a private mount namespace; skipped where that is not allowed."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare")
    mount = f"mount --bind {ds} {ds} && mount -o remount,ro,bind {ds}"
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", f"{mount} && touch {ds}/x"],
                           capture_output=True, text=True)
    if "Read-only file system" not in probe.stderr:
        pytest.skip(f"cannot mount read-only here: {probe.stderr.strip()[:200]}")
    script = f"{mount} && exec {sys.executable} -c '{READ_ONLY_MOUNT}' {ds}"
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "refused:" in proc.stdout and "dataset is open read-only" in proc.stdout
    assert "readonly True" in proc.stdout and "check ok True" in proc.stdout
