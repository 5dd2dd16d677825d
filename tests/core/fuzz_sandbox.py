"""Run loaders on hostile files in a child process: crash, hang and memory-safe fuzzing.

The parent (a hypothesis test) writes a mutated file and asks a long-lived child to run one
operation on it.  The child has an address-space limit (RLIMIT_AS) and a small pixel limit, so
a loader that trusts a gigantic claimed size dies of MemoryError instead of swapping; the parent
waits at most ``timeout`` seconds per case (a hang) and notices a dead child (a crash in C code).
A case passes when the operation returns or raises one of the project's own errors.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

#: Address space of the child: the interpreter with numpy/OpenCV/LibRaw plus what a
#: legitimate decode of the (small) fuzz seeds needs; far below what a trusted gigantic header asks.
MEMORY_LIMIT = 1536 << 20
#: Pixel limit inside the child (images.MAX_PIXELS): above the real 9 MP DNG, below absurd claims.
MAX_PIXELS = 16_000_000
#: CPU seconds one operation may use (the slowest legitimate case, a 9 MP DNG, needs about 0.5 s).
CASE_TIMEOUT_S = 20.0

_CHILD = textwrap.dedent("""
    import json, os, resource, shutil, sys, traceback
    resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1])))
    import cv2
    cv2.setNumThreads(1)
    from ispviewer.dataset import images
    from ispviewer.dataset.images import ImageReadError
    from ispviewer.dataset.manifest import ManifestError

    def do_import(src, dataset):
        from ispviewer.dataset.importer import import_sources
        return import_sources(src, dataset).summary()

    def do_cli(*argv):
        from ispviewer.cli import main
        status = main(list(argv))
        if status not in (0, 1, 2):
            raise AssertionError(f"exit status {status}")
        return status

    def do_check(dataset):
        from ispviewer.dataset.check import check_dataset
        return check_dataset(dataset).summary()

    def do_open(dataset):
        from ispviewer.dataset.manifest import Manifest
        with Manifest.open(dataset) as m:
            return [len(m.patches(t.id)) for t in m.triplets()]

    OPS = {
        "read_raw_info": images.read_raw_info,
        "load_packed_raw": lambda p: images.load_packed_raw(p).data.shape,
        "load_rgb": lambda p: images.load_rgb(p).shape,
        "load_rgb_reduced": lambda p: images.load_rgb(p, reduce=4).shape,
        "jpeg_size": images.jpeg_size,
        "jpeg_oriented_size": images.jpeg_oriented_size,
        "verify_jpeg": images.verify_jpeg,
        "import": do_import,
        "cli": do_cli,
        "check": do_check,
        "open": do_open,
        # the harness's own self-test: what a broken loader would do
        "_crash": lambda: os.abort(),
        "_hang": lambda: __import__("time").sleep(3600),
        "_spin": lambda: [None for _ in iter(int, 1)],
        "_allocate": lambda: bytearray(int(sys.argv[1])),
    }
    print("ready", flush=True)
    for line in sys.stdin:
        op, args = json.loads(line)
        try:
            result = OPS[op](*args)
            answer = {"ok": True, "result": repr(result)[:300]}
        except (ImageReadError, ManifestError) as exc:
            answer = {"ok": True, "error": type(exc).__name__, "message": str(exc)[:300]}
        except BaseException as exc:
            answer = {"ok": False, "error": type(exc).__name__, "message": str(exc)[:300],
                      "traceback": traceback.format_exc()[-3000:]}
        sys.stdout.write(json.dumps(answer) + "\\n")
        sys.stdout.flush()
""")


@dataclass
class Outcome:
    ok: bool
    detail: str


class Sandbox:
    """A restartable child process that runs one loader operation per request."""

    def __init__(self, memory_limit: int = MEMORY_LIMIT, max_pixels: int = MAX_PIXELS,
                 timeout: float = CASE_TIMEOUT_S):
        self.memory_limit, self.max_pixels, self.timeout = memory_limit, max_pixels, timeout
        self.proc: subprocess.Popen | None = None
        self.cases = 0  # operations run
        self.files = 0  # damaged files written
        self.project_errors = 0

    def _start(self) -> None:
        env = dict(os.environ, ISPVIEWER_MAX_PIXELS=str(self.max_pixels), OMP_NUM_THREADS="1",
                   OPENBLAS_NUM_THREADS="1")
        # stderr to a file, never a pipe: libjpeg and LibRaw warn on every damaged file, and a full
        # pipe would block the child (a false "hang")
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - open as long as the child runs
        self.proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(self.memory_limit)], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                     text=True, start_new_session=True)
        line = self._readline(60.0)
        if line != "ready\n":
            raise RuntimeError(f"fuzz sandbox did not start: {line!r} {self._stderr_tail()}")

    def _stderr_tail(self) -> str:
        self._stderr.seek(0, os.SEEK_END)
        self._stderr.seek(max(0, self._stderr.tell() - 2000))
        return self._stderr.read().decode("utf-8", "replace")

    def _cpu_seconds(self) -> float | None:
        """CPU time the child used so far (Linux /proc), or None where unknown."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return None

    def _readline(self, timeout: float) -> str | None:
        """The child's next line; None once it used ``timeout`` s of CPU on it (a busy hang), or
        waited 10x that long without finishing (a blocked one).  CPU time, not wall time: a loaded
        machine slows the child down without making it hang."""
        start_cpu, start = self._cpu_seconds(), time.monotonic()
        while True:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                return self.proc.stdout.readline()
            cpu = self._cpu_seconds()
            waited = time.monotonic() - start
            if start_cpu is None or cpu is None:
                if waited > timeout:
                    return None
            elif cpu - start_cpu > timeout or waited > 10 * timeout:
                return None

    def run(self, op: str, *args: str | os.PathLike) -> Outcome:
        """Run ``op`` on ``args``; ok when it returned or raised a project error."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        self.cases += 1
        self.proc.stdin.write(json.dumps([op, [str(a) for a in args]]) + "\n")
        self.proc.stdin.flush()
        line = self._readline(self.timeout)
        if line is None:
            self.close()
            return Outcome(False, f"{op} hung (no answer after {self.timeout:.0f} s of CPU or "
                                  f"{10 * self.timeout:.0f} s of waiting)")
        if not line:
            code = self.proc.wait()
            err = self._stderr_tail()
            self.proc = None
            return Outcome(False, f"{op} crashed the process (exit status {code}): {err}")
        answer = json.loads(line)
        if answer["ok"]:
            self.project_errors += "error" in answer
            return Outcome(True, answer.get("message") or answer.get("result", ""))
        return Outcome(False, f"{op} raised {answer['error']}: {answer['message']}\n{answer['traceback']}")

    def write_case(self, folder: Path, name: str, data: bytes) -> Path:
        """Write one damaged file for the next operations (counted)."""
        self.files += 1
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        path.write_bytes(data)
        return path

    def close(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, 9)
            except ProcessLookupError:
                pass
            self.proc.wait()
            self.proc = None

