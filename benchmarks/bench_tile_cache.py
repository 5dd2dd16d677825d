"""What the patch-tile cache costs the aligner per 12 MP triplet, and what it saves the gallery.

Input: ``bench_align.py``'s benchmark triplet (a 4032x3024 phone JPEG and a 6048x4024 Nikon-like
target, written once to the work folder).  In one process, each repeat runs the aligner's job as
``ispviewer align`` does (``align_job``: decode, align, heatmap, aligned target, patch-tile cache),
and times its parts the same way:

  align job   — the whole per-triplet job (the alignment budget)
  tile cache  — writing the patch-tile cache inside it (what this cache adds)
  size        — the cache on disk next to the phone JPEG and the aligned target JPEG
  read        — one patch's two tiles from the cache, next to decoding the phone JPEG (the old way
                needed that decode plus the aligned target's for every triplet on a gallery page)

    python benchmarks/bench_tile_cache.py [--repeats 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_align import make_inputs

from _common import load_average


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "ispviewer-bench-align")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    info = make_inputs(args.workdir)

    import cv2

    from ispviewer.align import tile_cache
    from ispviewer.align.batch import AlignJob, align_job
    from ispviewer.dataset.alignment_files import alignment_paths, patch_tiles_relpath
    from ispviewer.dataset.images import load_rgb
    from ispviewer.dataset.patch_tiles import TileSpec, read_index, read_patch_tiles

    cv2.setNumThreads(1)  # as in the batch's worker processes
    root = Path(tempfile.mkdtemp(prefix="ispviewer-bench-tiles-"))
    shutil.copy(info["phone"], root / "phone.jpg")
    shutil.copy(info["target"], root / "target.jpg")
    writes = []
    real_write = tile_cache.write_tile_cache

    def timed(*a, **k):
        out = real_write(*a, **k)
        writes.append(out)
        return out

    tile_cache.write_tile_cache = timed  # the job imports it at call time: this is the write it does
    print(load_average())
    jobs, decode_ref = [], []
    try:
        for _ in range(args.repeats):
            heatmap, aligned = alignment_paths("bench")
            job = AlignJob(str(root), "bench", "phone.jpg", "target.jpg", heatmap, 128, 1.2, aligned=aligned)
            t0 = time.perf_counter()
            _, result, error = align_job(job)
            jobs.append(time.perf_counter() - t0)
            if error:
                raise SystemExit(error)
            t0 = time.perf_counter()
            load_rgb(root / "phone.jpg")
            decode_ref.append(time.perf_counter() - t0)
        tiles = root / patch_tiles_relpath(heatmap)
        entries = read_index(tiles)
        specs = [TileSpec(*(int(v) for v in tuple(e)[:5])) for e in entries]
        reads = []
        for s in specs[::max(1, len(specs) // 48)][:48]:
            t0 = time.perf_counter()
            read_patch_tiles(tiles, [s])
            reads.append(time.perf_counter() - t0)
    finally:
        tile_cache.write_tile_cache = real_write
    write_s = [w.seconds for w in writes]
    job_s, cache_s = statistics.median(jobs), statistics.median(write_s)
    phone_mb = (root / "phone.jpg").stat().st_size / 1e6
    aligned_mb = (root / aligned).stat().st_size / 1e6
    tiles_mb = tiles.stat().st_size / 1e6
    print(f"triplet 4032x3024 phone / 6048x4024 target, {len(result.patches)} patches of 128 px, "
          f"median of {args.repeats}")
    print(f"align job (decode, align, heatmap, aligned target, tile cache)  {job_s:7.2f} s")
    print(f"  of which the patch-tile cache                                 {cache_s:7.2f} s "
          f"= {cache_s / job_s:.1%} of the job")
    print(f"patch-tile cache on disk {tiles_mb:.2f} MB = {tiles_mb / phone_mb:.2f} x the phone JPEG "
          f"({phone_mb:.2f} MB); aligned target JPEG {aligned_mb:.2f} MB")
    print(f"one patch's two tiles read from the cache {1000 * statistics.median(reads):6.2f} ms   "
          f"reference: decoding the phone JPEG {1000 * statistics.median(decode_ref):6.0f} ms")
    shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
