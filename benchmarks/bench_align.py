"""Benchmark of aligning one triplet, next to the time of only decoding its two JPEGs (same run).

Inputs (written once to a work folder): a 4032x3024 phone ISP JPEG and a 6048x4024 Nikon-like
target JPEG from the demo generator's photographic scenes (its 1.5x target, cropped to 3:2 like a
Nikon Z6 frame; the ground-truth homography is shifted to match).

Timing runs in a fresh child process, so its peak RSS belongs to decoding + aligning alone:
  decode    — load_rgb(phone) + load_rgb(target)                 (the floor)
  end-to-end — decode + align_triplet(phone, target, AlignParams()) (cold run, then warm repeats)
  cache     — writing the aligned-target display JPEG afterwards (what the batch adds per triplet)
Targets: end-to-end <= 3 s wall on 2 cores, peak RSS <= 2.5 GB.

Accuracy (targets: mean |reported - true| <= 0.10 px, decisions agree >= 98% outside +-0.2 px of
the threshold, homography corner error <= 0.3 px) is printed for the benchmark triplet, a demo
set (4 triplets, 2000x1500), the hard demo variant (4 triplets, 2000x1500: camera looks drawn per
capture, lens distortion, rig parallax; unmeasured patches counted by reason) and a non-rigid
synthetic set (displacement varying inside patches, where decisions are not trivially all "accepted").

With ``--baseline SRC`` (a source tree of the code to compare with, e.g. made by
``git worktree add /tmp/main main`` or ``git archive main ispviewer | tar -x -C /tmp/main``), the
timing child and the accuracy sets also run on that code, in the same run, and both are printed
(stage timings side by side, CPU seconds of the whole alignment as the ratio to quote).

    python benchmarks/bench_align.py [--repeats 5] [--workdir DIR] [--quick] [--baseline SRC]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import load_average

PHONE_SIZE = (4032, 3024)
TARGET_SIZE = (6048, 4024)
THRESHOLD = 1.2




# --------------------------------------------------------------------------- inputs


def make_inputs(work: Path) -> dict:
    """The benchmark triplet (written once) and its ground truth: paths + corrected homography."""
    import cv2
    import numpy as np

    from ispviewer.dataset.demo import build_demo_sources, load_groundtruth

    phone, target = work / "phone.jpg", work / "target.jpg"
    meta = work / "meta.json"
    if not meta.exists():
        t = time.perf_counter()
        src = work / "demo4032"
        (stem,) = build_demo_sources(src, count=1, size=PHONE_SIZE, seed=11)
        gt = load_groundtruth(src / "groundtruth" / f"{stem}.npz")
        full = cv2.imread(str(src / "target" / f"{stem}.jpg"), cv2.IMREAD_COLOR)
        tw, th = TARGET_SIZE
        oy = (full.shape[0] - th) // 2
        ox = (full.shape[1] - tw) // 2
        cv2.imwrite(str(target), full[oy:oy + th, ox:ox + tw], [cv2.IMWRITE_JPEG_QUALITY, 92])
        (src / "phone" / f"{stem}.jpg").replace(phone)
        # cropped target pixel (x, y) is full target pixel (x + ox, y + oy)
        homography = gt.homography @ np.array([[1, 0, ox], [0, 1, oy], [0, 0, 1.0]])
        meta.write_text(json.dumps({"gt": str(src / "groundtruth" / f"{stem}.npz"), "offset": [ox, oy],
                                    "homography": homography.tolist()}))
        print(f"wrote the benchmark triplet in {time.perf_counter() - t:.0f} s")
    info = json.loads(meta.read_text())
    info.update(phone=str(phone), target=str(target))
    return info


# --------------------------------------------------------------------------- timing (child)


def _cpu_timed(function):
    """(list, wrapper): the wrapper calls ``function`` and appends the CPU seconds it took (all
    threads of this process) to the list."""
    seconds = []

    def timed(*args, **kwargs):
        start = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            seconds.append(time.process_time() - start)

    return seconds, timed


def child(phone: str, target: str, repeats: int) -> None:
    """Runs in a fresh process: prints one JSON line with timings and peak RSS."""
    import cv2

    from ispviewer.align import AlignParams, align_triplet
    from ispviewer.align.aligned_target import render_aligned_target_from, save_aligned_target
    from ispviewer.dataset.images import load_rgb

    params = AlignParams()
    decode, total, stages, cache = [], [], [], []
    cache_path = Path(tempfile.mkdtemp()) / "aligned.jpg"
    cpu, align_triplet = _cpu_timed(align_triplet)
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        p, t = load_rgb(phone), load_rgb(target)
        t1 = time.perf_counter()
        result = align_triplet(p, t, params, keep_prefiltered=True)
        t2 = time.perf_counter()  # the cache as the batch writes it (from the aligner's own averaged luminance)
        image = render_aligned_target_from(cv2.cvtColor(t, cv2.COLOR_RGB2BGR), result.prefiltered,
                                           result.homography, result.phone_size)
        save_aligned_target(cache_path, image, channels="bgr")
        cache.append(time.perf_counter() - t2)
        del p, t
        decode.append(t1 - t0)
        total.append(t2 - t0)
        stages.append(result.timings)
    cache_path.unlink(missing_ok=True)
    print(json.dumps({"decode": decode, "total": total, "stages": stages, "cache": cache, "cpu": cpu,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "patches": len(result.patches)}))


def _env(source: Path | None) -> dict | None:
    """The environment of a child that imports ispviewer from ``source`` (None: this checkout)."""
    if source is None:
        return None
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(source), os.environ.get("PYTHONPATH", "")]))


def run_child(info: dict, repeats: int, source: Path | None = None) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", info["phone"], info["target"], str(repeats)],
                         capture_output=True, text=True, check=True, env=_env(source))
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- accuracy


def corner_error(h_est, h_true, size) -> float:
    import numpy as np

    from ispviewer.align.geometry import apply_homography

    w, h = size
    c = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], float)
    return float(np.linalg.norm(apply_homography(h_true, apply_homography(np.linalg.inv(h_est), c)) - c,
                                axis=1).max())


def score(items) -> str:
    """items: (phone, target, true_homography, true_misalignment(x, y, size, H, dx, dy))."""
    import numpy as np

    from ispviewer.align import AlignParams, align_triplet, auto_status
    from ispviewer.dataset.records import Status

    errors, agree, corners, n_unmeasurable, n_patches, over = [], [], [], 0, 0, 0
    for phone, target, h_true, truth in items:
        result = align_triplet(phone, target, AlignParams(threshold_px=THRESHOLD))
        corners.append(corner_error(result.homography, h_true, result.phone_size))
        for p in result.patches:
            n_patches += 1
            if not p.measurable:
                n_unmeasurable += 1
                continue
            t = truth(p.x, p.y, p.size, result.homography, p.dx, p.dy)
            errors.append(abs(p.misalignment_px - t))
            over += t > THRESHOLD
            if abs(t - THRESHOLD) > 0.2:
                agree.append((auto_status(p, THRESHOLD)[0] == Status.REJECTED) == (t > THRESHOLD))
    return (f"mean |reported-true| {np.mean(errors):.3f} px (p95 {np.percentile(errors, 95):.3f}), "
            f"decisions agree {np.mean(agree):.1%} of {len(agree)} "
            f"({over} truly > {THRESHOLD} px), corner error max {max(corners):.3f} px, "
            f"{n_unmeasurable}/{n_patches} patches unmeasurable")


def hard_score(work: Path, quick: bool) -> None:
    """The hard demo variant (`ispviewer demo --hard`): camera looks drawn per capture, a lens
    distortion difference, near objects with 5-25 px rig parallax; patches it cannot measure are
    counted by reason, with how many of them are truly misaligned."""
    from ispviewer.align import AlignParams, align_triplet
    from ispviewer.align.evaluate import Score
    from ispviewer.dataset.demo import build_demo_sources, load_groundtruth
    from ispviewer.dataset.images import load_rgb

    count = 2 if quick else 4
    hard = work / f"hard2000x{count}"
    if not (hard / "groundtruth").is_dir():
        build_demo_sources(hard, count=count, size=(2000, 1500), seed=7, hard=True)
    s = Score(THRESHOLD)
    for g in sorted((hard / "groundtruth").glob("*.npz")):
        truth = load_groundtruth(g)
        result = align_triplet(load_rgb(hard / "phone" / f"{g.stem}.jpg"), load_rgb(hard / "target" / f"{g.stem}.jpg"),
                               AlignParams(threshold_px=THRESHOLD))
        s.add(result, truth.homography, truth.true_misalignment)
    print(f"  hard demo set ({count} x 2000x1500): {s.summary()}")


def accuracy(info: dict, work: Path, quick: bool) -> None:
    import numpy as np

    from ispviewer.align.synthetic import make_pair
    from ispviewer.dataset.demo import build_demo_sources, load_groundtruth
    from ispviewer.dataset.images import load_rgb

    gt = load_groundtruth(info["gt"])
    ox, oy = info["offset"]

    to_crop = np.array([[1, 0, -ox], [0, 1, -oy], [0, 0, 1.0]])  # full target px -> cropped target px

    def bench_truth(x, y, size, h_est, dx, dy):  # the ground truth speaks of the full target
        return gt.true_misalignment(x, y, size, np.asarray(h_est) @ to_crop, dx, dy)

    bench = (load_rgb(info['phone']), load_rgb(info['target']), np.array(info['homography']), bench_truth)
    print(f"  benchmark triplet: {score([bench])}")
    demo = work / f"demo2000x{2 if quick else 4}"
    if not (demo / "groundtruth").is_dir():
        build_demo_sources(demo, count=2 if quick else 4, size=(2000, 1500), seed=5)
    items = []
    for g in sorted((demo / "groundtruth").glob("*.npz")):
        truth = load_groundtruth(g)
        items.append((load_rgb(demo / "phone" / f"{g.stem}.jpg"), load_rgb(demo / "target" / f"{g.stem}.jpg"),
                      truth.homography, truth.true_misalignment))
    print(f"  demo set ({len(items)} x 2000x1500): {score(items)}")
    hard_score(work, quick)
    pairs = [make_pair((1024, 768), seed=s, ripple_px=3.0, wavelength=(192, 256, 384)[s % 3])
             for s in range(40, 43 if quick else 48)]
    print(f"  non-rigid synthetic ({len(pairs)} x 1024x768): "
          f"{score([(p.phone, p.target, p.homography, p.true_misalignment) for p in pairs])}")
    print("  (corner errors of the synthetic set measure its global shift field, not the aligner)")


# --------------------------------------------------------------------------- main


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--accuracy-child":  # WORKDIR QUICK
        work = Path(sys.argv[2])
        accuracy(make_inputs(work), work, sys.argv[3] == "1")
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="warm repeats after the cold run")
    ap.add_argument("--workdir", type=Path, help="keep the generated inputs here (reused next time)")
    ap.add_argument("--quick", action="store_true", help="smaller accuracy sets")
    ap.add_argument("--baseline", type=Path, help="source tree of the code to compare with, run in the same run")
    args = ap.parse_args()
    if args.baseline is not None and not (args.baseline / "ispviewer" / "__init__.py").is_file():
        ap.error(f"--baseline {args.baseline}: no ispviewer package there")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        info = make_inputs(work)
        print(f"aligning {PHONE_SIZE[0]}x{PHONE_SIZE[1]} phone JPEG against {TARGET_SIZE[0]}x{TARGET_SIZE[1]} "
              f"target JPEG ({load_average()}, before)")
        r = run_child(info, args.repeats)
        decode, total = r["decode"], r["total"]
        warm_d, warm_t = decode[1:] or decode, total[1:] or total
        best, med = min(warm_t), statistics.median(warm_t)
        floor = min(warm_d)
        print(f"  decode only (floor):   best {floor:.3f} s, median {statistics.median(warm_d):.3f} s")
        print(f"  end-to-end (decode + align): cold {total[0]:.3f} s, warm best {best:.3f} s, "
              f"median {med:.3f} s   [target <= 3 s]")
        print(f"  ratio end-to-end / decode floor: {best / floor:.2f}x (best), "
              f"{med / statistics.median(warm_d):.2f}x (median)")
        stages = {k: statistics.median(s[k] for s in r["stages"][1:] or r["stages"]) for k in r["stages"][0]}
        print("  align stages (median s): " + ", ".join(f"{k} {v:.3f}" for k, v in stages.items()))
        print(f"  + display cache (aligned target JPEG that `ispviewer align` also writes for the viewer): "
              f"median {statistics.median(r['cache'][1:] or r['cache']):.3f} s")
        print(f"  peak RSS of the timing process: {r['peak_mb']:.0f} MB   [target <= 2560 MB]; "
              f"{r['patches']} patches; {load_average()}, after")
        if args.baseline is not None:
            b = run_child(info, args.repeats, args.baseline)
            b_stages = {k: statistics.median(s[k] for s in b["stages"][1:] or b["stages"]) for k in b["stages"][0]}
            print(f"  baseline {args.baseline} stages (median s): "
                  + ", ".join(f"{k} {v:.3f}" for k, v in b_stages.items()))
            mine, theirs = (statistics.median(x["cpu"][1:] or x["cpu"]) for x in (r, b))
            print(f"  align CPU per triplet (median): {mine:.3f} s vs baseline {theirs:.3f} s "
                  f"({mine / theirs:.2f}x); {load_average()}")
        print("accuracy:")
        accuracy(info, work, args.quick)
        if args.baseline is not None:
            print(f"accuracy of the baseline {args.baseline}, same sets:", flush=True)
            subprocess.run([sys.executable, __file__, "--accuracy-child", str(work), "1" if args.quick else "0"],
                           check=True, env=_env(args.baseline))
        ok = best <= 3.0 and r["peak_mb"] <= 2560
        print("speed/memory targets met" if ok else "speed/memory targets NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
