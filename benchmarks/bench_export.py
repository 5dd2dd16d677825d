"""Benchmark of export-patches: 10,000 accepted 128-px patches to the ZRR layout, next to the time
of only decoding the images involved (same run, same machine).

Dataset (built once in the work folder): 4 demo triplets of 2000x1500 (RGGB and BGGR phones,
turned and cropped captures) are built and aligned; further triplets are registered from the same
source files (hard links) with the same alignment, until the accepted patches reach --patches.
Each registered triplet is decoded and cut on its own, as a distinct capture would be.

Figures (each in a fresh run of the export, outputs removed first):
  decode only — load_packed_raw + load_rgb(target) of every triplet exported  (the floor)
  export      — `ispviewer export-patches DS --layout zrr --workers W`  (wall and CPU time, peak RSS)
  reused      — the same command again (everything reused)
Target: export <= 60 s for 10,000 patches on 2 cores.

    python benchmarks/bench_export.py [--patches 10000] [--workers 2] [--workdir DIR] [--layout zrr]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import load_average

SIZE = (2000, 1500)
BASE_TRIPLETS = 4


def build_dataset(work: Path, patches: int) -> Path:
    from ispviewer.align.batch import align_dataset
    from ispviewer.dataset.demo.build import build_demo_sources
    from ispviewer.dataset.importer import import_sources
    from ispviewer.dataset.manifest import Manifest
    from ispviewer.dataset.records import AlignmentResult, PatchMeasurement

    ds = work / "ds"
    if (ds / "manifest.sqlite").exists():
        with Manifest.open(ds, readonly=True) as m:
            if len(m.patches(status="accepted")) >= patches:
                return ds
        shutil.rmtree(ds)
    src = work / "src"
    if not src.exists():
        build_demo_sources(src, count=BASE_TRIPLETS, size=SIZE, seed=11)
    assert import_sources(src, ds).ok
    align_dataset(ds, workers=2)
    with Manifest.open(ds) as m:
        base = [t for t in m.triplets() if t.homography is not None]
        per = {t.name: m.patches(t.id) for t in base}
        have = sum(1 for ps in per.values() for p in ps if p.status.value == "accepted")
        k = 0
        while have < patches:
            t = base[k % len(base)]
            name = f"{t.name}_copy{k:03d}"
            k += 1
            rel = f"captures/{name}"
            for old in (t.files.raw, t.files.phone, t.files.target):
                dst = m.resolve(f"{rel}/{Path(old).name}")
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.link(m.resolve(old), dst)
            files = type(t.files)(raw=f"{rel}/{Path(t.files.raw).name}", phone=f"{rel}/{Path(t.files.phone).name}",
                                  target=f"{rel}/{Path(t.files.target).name}")
            tid, _ = m.add_triplet(name, files, t.raw, (t.target_width, t.target_height), t.capture)
            ms = tuple(PatchMeasurement(p.x, p.y, p.size, p.dx, p.dy, p.ncc, p.misalignment_px,
                                        p.misalignment_p95, p.measurable) for p in per[t.name])
            m.store_alignment(tid, AlignmentResult(homography=t.homography, patches=ms, heatmap=None,
                                                   threshold_px=m.threshold_px))
            have += sum(1 for p in per[t.name] if p.status.value == "accepted")
    return ds


def decode_only(ds: Path, limit: int) -> tuple[float, int]:
    """Seconds to decode the raw and target of the triplets an export of ``limit`` patches reads."""
    from ispviewer.dataset.images import load_packed_raw, load_rgb
    from ispviewer.dataset.manifest import Manifest

    with Manifest.open(ds, readonly=True) as m:
        triplets = {t.name: t for t in m.triplets()}
        counts: dict[str, int] = {}
        for p in m.patches(status="accepted"):
            counts[p.triplet] = counts.get(p.triplet, 0) + 1
        names, total = [], 0
        for name in sorted(counts):
            names.append(name)
            total += counts[name]
        paths = [(m.resolve(triplets[n].files.raw), triplets[n].raw, m.resolve(triplets[n].files.target))
                 for n in names]
    t0 = time.perf_counter()
    for raw, frame, target in paths:
        load_packed_raw(raw, frame)
        load_rgb(target)
    return time.perf_counter() - t0, len(paths)


def timed(cmd: list[str]) -> tuple[float, float, float, str]:
    """(wall s, CPU s of the command and its workers, peak RSS MB of one process, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{run.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024, run.stdout.strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patches", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--layout", default="zrr", choices=("zrr", "webdataset"))
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "ispviewer_bench_export")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    ds = build_dataset(args.workdir, args.patches)
    out = args.workdir / "out"
    shutil.rmtree(out, ignore_errors=True)
    print(f"machine: {os.cpu_count()} CPU(s), {load_average()}")
    dec, n_triplets = decode_only(ds, args.patches)
    cmd = [sys.executable, "-m", "ispviewer", "export-patches", str(ds), "--layout", args.layout,
           "--out", str(out), "--workers", str(args.workers)]
    wall, cpu, rss, summary = timed(cmd)
    again, _, _, summary2 = timed(cmd)
    files = sum(1 for _ in out.rglob("*.png"))
    print(f"triplets: {n_triplets}, {SIZE[0]}x{SIZE[1]} phone frame, 128-px patches; {summary}")
    print(f"decode only (1 process):       {dec:7.2f} s")
    print(f"export-patches --workers {args.workers}:  {wall:7.2f} s   ({wall / max(dec, 1e-9):.2f}x decode-only; "
          f"peak RSS of a process {rss:.0f} MB; target <= 60 s)")
    print(f"  CPU time of the export (all its processes): {cpu:.1f} s, i.e. at least {cpu / 2:.1f} s of wall time "
          "on 2 cores; wall time above that is waiting (other processes' share of the machine, start-up)")
    print(f"re-run (all reused):           {again:7.2f} s   [{summary2.splitlines()[0]}]")
    print(f"raw PNG files written: {files}; {load_average()}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())
