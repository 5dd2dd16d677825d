"""Fuzzing the raw and JPEG loaders with damaged real files: only ImageReadError, no crash, no hang,
no unbounded memory (each case runs in a child with an address-space limit and a time limit).

Seeds: the real files in ../shared/data/real (when present) and small generated DNGs and JPEGs.
Short by default (deterministic examples); ``ISPVIEWER_LONG_TESTS=1`` / ``pytest --long`` runs
thousands of random cases.
"""

import struct
from pathlib import Path

import cv2
import pytest
from hypothesis import HealthCheck, example, given, settings

from fuzz_mutations import Case, apply, mutated, tiff_fields
from fuzz_sandbox import MAX_PIXELS, Sandbox
from helpers import write_dng, write_jpeg
from reliability_helpers import count, long_mode

REAL_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"

FUZZ = settings(max_examples=count(40, 3000), deadline=None, database=None, derandomize=not long_mode(),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox()
    yield box
    box.close()
    print(f"\nimage fuzzing: {box.files} damaged files, {box.cases} loader calls, "
          f"{box.project_errors} answered with ImageReadError, none crashed, hung or ran out of memory")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def _real(name: str) -> dict[str, bytes]:
    path = REAL_DATA / name
    return {name: path.read_bytes()} if path.is_file() else {}


def _generated_raws(folder) -> dict[str, bytes]:
    seeds = {}
    for cfa in ("RGGB", "GRBG"):
        write_dng(folder / f"gen_{cfa}.dng", 64, 48, cfa=cfa)
        seeds[f"gen_{cfa}.dng"] = (folder / f"gen_{cfa}.dng").read_bytes()
    return seeds


def _generated_jpegs(folder) -> dict[str, bytes]:
    write_jpeg(folder / "gen.jpg", 64, 48)
    img = cv2.imread(str(folder / "gen.jpg"))
    ok, progressive = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok
    return {"gen.jpg": (folder / "gen.jpg").read_bytes(), "gen_progressive.jpg": progressive.tobytes()}


def _run_all(sandbox, path, ops) -> None:
    for op in ops:
        outcome = sandbox.run(op, path)
        assert outcome.ok, outcome.detail


def test_fuzz_small_raws(sandbox, work):
    seeds = _generated_raws(work) | _real("kodak_dc50.kdc")

    def found(name, muts):  # cases fuzzing found (fixed in images.py), kept as regressions
        return example(case=Case((name, apply(seeds[name], muts), muts)))

    @FUZZ
    @found("gen_GRBG.dng", [("truncate", 346)])  # LibRawIOError escaped read_raw_info
    @found("gen_GRBG.dng", [("flip", (203, 1))])  # rawpy's NotImplementedError ("filters: 148")
    @given(case=mutated(seeds))
    def run(case):
        name, data, _ = case
        path = sandbox.write_case(work / "raw", "case" + name[name.rfind("."):], data)
        _run_all(sandbox, path, ("read_raw_info", "load_packed_raw"))

    run()


def test_fuzz_real_dng_headers(sandbox, work, real_data):
    seeds = _real("blackmagic_pocket4k.dng")

    @settings(FUZZ, max_examples=count(4, 300))
    @given(case=mutated(seeds))
    def run(case):  # a 9 MP decode per case: few by default
        _, data, _ = case
        _run_all(sandbox, sandbox.write_case(work / "dng", "case.dng", data), ("load_packed_raw",))

    run()


def test_fuzz_jpegs(sandbox, work):
    seeds = _generated_jpegs(work) | _real("exif_orientation_1.jpg") | _real("exif_orientation_6.jpg")

    @FUZZ
    @given(case=mutated(seeds))
    def run(case):
        _, data, _ = case
        path = sandbox.write_case(work / "jpeg", "case.jpg", data)
        _run_all(sandbox, path, ("jpeg_size", "jpeg_oriented_size", "verify_jpeg", "load_rgb", "load_rgb_reduced"))

    run()


# --------------------------------------------------------------------------- gigantic claimed sizes


def _set_tiff_tag(data: bytes, tag: int, value: int) -> bytes:
    out = bytearray(data)
    for f in tiff_fields(data):
        if f.what == f"tag {tag:#06x} value":
            out[f.offset:f.offset + f.width] = value.to_bytes(f.width, "big" if f.big_endian else "little")
    return bytes(out)


@pytest.mark.parametrize("side", [4100, 12000, 30000])
def test_raw_claiming_a_gigantic_size_is_refused_before_decoding(sandbox, work, side):
    write_dng(work / "small.dng", 64, 48)
    data = (work / "small.dng").read_bytes()
    for tag in (0x0100, 0x0101, 0x0142, 0x0143):  # width, height, tile width, tile height
        data = _set_tiff_tag(data, tag, side)
    path = sandbox.write_case(work / "giant", f"giant{side}.dng", data)
    assert side * side > MAX_PIXELS
    for op in ("read_raw_info", "load_packed_raw"):
        outcome = sandbox.run(op, path)
        assert outcome.ok and "pixel limit" in outcome.detail, outcome.detail


def test_jpeg_claiming_a_gigantic_size_is_refused_before_decoding(sandbox, work):
    write_jpeg(work / "ok.jpg", 64, 48)
    data = bytearray((work / "ok.jpg").read_bytes())
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", 65500, 65500)
    path = sandbox.write_case(work / "giant", "giant.jpg", bytes(data))
    for op in ("load_rgb", "verify_jpeg"):
        outcome = sandbox.run(op, path)
        assert outcome.ok and "pixel limit" in outcome.detail, outcome.detail


def test_truncated_dng_is_an_image_read_error(tmp_path):
    from ispviewer.dataset.images import ImageReadError, load_packed_raw, read_raw_info

    write_dng(tmp_path / "ok.dng", 64, 48)
    data = (tmp_path / "ok.dng").read_bytes()
    (tmp_path / "cut.dng").write_bytes(data[:len(data) - 3000])
    for load in (read_raw_info, load_packed_raw):
        with pytest.raises(ImageReadError, match="cut.dng"):
            load(tmp_path / "cut.dng")


def test_the_sandbox_reports_crashes_hangs_and_memory_blowups():
    """The harness itself: a loader that crashed, hung or allocated without bound would fail a case."""
    box = Sandbox(timeout=0.2)
    try:
        for op, words in (("_crash", "crashed"), ("_spin", "hung"), ("_hang", "hung"), ("_allocate", "MemoryError")):
            outcome = box.run(op)
            assert not outcome.ok and words in outcome.detail, outcome.detail
        assert box.run("jpeg_size", "/nonexistent.jpg").ok  # and it restarts after each
    finally:
        box.close()
