"""Untrusted manifests: paths and names that point outside the dataset are refused with a message,
by the aligner and by `ispviewer check`, and nothing is read or written outside the root.

(The manifest's own path checks, imported names, pickled weights, newer or foreign manifests and
the backup before a migration are tested in test_manifest.py, test_fuzz_import_export.py and
test_model_checkpoint.py.)
"""

import sqlite3

import pytest

from ispviewer.dataset.check import check_dataset
from reliability_helpers import DEMO_PATCH, copy_dataset, demo_template, run_cli


@pytest.fixture
def ds(tmp_path):
    return copy_dataset(demo_template(align=False), tmp_path / "inside" / "ds")


def _edit(root, sql, *args):
    conn = sqlite3.connect(root / "manifest.sqlite")
    with conn:
        conn.execute(sql, args)
    conn.close()


def _files_outside(tmp_path, root):
    return sorted(p for p in tmp_path.rglob("*") if p.is_file() and root not in p.parents)


def test_hostile_manifest_paths_cannot_make_align_read_or_write_outside(ds, tmp_path):
    secret = tmp_path / "secret.jpg"
    secret.write_bytes((ds / "captures/demo_001/phone.jpg").read_bytes())  # a valid image, outside
    _edit(ds, "UPDATE triplets SET name = '../../escape' WHERE name = 'demo_000'")  # -> heatmaps/../../escape.npz
    _edit(ds, "UPDATE triplets SET phone_path = '../../secret.jpg' WHERE name = 'demo_001'")
    (ds / "captures/demo_002/target.jpg").unlink()
    (ds / "captures/demo_002/target.jpg").symlink_to(secret)
    outside = _files_outside(tmp_path, ds)

    proc = run_cli("align", str(ds), "--workers", "1", "--patch", str(DEMO_PATCH))
    out = proc.stderr + proc.stdout
    assert proc.returncode == 3 and "Traceback" not in out  # three refused, one aligned
    assert "failed ../../escape: " in out
    assert out.count("refusing path that leaves the dataset") == 2 and "links outside the dataset" in out
    assert _files_outside(tmp_path, ds) == outside  # nothing written outside the root
    with sqlite3.connect(ds / "manifest.sqlite") as conn:
        states = dict(conn.execute("SELECT name, align_state FROM triplets"))
    assert states == {"../../escape": "failed", "demo_001": "failed", "demo_002": "failed", "demo_003": "aligned"}
    problems = {p.path: p.reason for p in check_dataset(ds).problems}
    assert "refusing" in problems["../../secret.jpg"]
    assert "links outside" in problems["captures/demo_002/target.jpg"]


def test_output_folder_linked_outside_is_refused(ds, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (ds / "heatmaps").symlink_to(elsewhere)
    proc = run_cli("align", str(ds), "--workers", "1", "--patch", str(DEMO_PATCH))
    assert "links outside the dataset" in proc.stderr + proc.stdout
    assert list(elsewhere.iterdir()) == []  # nothing written through the link
