"""Benchmark of the ISP network's CPU inference, next to LibRaw's own rendering in the same run.

Measures, each in a fresh child process (so peak RSS belongs to that task alone):
  1. crop  — render_region of a 512x512 output crop of a 12 MP frame (median of N, after warm-up)
  2. full  — render_full of a 12 MP (4032x3024) frame from a packed array (1512x2016x4), tiled
  3. libraw — rawpy.imread(...).postprocess() of a 12 MP Bayer DNG written here with pidng
             (LibRaw's AHD demosaic + colour + gamma, 8-bit), and of the real 9 MP
             Blackmagic DNG in ../shared/data/real when present
The model is untrained (weights do not change speed).  Targets: crop <= 250 ms, full <= 15 s.
Last, the shipped (or --weights) checkpoint renders the real DNG and is compared with LibRaw's
render of it (ispviewer.model.plausibility: luminance structure, tone rank, colour angle).

    python benchmarks/bench_model.py [--model kpn] [--hparams '{"widths": [24, 48, 96]}']
                                     [--tile 256] [--repeats 7] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import load_average

FULL_W, FULL_H = 4032, 3024
REAL_DNG = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "blackmagic_pocket4k.dng"


def _rss_mb() -> float:
    """Current resident set size (MB) from /proc, or the peak where /proc is absent."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * resource.getpagesize() / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024




def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _model(args):
    import torch

    from ispviewer.model import build_model

    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    return build_model(args.model, **json.loads(args.hparams)).eval()


def _packed():
    import numpy as np

    rng = np.random.default_rng(0)
    return rng.random((FULL_H // 2, FULL_W // 2, 4), dtype=np.float32)


def child_crop(args) -> dict:
    from ispviewer.model import render_region

    model, packed = _model(args), _packed()
    region = (FULL_W // 2 - 256, FULL_H // 2 - 256, 512, 512)
    render_region(model, packed, region, tile=args.tile)  # warm-up
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        out = render_region(model, packed, region, tile=args.tile)
        times.append(time.perf_counter() - t0)
    assert out.shape == (512, 512, 3)
    return {"median_s": statistics.median(times), "min_s": min(times), "peak_rss_mb": _peak_mb()}


def child_full(args) -> dict:
    from ispviewer.model import render_full

    model, packed = _model(args), _packed()
    before = _rss_mb()
    ticks = []
    t0 = time.perf_counter()
    out = render_full(model, packed, tile=args.tile, progress=lambda d, n: ticks.append(n))
    dt = time.perf_counter() - t0
    assert out.shape == (FULL_H, FULL_W, 3)
    return {"s": dt, "tiles": ticks[-1], "rss_before_mb": before, "peak_rss_mb": _peak_mb(),
            "output_mb": out.nbytes / 2**20, "input_mb": packed.nbytes / 2**20}


def _write_dng(path: Path) -> None:
    import numpy as np
    from pidng.core import RAW2DNG, DNGTags, Tag
    from pidng.defs import CalibrationIlluminant, DNGVersion, PhotometricInterpretation

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:FULL_H, 0:FULL_W]
    data = (64 + (xx * 3 + yy * 2) % 3000 + rng.integers(0, 64, (FULL_H, FULL_W))).astype(np.uint16)
    tags = DNGTags()
    for tag, value in ((Tag.ImageWidth, FULL_W), (Tag.ImageLength, FULL_H), (Tag.TileWidth, FULL_W),
                       (Tag.TileLength, FULL_H), (Tag.Orientation, 1),
                       (Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array),
                       (Tag.SamplesPerPixel, 1), (Tag.BitsPerSample, 16), (Tag.CFARepeatPatternDim, [2, 2]),
                       (Tag.CFAPattern, [0, 1, 1, 2]), (Tag.BlackLevel, 64), (Tag.WhiteLevel, 4095),
                       (Tag.ColorMatrix1, [[1, 1], [0, 1], [0, 1], [0, 1], [1, 1], [0, 1], [0, 1], [0, 1], [1, 1]]),
                       (Tag.CalibrationIlluminant1, CalibrationIlluminant.D65),
                       (Tag.AsShotNeutral, [[1, 1], [1, 1], [1, 1]]), (Tag.Make, "Bench"), (Tag.Model, "Phone12MP"),
                       (Tag.DNGVersion, DNGVersion.V1_4), (Tag.DNGBackwardVersion, DNGVersion.V1_2)):
        tags.set(tag, value)
    writer = RAW2DNG()
    writer.options(tags, path="", compress=False)
    writer.convert(data, filename=str(path.with_suffix("")))


def child_libraw(args) -> dict:
    import rawpy

    from ispviewer.dataset.images import load_packed_raw

    path = Path(args.dng)
    t0 = time.perf_counter()
    with rawpy.imread(str(path)) as raw:
        rgb = raw.postprocess()
    dt = time.perf_counter() - t0
    t0 = time.perf_counter()
    packed = load_packed_raw(path)
    load_s = time.perf_counter() - t0
    return {"s": dt, "shape": list(rgb.shape), "peak_rss_mb": _peak_mb(), "load_packed_s": load_s,
            "packed_shape": list(packed.data.shape)}


def child_real(args) -> dict:
    from ispviewer.model.checkpoint import load_checkpoint
    from ispviewer.model.plausibility import plausibility

    model, meta = load_checkpoint(args.weights)
    result = plausibility(model, REAL_DNG)
    return {"line": result.line(), "structure": result.structure, "tone_rank": result.tone_rank,
            "colour_deg": result.colour_deg, "model": meta["model"]}


CHILDREN = {"crop": child_crop, "full": child_full, "libraw": child_libraw, "real": child_real}


def _run_child(task: str, args, extra: list[str] = ()) -> dict:
    cmd = [sys.executable, __file__, "--child", task, "--model", args.model, "--hparams", args.hparams,
           "--tile", str(args.tile), "--repeats", str(args.repeats), "--threads", str(args.threads), *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child {task} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="kpn")
    ap.add_argument("--hparams", default="{}", help="JSON dict of hyper-parameters")
    ap.add_argument("--tile", type=int, default=256, help="tile side in packed pixels")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    ap.add_argument("--skip-full", action="store_true")
    ap.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    ap.add_argument("--dng", help=argparse.SUPPRESS)
    ap.add_argument("--weights", default=None,
                    help="checkpoint for the real-DNG plausibility check (default: the shipped weights)")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](args)))
        return 0

    import torch

    from ispviewer.model import parameter_count

    model = _model(args)
    n = parameter_count(model)
    print(f"model {args.model} {json.dumps(model.hparams)}: {n:,} parameters, "
          f"{n * 4 / 2**20:.2f} MB float32 / {n * 2 / 2**20:.2f} MB half; receptive radius "
          f"{model.receptive_radius} packed px, context {model.default_context}, align {model.align}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; tile {args.tile} packed px "
          f"({2 * args.tile} output px); each task in a fresh process; {load_average()}\n")

    crop = _run_child("crop", args)
    print(f"512x512 output crop (render_region, median of {args.repeats}): {crop['median_s'] * 1e3:.0f} ms "
          f"(min {crop['min_s'] * 1e3:.0f} ms; target <= 250 ms)  peak RSS {crop['peak_rss_mb']:.0f} MB")

    full = None
    if not args.skip_full:
        full = _run_child("full", args)
        print(f"12 MP {FULL_W}x{FULL_H} render_full from a packed float32 array: {full['s']:.2f} s "
              f"({full['tiles']} tiles; target <= 15 s)  peak RSS {full['peak_rss_mb']:.0f} MB "
              f"(before render {full['rss_before_mb']:.0f} MB; input {full['input_mb']:.0f} MB, "
              f"output {full['output_mb']:.0f} MB)")

    with tempfile.TemporaryDirectory() as tmp:
        dng = Path(tmp) / "bench12mp.dng"
        _write_dng(dng)
        ref = _run_child("libraw", args, ["--dng", str(dng)])
    print(f"\nreference: LibRaw rawpy postprocess() of a 12 MP {FULL_W}x{FULL_H} pidng Bayer DNG "
          f"(AHD, 8-bit sRGB): {ref['s']:.2f} s  peak RSS {ref['peak_rss_mb']:.0f} MB")
    print(f"           load_packed_raw of the same DNG (our input step): {ref['load_packed_s']:.2f} s")
    if REAL_DNG.exists():
        real = _run_child("libraw", args, ["--dng", str(REAL_DNG)])
        h, w = real["shape"][:2]
        print(f"reference: LibRaw postprocess() of the real {REAL_DNG.name} ({w}x{h}, "
              f"{w * h / 1e6:.1f} MP): {real['s']:.2f} s -> {real['s'] * FULL_W * FULL_H / (w * h):.2f} s "
              f"scaled to 12 MP")
    if full:
        print(f"\nratio: network full render / LibRaw postprocess (12 MP) = {full['s'] / ref['s']:.1f}x")
    from ispviewer.model.weight_files import default_weights

    weights = Path(args.weights) if args.weights else default_weights()
    if REAL_DNG.exists() and weights.exists():
        real = _run_child("real", args, ["--weights", str(weights)])
        print(f"\nplausibility of {weights.name} ({real['model']}) on the whole real {REAL_DNG.name}: "
              f"{real['line']}")
    print(f"({load_average()} at the end)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
