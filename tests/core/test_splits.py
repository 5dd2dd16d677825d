"""Stored train/val/test splits: whole triplets, stable across re-runs and imports, --reassign,
stratification, bad fractions; train/evaluate use them; the PyTorch Dataset reads a split."""

import subprocess
import sys

import pytest

from ispviewer.dataset.manifest import Manifest
from ispviewer.dataset.records import CaptureFiles, CaptureInfo, RawInfo, TripletRecord
from ispviewer.dataset.splits import check_fractions, plan_splits
from product_helpers import build_aligned_demo, cli, copy_dataset


def _triplet(i, phone="A", light="day", split=None):
    return TripletRecord(id=i, name=f"t{i:03d}", files=CaptureFiles("r", "p", "t"),
                         raw=RawInfo(10, 10, phone, "", "RGGB", 0, 1), target_width=1, target_height=1,
                         metadata=CaptureInfo(illumination=light), split=split)


def test_fractions_reached_and_every_split_gets_one():
    fr = check_fractions(0.1, 0.2)
    plan = plan_splits([_triplet(i) for i in range(100)], fr, seed=1)
    counts = {s: sum(1 for v in plan.values() if v == s) for s in ("train", "val", "test")}
    assert counts == {"train": 70, "val": 10, "test": 20}
    small = plan_splits([_triplet(i) for i in range(3)], check_fractions(0.05, 0.05))
    assert sorted(small.values()) == ["test", "train", "val"]
    assert set(plan_splits([_triplet(0)], fr).values()) == {"train"}  # not enough for all three


def test_same_seed_same_split_other_seed_other_split():
    ts = [_triplet(i) for i in range(40)]
    fr = check_fractions(0.2, 0.2)
    assert plan_splits(ts, fr, seed=5) == plan_splits(list(reversed(ts)), fr, seed=5)
    assert plan_splits(ts, fr, seed=5) != plan_splits(ts, fr, seed=6)


def test_stored_assignments_are_kept_and_new_triplets_fill_the_gaps():
    fr = check_fractions(0.25, 0.25)
    first = plan_splits([_triplet(i) for i in range(8)], fr)
    old = [_triplet(i, split=first[f"t{i:03d}"]) for i in range(8)]
    later = plan_splits(old + [_triplet(i) for i in range(8, 16)], fr)
    assert set(later) == {f"t{i:03d}" for i in range(8, 16)}  # nobody already assigned moves
    final = dict(first, **later)
    assert sorted(final.values()).count("train") == 8
    redo = plan_splits(old, fr, seed=9, reassign=True)
    assert set(redo) == set(first)


def test_stratified_split_balances_each_phone_and_illumination():
    ts = [_triplet(i, phone="AB"[i % 2], light=("day", "night")[(i // 2) % 2]) for i in range(80)]
    plan = plan_splits(ts, check_fractions(0.25, 0.25), strata=("phone", "illumination"))
    for phone in "AB":
        for light in ("day", "night"):
            names = [t.name for t in ts if t.raw.make == phone and t.metadata.illumination == light]
            assert sorted(plan[n] for n in names).count("test") == 5
    with pytest.raises(ValueError, match="stratify"):
        plan_splits(ts, check_fractions(0.1, 0.1), strata=("weather",))


@pytest.mark.parametrize("val,test,words", [(-0.1, 0.1, "--val"), (0.1, 1.0, "--test"), (0.6, 0.5, "nothing to train")])
def test_bad_fractions_refused(val, test, words, tmp_path):
    with pytest.raises(ValueError, match=words):
        check_fractions(val, test)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return build_aligned_demo(tmp_path_factory.mktemp("splits"))


def test_split_command_stable_across_reruns_and_imports(demo, tmp_path):
    from ispviewer.dataset.demo.build import build_demo_sources
    from ispviewer.dataset.importer import import_sources

    ds = copy_dataset(demo, tmp_path / "ds")
    code, out, _ = cli("split", ds, "--val", "0.25", "--test", "0.25", "--seed", "3")
    assert code == 0 and "assigned 4" in out

    def splits():
        with Manifest.open(ds, readonly=True) as m:
            return {t.name: t.split for t in m.triplets()}
    first = splits()
    assert set(first.values()) == {"train", "val", "test"}
    code, out, _ = cli("split", ds, "--val", "0.25", "--test", "0.25", "--seed", "3")
    assert code == 0 and "assigned 0" in out and splits() == first
    more = tmp_path / "more"
    build_demo_sources(more, count=6, size=(128, 96), seed=3)  # demo_004, demo_005 are new
    for role in ("raw", "phone", "target", "groundtruth"):
        for f in (more / role).glob("demo_00[0-3].*"):
            f.unlink()
    assert import_sources(more, ds).ok
    assert {k: v for k, v in splits().items() if k in first} == first
    code, out, _ = cli("split", ds, "--val", "0.25", "--test", "0.25", "--seed", "3")
    after = splits()
    assert code == 0 and "assigned 2" in out and all(after.values())
    assert {k: v for k, v in after.items() if k in first} == first
    code, out, _ = cli("split", ds, "--val", "0.25", "--test", "0.25", "--seed", "4", "--reassign")
    assert code == 0 and "assigned 6" in out


def test_split_command_bad_fraction_changes_nothing(demo, tmp_path):
    ds = copy_dataset(demo, tmp_path / "ds")
    code, _, err = cli("split", ds, "--val", "1.5", "--test", "0.1")
    assert code == 2 and "--val 1.5" in err
    with Manifest.open(ds, readonly=True) as m:
        assert not m.has_splits()


def test_torch_dataset_reads_a_split_without_qt(demo, tmp_path):
    ds = copy_dataset(demo, tmp_path / "ds")
    cli("split", ds, "--val", "0.25", "--test", "0.25")
    code = (
        "import sys\n"
        "from torch.utils.data import DataLoader\n"
        "from ispviewer.model.manifest_dataset import ManifestPatchDataset\n"
        f"ds = ManifestPatchDataset({str(ds)!r}, split='test')\n"
        "raw, target, meta = next(iter(DataLoader(ds, batch_size=3)))\n"
        "assert raw.shape[1:] == (4, 64, 64) and target.shape[1:] == (3, 128, 128), (raw.shape, target.shape)\n"
        "assert 0 <= float(raw.min()) and float(raw.max()) <= 1 and float(target.max()) <= 1\n"
        "assert set(meta['split']) == {'test'} and len(ds) > 0\n"
        "assert not [m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph'))]\n"
        "print(len(ds))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    with Manifest.open(ds, readonly=True) as m:
        test_names = set(m.split_names("test"))
        n = sum(1 for p in m.patches(status="accepted") if p.triplet in test_names)
    assert int(run.stdout.strip()) == n


def test_train_uses_stored_split_and_evaluate_the_test_split(demo, tmp_path):
    ds = copy_dataset(demo, tmp_path / "ds")
    cli("split", ds, "--val", "0.25", "--test", "0.25", "--seed", "2")
    with Manifest.open(ds, readonly=True) as m:
        names = {s: m.split_names(s) for s in ("train", "val", "test")}
    from ispviewer.model.checkpoint import load_checkpoint
    from ispviewer.model.trainer import TrainConfig, evaluate, train

    lines = []
    train(ds, tmp_path / "w.pt", TrainConfig(model="plain", epochs=1, batch=2, patch=32, steps_per_epoch=1),
          log=lines.append)
    _, meta = load_checkpoint(tmp_path / "w.pt")
    assert meta["training"]["train_triplets"] == names["train"]
    assert meta["training"]["val_triplets"] == names["val"]
    assert not set(names["test"]) & set(meta["training"]["train_triplets"] + meta["training"]["val_triplets"])
    logged = []
    evaluate(ds, [tmp_path / "w.pt"], log=logged.append)
    assert any("stored test split" in line for line in logged)
