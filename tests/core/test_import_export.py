import csv
import io
import json
import shutil

from helpers import make_capture, write_dng, write_jpeg
from ispviewer.cli import main
from ispviewer.dataset.importer import import_sources
from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.records import AlignmentResult, PatchMeasurement, Status


def by_role(src, stems, cfa="RGGB"):
    for i, stem in enumerate(stems):
        (src / "raw").mkdir(parents=True, exist_ok=True)
        write_dng(src / "raw" / f"{stem}.DNG", 64, 48, cfa, seed=i)
        write_jpeg(src / "phone" / f"{stem}.jpg", 64, 48, i)
        write_jpeg(src / "target" / f"{stem}.jpg", 96, 72, i + 1)


def test_import_per_capture_layout(tmp_path):
    make_capture(tmp_path / "src" / "cap1", cfa="GRBG")
    make_capture(tmp_path / "src" / "cap2", seed=2)
    report = import_sources(tmp_path / "src", tmp_path / "ds")
    assert report.ok and sorted(report.added) == ["cap1", "cap2"]
    with Manifest.open(tmp_path / "ds") as m:
        t = m.triplet("cap1")
        assert (t.raw.width, t.raw.height, t.raw.cfa_pattern) == (64, 48, "GRBG")
        assert (t.target_width, t.target_height) == (96, 72)
        assert t.raw.make == "TestMake" and t.raw.model == "TestPhone"
        assert t.files.raw == "captures/cap1/raw.dng"  # relative to the dataset root
        assert m.resolve(t.files.phone).is_file()


def test_import_by_role_layout_any_case_extension(tmp_path):
    by_role(tmp_path / "src", ["a", "b"])
    report = import_sources(tmp_path / "src", tmp_path / "ds")
    assert report.ok and report.added == ["a", "b"]


def test_reimport_keeps_decisions_and_adds_new(tmp_path):
    make_capture(tmp_path / "src" / "cap1")
    import_sources(tmp_path / "src", tmp_path / "ds")
    with Manifest.open(tmp_path / "ds") as m:
        tid = m.triplet("cap1").id
        m.store_alignment(tid, AlignmentResult(((1, 0, 0), (0, 1, 0), (0, 0, 1)),
                                               (PatchMeasurement(0, 0, 32, 0, 0, 0.9, 0.3, 0.5),), None, 1.2))
        pid = m.patches(tid)[0].id
        m.decide(pid, Status.REJECTED, "ghosting")
    make_capture(tmp_path / "src" / "cap2", seed=3)
    report = import_sources(tmp_path / "src", tmp_path / "ds")
    assert report.added == ["cap2"] and report.already_present == ["cap1"]
    with Manifest.open(tmp_path / "ds") as m:
        assert m.patch(pid).status == Status.REJECTED and m.patch(pid).reason == "ghosting"


def test_bad_captures_are_reported_and_the_rest_imported(tmp_path, capsys):
    src = tmp_path / "src"
    make_capture(src / "good")
    make_capture(src / "missing_target")
    (src / "missing_target" / "target.jpg").unlink()
    make_capture(src / "zero_raw")
    (src / "zero_raw" / "raw.dng").write_bytes(b"")
    make_capture(src / "corrupt_raw")
    (src / "corrupt_raw" / "raw.dng").write_bytes(b"II*\x00garbage" * 50)
    make_capture(src / "truncated_phone")
    data = (src / "truncated_phone" / "phone.jpg").read_bytes()
    (src / "truncated_phone" / "phone.jpg").write_bytes(data[: len(data) // 2])
    make_capture(src / "size_mismatch")
    write_jpeg(src / "size_mismatch" / "phone.jpg", 60, 40)
    rc = main(["import", str(src), str(tmp_path / "ds")])
    out = capsys.readouterr().out
    assert rc == 1
    assert "imported 1 new capture(s)" in out
    for name, why in [("missing_target", "missing target JPEG"), ("zero_raw", "empty"),
                      ("corrupt_raw", "raw.dng"), ("truncated_phone", "truncated"),
                      ("size_mismatch", "60x40 but the raw is 64x48")]:
        line = next(line for line in out.splitlines() if f"skipped {name}:" in line)
        assert why in line, line


def test_non_bayer_raw_is_reported(tmp_path, real_data):
    src = tmp_path / "src" / "jpeg_as_raw"
    make_capture(src)
    shutil.copy(real_data / "exif_orientation_1.jpg", src / "raw.dng")
    report = import_sources(tmp_path / "src", tmp_path / "ds")
    assert not report.ok and "raw.dng" in report.skipped[0][1]


def test_missing_source_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["import", str(tmp_path / "nope"), str(tmp_path / "ds")]) == 2
    assert "does not exist" in capsys.readouterr().err


def _dataset_with_patches(tmp_path):
    make_capture(tmp_path / "src" / "cap1")
    import_sources(tmp_path / "src", tmp_path / "ds")
    with Manifest.open(tmp_path / "ds") as m:
        tid = m.triplet("cap1").id
        m.store_alignment(tid, AlignmentResult(((1.5, 0, 2), (0, 1.5, 3), (0, 0, 1)), (
            PatchMeasurement(0, 0, 32, 0.25, -0.5, 0.93, 0.31, 0.6),
            PatchMeasurement(32, 0, 32, 0, 0, 0.9, 1.9, 2.5)), None, 1.2))
    return tmp_path / "ds"


def test_export_jsonl_fields(tmp_path, capsys):
    ds = _dataset_with_patches(tmp_path)
    assert main(["export", str(ds), "--format", "jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2
    for key in ("triplet", "x", "y", "size", "dx", "dy", "ncc", "misalignment_px", "status", "decided_by", "reason"):
        assert key in rows[0]
    assert rows[0]["dx"] == 0.25 and rows[0]["status"] == "accepted" and rows[1]["status"] == "rejected"
    assert main(["export", str(ds), "--status", "rejected"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_export_csv_and_triplets(tmp_path, capsys):
    ds = _dataset_with_patches(tmp_path)
    out = tmp_path / "p.csv"
    assert main(["export", str(ds), "--format", "csv", "--out", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows[1]["misalignment_px"] == "1.9"
    assert main(["export", str(ds), "--format", "jsonl", "--triplets"]) == 0
    trip = json.loads(capsys.readouterr().out.splitlines()[0])
    assert trip["triplet"] == "cap1" and trip["phone_model"] == "TestMake TestPhone"
    assert trip["homography"] == [[1.5, 0, 2], [0, 1.5, 3], [0, 0, 1]]
    assert (trip["width"], trip["height"]) == (64, 48)
