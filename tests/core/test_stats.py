import cv2
import pytest

from ispviewer.align.stats import collect, format_report
from ispviewer.cli import main
from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.records import AlignmentResult, CaptureFiles, PatchMeasurement, RawInfo

IDENTITY = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "ds"
    with Manifest.open(root, create=True) as m:
        for name, model, values in [("a", "iPhone 6s", [0.2, 0.5, 1.5, None]), ("b", "Mi 9", [0.4, 2.0])]:
            tid, _ = m.add_triplet(name, CaptureFiles(f"c/{name}/r.dng", f"c/{name}/p.jpg", f"c/{name}/t.jpg"),
                                   RawInfo(64, 48, "X", model, "RGGB", 0, 1023), (96, 72))
            m.store_alignment(tid, AlignmentResult(IDENTITY, tuple(
                PatchMeasurement(16 * i, 0, 16, 0, 0, 0.9, v, v, v is not None) for i, v in enumerate(values)),
                None, 1.2))
        tid, _ = m.add_triplet("c", CaptureFiles("c/c/r.dng", "c/c/p.jpg", "c/c/t.jpg"),
                               RawInfo(64, 48, "X", "Mi 9", "RGGB", 0, 1023), (96, 72))
        m.store_alignment_failure(tid, "no SIFT matches")
    return root


def test_collect_counts_and_shares(dataset):
    with Manifest.open(dataset) as m:
        stats = collect(m)
    assert sorted(stats.values.tolist()) == [0.2, 0.4, 0.5, 1.5, 2.0]
    assert stats.by_status == {"accepted": 3, "rejected": 2, "flagged": 1}
    assert stats.unmeasurable == 1
    assert stats.share_under == pytest.approx(3 / 5)
    assert set(stats.by_phone) == {"X iPhone 6s", "X Mi 9"}
    report = format_report(stats)
    assert "mean misalignment 0.920 px" in report and "60.0%" in report and "no SIFT matches" in report


def test_stats_command_writes_png(dataset, tmp_path, capsys):
    png = tmp_path / "fig4.png"
    assert main(["stats", str(dataset), "--png", str(png)]) == 0
    assert "patches by status" in capsys.readouterr().out
    img = cv2.imread(str(png))
    assert img is not None and img.shape == (540, 900, 3)
