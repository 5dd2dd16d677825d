"""Fuzzing the importer (damaged capture files, hostile capture names) and the export (a damaged
manifest): only the project's own errors or reports, no crash, no hang, nothing written outside.

Each case runs in the sandbox child (address-space and time limits).  Short by default;
``ISPVIEWER_LONG_TESTS=1`` / ``pytest --long`` for long runs.
"""

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fuzz_mutations import Case, Field, apply, mutated
from fuzz_sandbox import Sandbox
from helpers import write_dng, write_jpeg
from ispviewer.dataset.importer import import_sources
from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.records import AlignmentResult, PatchMeasurement, Status
from reliability_helpers import count, long_mode

FUZZ = settings(max_examples=count(25, 1500), deadline=None, database=None, derandomize=not long_mode(),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
IDENTITY = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox()
    yield box
    box.close()
    print(f"\nimport/export fuzzing: {box.files} damaged files, {box.cases} calls, "
          f"{box.project_errors} answered with a project error, none crashed or hung")


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("capture")
    write_dng(folder / "raw.dng", 64, 48)
    write_jpeg(folder / "phone.jpg", 64, 48)
    write_jpeg(folder / "target.jpg", 96, 72, seed=1)
    return {name: (folder / name).read_bytes() for name in ("raw.dng", "phone.jpg", "target.jpg")}


@pytest.fixture(scope="module")
def manifest_bytes(tmp_path_factory, capture) -> bytes:
    """A small but complete manifest: triplets, aligned patches, user decisions and their history."""
    src = tmp_path_factory.mktemp("src")
    for name in ("a", "b", "c"):
        for role, data in capture.items():
            (src / name).mkdir(exist_ok=True)
            (src / name / role).write_bytes(data)
    root = tmp_path_factory.mktemp("seed") / "ds"
    assert import_sources(src, root).ok
    with Manifest.open(root) as m:
        for t in m.triplets():
            patches = tuple(PatchMeasurement(x=16 * i, y=16, size=16, dx=0.5, dy=-0.25, ncc=0.9,
                                             misalignment_px=0.4 * i, misalignment_p95=0.8 * i)
                            for i in range(4))
            m.store_alignment(t.id, AlignmentResult(IDENTITY, patches, None, 1.2))
        for i, p in enumerate(m.patches()):
            if i % 2:
                m.decide(p.id, Status.FLAGGED, f"reason {i}")
    return (root / "manifest.sqlite").read_bytes()


def test_fuzz_import_of_damaged_captures(sandbox, capture, tmp_path_factory):
    work = tmp_path_factory.mktemp("import")
    seeds = dict(capture)
    n = 0

    @FUZZ
    @given(case=mutated(seeds))
    def run(case):
        nonlocal n
        n += 1
        name, data, _ = case
        folder = work / f"src{n}" / "cap"
        folder.mkdir(parents=True)
        for role, good in capture.items():
            if role == name:
                sandbox.write_case(folder, role, data)
            else:
                (folder / role).write_bytes(good)
        outcome = sandbox.run("import", folder.parent, work / f"ds{n}")
        assert outcome.ok, outcome.detail

    run()


@pytest.mark.parametrize("name", ["..", "...", "..hidden", ".hidden", "-rf", "a\\b", "x" * 200, "caf\u00e9",
                                  "tab\there", "new\nline", "$(touch pwned)", "con"])
def test_hostile_capture_names_are_refused_or_kept_inside(tmp_path, capture, name):
    src = tmp_path / "src"
    for role, ext in (("raw", "dng"), ("phone", "jpg"), ("target", "jpg")):
        (src / role).mkdir(parents=True)
        (src / role / f"{name}.{ext}").write_bytes(capture[f"{role}.{ext}"])
    root = tmp_path / "out" / "ds"
    report = import_sources(src, root)
    written = {p for p in tmp_path.rglob("*") if src not in p.parents and p != src}
    assert all(p == tmp_path / "out" or p == root or root in p.parents for p in written)  # nothing outside
    if name == "con":  # a plain name (only special on Windows): imported, inside the dataset
        with Manifest.open(root, readonly=True) as m:
            (t,) = m.triplets()
            assert all(root in m.resolve(rel).parents for rel in (t.files.raw, t.files.phone, t.files.target))
    else:
        assert not report.added and "is not a plain file name" in report.summary()


def test_fuzz_export_and_check_of_a_damaged_manifest(sandbox, manifest_bytes, tmp_path_factory):
    work = tmp_path_factory.mktemp("export")
    n = 0

    def found(muts):  # cases fuzzing found (fixed in manifest.py), kept as regressions
        return example(case=Case(("manifest.sqlite", apply(manifest_bytes, muts), muts)), fmt="jsonl")

    @FUZZ
    @found([("flip", (103, 1))])  # sqlite3.DatabaseError "database disk image is malformed" escaped
    @found([("run", (434, 6, 255))])  # UnicodeDecodeError from a damaged text column escaped
    @found([("field", (Field(60, 4, True, "user version"), 0xFFFFFFFF))])  # schema -1: KeyError in migrations
    @given(case=mutated({"manifest.sqlite": manifest_bytes}), fmt=st.sampled_from(["jsonl", "csv"]))
    def run(case, fmt):
        nonlocal n
        n += 1
        _, data, _ = case
        root = work / f"ds{n}"
        sandbox.write_case(root, "manifest.sqlite", data)
        out = work / f"out{n}.{fmt}"
        for op, args in (("cli", ("export", root, "--format", fmt, "--out", out)),
                         ("cli", ("export", root, "--format", fmt, "--triplets", "--out", out)),
                         ("check", (root,)),
                         ("open", (root,))):
            outcome = sandbox.run(op, *args)
            assert outcome.ok, outcome.detail

    run()
