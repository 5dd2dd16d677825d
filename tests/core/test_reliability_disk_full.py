"""A really full disk (a small tmpfs in a private mount namespace; skipped where mounting is not
allowed): decisions and alignment fail with the project's clear errors, nothing half-written
stays, every decision that returned is kept, and work goes on once space is freed.  (A heatmap
that cannot be written fails its triplet only: the last test.)"""

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from reliability_helpers import DEMO_PATCH, demo_template

CHILD = textwrap.dedent("""
    import json, os, shutil, sqlite3, subprocess, sys
    from ispviewer.dataset.manifest import Manifest, ManifestError
    mnt, template, patch = sys.argv[1], sys.argv[2], sys.argv[3]
    root = os.path.join(mnt, "ds")
    shutil.copytree(template, root)
    out = {}

    def fill(path, leave):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"\\0" * 65536)
        except OSError:
            pass
        os.close(fd)
        os.truncate(path, max(0, os.path.getsize(path) - leave))

    # 1. decisions until the disk is full
    with Manifest.open(root) as m:
        ids = [p.id for p in m.patches()]
        fill(os.path.join(mnt, "filler"), 256 * 1024)
        returned, errors = [], []
        for i in range(20000):
            pid = ids[i % len(ids)]
            before = m.patch(pid)
            try:
                m.decide(pid, ("rejected", "flagged")[i % 2], f"full-{i}-" + "x" * 400)
                returned.append(f"full-{i}-")
            except ManifestError as exc:
                errors.append(str(exc))
                after = m.patch(pid)
                out.setdefault("unchanged_after_failure", []).append(after == before)
                if len(errors) >= 3:
                    break
        out["returned"], out["errors"] = returned, errors
        os.unlink(os.path.join(mnt, "filler"))
        out["after_freeing"] = m.decide(ids[0], "accepted", "space freed").status.value

    # 2. alignment on a full disk
    fill(os.path.join(mnt, "filler"), 0)
    cmd = [sys.executable, "-m", "ispviewer", "align", root, "--force", "--workers", "1", "--patch", patch]
    full = subprocess.run(cmd, capture_output=True, text=True)
    os.unlink(os.path.join(mnt, "filler"))
    out["align_full"] = [full.returncode, full.stdout + full.stderr]

    conn = sqlite3.connect(os.path.join(root, "manifest.sqlite"))
    out["integrity"] = conn.execute("PRAGMA integrity_check").fetchone()[0]
    logged = [r[0] for r in conn.execute("SELECT reason FROM decisions WHERE reason LIKE 'full-%'")]
    out["missing"] = [r for r in returned if not any(x.startswith(r) for x in logged)]
    conn.close()
    from ispviewer.dataset.check import check_dataset
    out["check"] = check_dataset(root).summary()
    print(json.dumps(out))
""")


def test_full_disk(tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("no unshare")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mount = f"mount -t tmpfs -o size=6m tmpfs {mnt}"
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", mount],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {probe.stderr.strip()[:200]}")
    template = demo_template(align=True)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                           f"{mount} && exec {sys.executable} {script} {mnt} {template} {DEMO_PATCH}"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["errors"] and all("write failed (database or disk is full)" in e for e in out["errors"])
    assert all(out["unchanged_after_failure"])  # a failed decision left nothing behind
    assert out["missing"] == []  # every decision that returned is in the manifest
    assert out["after_freeing"] == "accepted"
    code, text = out["align_full"]
    assert code != 0 and "Traceback" not in text and "the disk is full" in text, text
    assert out["integrity"] == "ok"
    assert out["check"].endswith("no problems"), out["check"]
    print(f"\nfull disk: {len(out['returned'])} decisions returned before the disk was full, "
          f"{len(out['errors'])} refused with 'disk is full', none lost; "
          f"align on a full disk: exit {out['align_full'][0]}")


def test_a_heatmap_that_cannot_be_written_fails_its_triplet_only(tmp_path):
    from ispviewer.align import batch
    from ispviewer.dataset.manifest import Manifest

    root = demo_template(align=True)
    with Manifest.open(root, readonly=True) as m:
        t = m.triplets()[0]
    job = batch.AlignJob(root=str(root), name=t.name, phone=t.files.phone, target=t.files.target,
                     heatmap=f"{t.files.phone}/heatmap.npz", patch_size=DEMO_PATCH, threshold_px=1.2)
    name, result, error = batch.align_job(job)  # its folder is a file: writing fails like a full disk
    assert (name, result) == (t.name, None) and "cannot write the heatmap" in error
