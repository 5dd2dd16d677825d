"""Shared by the reliability tests: a small demo dataset, child processes to kill, long-mode counts."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

#: Size of the demo triplets the reliability tests align (small: a few tenths of a second each).
DEMO_SIZE = (384, 288)
DEMO_PATCH = 64


def long_mode() -> bool:
    """Deep runs: ``ISPVIEWER_LONG_TESTS=1`` or ``pytest --long``."""
    return os.environ.get("ISPVIEWER_LONG_TESTS", "") not in ("", "0")


def count(short: int, long: int) -> int:
    return long if long_mode() else short


def build_demo(folder: Path, count: int = 4, align: bool = False, seed: int = 0) -> Path:
    """Demo sources -> imported dataset (aligned in this process with ``align``); the dataset folder."""
    from ispviewer.dataset.demo import build_demo_sources
    from ispviewer.dataset.importer import import_sources
    from ispviewer.dataset.manifest import Manifest
    from ispviewer.workflows.repair import realign_triplet

    build_demo_sources(folder / "sources", count=count, size=DEMO_SIZE, seed=seed)
    report = import_sources(folder / "sources", folder / "ds")
    assert report.ok, report.summary()
    if align:
        with Manifest.open(folder / "ds") as m:
            for t in m.triplets():
                assert realign_triplet(m, t, DEMO_PATCH) is None
    return folder / "ds"


_TEMPLATES: dict[tuple[int, bool], Path] = {}


def demo_template(count: int = 4, align: bool = False) -> Path:
    """A demo dataset built once per test session (copy it before changing it)."""
    key = (count, align)
    if key not in _TEMPLATES:
        folder = Path(tempfile.mkdtemp(prefix="ispviewer-reliability-"))
        atexit.register(shutil.rmtree, folder, True)
        _TEMPLATES[key] = build_demo(folder, count=count, align=align)
    return _TEMPLATES[key]


def copy_dataset(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "ispviewer", *args]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command(*args), capture_output=True, text=True, timeout=timeout)


def start(cmd: list[str], **kwargs) -> subprocess.Popen:
    """A child in its own process group, so a kill reaches the workers it spawned too."""
    return subprocess.Popen(cmd, start_new_session=True, text=True, **kwargs)


def kill_group(proc: subprocess.Popen) -> None:
    """``kill -9`` the child and everything it started (its process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def db(root: Path) -> sqlite3.Connection:
    """An independent connection to a dataset's manifest (recovers a killed writer's WAL)."""
    conn = sqlite3.connect(str(root / "manifest.sqlite"), timeout=30)
    conn.row_factory = sqlite3.Row
    return conn


def integrity(root: Path) -> str:
    with db(root) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


#: A child that decides patches through Manifest.decide (the call the GUI's writer thread makes)
#: as fast as it can (or paced), and prints each decision once the call has returned: "patch status reason ms".
#: It stops after ``limit`` decisions or once the ``stop`` file exists.
DECIDER = textwrap.dedent("""
    import os, random, sys, time
    from ispviewer.dataset.manifest import Manifest
    root, tag, limit, stop, pace = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
    rnd = random.Random(tag)
    with Manifest.open(root) as m:
        ids = [p.id for p in m.patches()]
        print("ready", flush=True)
        for i in range(limit):
            if os.path.exists(stop):
                break
            pid, status = rnd.choice(ids), rnd.choice(("accepted", "rejected", "flagged"))
            reason = f"{tag}-{i}"
            t0 = time.perf_counter()
            m.decide(pid, status, reason)
            ms = (time.perf_counter() - t0) * 1000
            sys.stdout.write(f"{pid} {status} {reason} {ms:.2f}\\n")
            sys.stdout.flush()
            time.sleep(pace)
""")


def start_decider(root: Path, tag: str, limit: int = 10**9, stop: Path | None = None,
                  pace: float = 0.0) -> subprocess.Popen:
    """A decider (``pace`` s between decisions) whose stdout is a pipe (read it with
    :func:`wait_ready` and :func:`rest_of`)."""
    stop = stop or root.parent / f"{tag}.stop"
    err = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller with the process
    proc = start([sys.executable, "-c", DECIDER, str(root), tag, str(limit), str(stop), str(pace)],
                 stdout=subprocess.PIPE, stderr=err)
    proc.err_file = err
    return proc


def wait_ready(proc: subprocess.Popen) -> None:
    line = proc.stdout.readline()
    if line != "ready\n":
        proc.wait()
        proc.err_file.seek(0)
        raise AssertionError(f"decider did not start: {line!r} {proc.err_file.read()[-2000:]!r}")


def rest_of(proc: subprocess.Popen, timeout: float = 60) -> tuple[str, str]:
    """(stdout, stderr) left once the child ends.  Reads through ``proc.stdout`` itself, never
    communicate(), which reads the raw pipe and would drop lines readline() already buffered."""
    out = proc.stdout.read()
    proc.wait(timeout=timeout)
    proc.stdout.close()
    proc.err_file.seek(0)
    err = proc.err_file.read().decode("utf-8", "replace")
    proc.err_file.close()
    return out, err


def progress_lines(proc: subprocess.Popen, count: int, timeout: float) -> int:
    """Read up to ``count`` lines of ``proc``'s stderr (the aligner's progress: one per stored
    triplet) within ``timeout`` seconds; how many arrived."""
    import select
    import time

    got, deadline = 0, time.monotonic() + timeout
    while got < count and proc.poll() is None:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([proc.stderr], [], [], left)[0]:
            break
        got += bool(proc.stderr.readline())
    return got


def parse_decisions(stdout: str) -> list[tuple[int, str, str, float]]:
    """Complete lines a decider printed: (patch id, status, reason, latency ms)."""
    out = []
    for line in stdout.splitlines(keepends=True):
        parts = line.split()
        if line.endswith("\n") and len(parts) == 4:
            out.append((int(parts[0]), parts[1], parts[2], float(parts[3])))
    return out


@contextlib.contextmanager
def unwritable(*paths: Path):
    """Make ``paths`` unwritable for this process, or skip the test where that is impossible.

    chmod where it binds (not root); as root, the immutable attribute (``chattr +i``, which binds
    root too, on file systems that have it).  Restored on exit.
    """
    import pytest

    modes = {p: p.stat().st_mode for p in paths}
    for p in paths:
        p.chmod(0o555 if p.is_dir() else 0o444)
    immutable: list[Path] = []
    try:
        if any(os.access(p, os.W_OK) for p in paths):  # root: permissions do not bind
            if shutil.which("chattr") is None:
                pytest.skip("cannot make a folder unwritable here (root, no chattr)")
            for p in paths:
                if subprocess.run(["chattr", "+i", str(p)], capture_output=True).returncode != 0:
                    pytest.skip("cannot make a folder unwritable here (root without chattr +i)")
                immutable.append(p)
        yield
    finally:
        for p in immutable:
            subprocess.run(["chattr", "-i", str(p)], capture_output=True)
        for p, mode in modes.items():
            p.chmod(mode)
