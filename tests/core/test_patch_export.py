"""export-patches: ZRR folders read back exactly as PyNET-PyTorch's load_data.py reads them, raw
patches on the sensor's own Bayer phase and lined up with their target patches (RGGB and BGGR
phones), webdataset shards read by the webdataset library, reuse, kills, bad input."""

import json
from pathlib import Path

import cv2
import imageio.v2 as imageio
import numpy as np
import pytest

from ispviewer.dataset.manifest import Manifest
from product_helpers import build_aligned_demo, cli, copy_dataset


def extract_bayer_channels(raw):
    """As PyNET-PyTorch's load_data.py does it."""
    ch_B = raw[1::2, 1::2]
    ch_Gb = raw[0::2, 1::2]
    ch_R = raw[0::2, 0::2]
    ch_Gr = raw[1::2, 0::2]
    return np.dstack((ch_B, ch_Gb, ch_R, ch_Gr)).astype(np.float32) / (4 * 255)


def load_zrr_pair(folder: Path, i: int):
    raw = np.asarray(imageio.imread(folder / "huawei_raw" / f"{i}.png"))
    target = np.asarray(imageio.imread(folder / "canon" / f"{i}.jpg"))
    return raw, extract_bayer_channels(raw), target


def shift_px(packed: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Phone-pixel shift of the target patch against the raw patch (phase correlation of the raw's
    green, gamma-encoded, and the target's green area-averaged onto the packed grid)."""
    green = ((packed[..., 1] + packed[..., 3]) / 2) ** (1 / 2.2)
    tg = cv2.resize(target[..., 1].astype(np.float32) / 255, green.shape[::-1], interpolation=cv2.INTER_AREA)
    a, b = ((x - x.mean()) / (x.std() + 1e-6) for x in (green, tg))
    win = cv2.createHanningWindow(a.shape[::-1], cv2.CV_32F)
    (sx, sy), _ = cv2.phaseCorrelate(a.astype(np.float32), b.astype(np.float32), win)
    return 2 * np.array([sx, sy])


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return build_aligned_demo(tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="module")
def zrr(demo, tmp_path_factory):
    out = tmp_path_factory.mktemp("zrr")
    code, text, err = cli("export-patches", demo, "--layout", "zrr", "--out", out, "--workers", "1")
    assert code == 0, err
    return out / "all"


def test_zrr_layout_contiguous_indices_and_index(demo, zrr):
    rows = [json.loads(line) for line in (zrr / "index.jsonl").read_text().splitlines()]
    with Manifest.open(demo, readonly=True) as m:
        accepted = m.patches(status="accepted")
    assert len(rows) == len(accepted) > 20
    assert [r["index"] for r in rows] == list(range(len(rows)))
    assert sorted(p.name for p in (zrr / "huawei_raw").iterdir()) == sorted(f"{i}.png" for i in range(len(rows)))
    assert sorted(p.name for p in (zrr / "canon").iterdir()) == sorted(f"{i}.jpg" for i in range(len(rows)))
    for key in ("triplet", "x", "y", "misalignment_px", "annotator", "raw_x", "raw_y"):
        assert key in rows[0]
    raw, packed, target = load_zrr_pair(zrr, 0)
    assert raw.dtype == np.uint16 and raw.ndim == 2 and raw.shape == (128, 128)
    assert target.shape == (128, 128, 3) and target.dtype == np.uint8
    assert packed.shape == (64, 64, 4) and packed.min() >= 0 and packed.max() <= 1.0
    assert raw.max() <= 1020


#: EXIF orientation -> how the stored array is shown (the EXIF standard, written out independently)
_SHOWN = {1: lambda a: a, 3: lambda a: a[::-1, ::-1], 6: lambda a: np.rot90(a, -1), 8: lambda a: np.rot90(a, 1)}


def _phone_frame_mosaic(raw, t):
    """The sensor mosaic and its colour indices in the triplet's phone frame: crop, then turn."""
    mosaic, colours = raw.raw_image_visible.astype(np.float64), raw.raw_colors_visible
    if t.raw.crop is not None:
        x, y, w, h = t.raw.crop
        mosaic, colours = mosaic[y:y + h, x:x + w], colours[y:y + h, x:x + w]
    return _SHOWN[t.raw.orientation](mosaic), _SHOWN[t.raw.orientation](colours)


@pytest.mark.parametrize("kind", ["RGGB", "BGGR", "turned", "cropped"])
def test_raw_patch_is_the_sensor_mosaic_in_rggb_order(demo, zrr, kind):
    import rawpy

    rows = [json.loads(line) for line in (zrr / "index.jsonl").read_text().splitlines()]
    with Manifest.open(demo, readonly=True) as m:
        triplets = {t.name: t for t in m.triplets()}
        pick = {"RGGB": lambda t: t.raw.cfa_pattern == "RGGB", "BGGR": lambda t: t.raw.cfa_pattern == "BGGR",
                "turned": lambda t: t.raw.orientation != 1, "cropped": lambda t: t.raw.crop is not None}[kind]
        mine = [r for r in rows if pick(triplets[r["triplet"]])]
        assert mine, kind
        for r in mine[:6]:
            t = triplets[r["triplet"]]
            with rawpy.imread(str(m.resolve(t.files.raw))) as raw:
                mosaic, colours = _phone_frame_mosaic(raw, t)
                desc = raw.color_desc.decode()
                black, white = float(np.mean(raw.black_level_per_channel)), float(raw.white_level)
            assert mosaic.shape == (t.raw.height, t.raw.width)
            gx, gy = r["raw_x"], r["raw_y"]
            assert abs(gx - r["x"]) <= 1 and abs(gy - r["y"]) <= 1
            tile = "".join(desc[c] for c in colours[gy:gy + 2, gx:gx + 2].ravel())
            assert tile == "RGGB", tile  # the crop starts on a red sample
            crop = mosaic[gy:gy + 128, gx:gx + 128]
            expected = np.rint(np.clip((crop - black) / (white - black), 0, 1) * 1020)
            got = np.asarray(imageio.imread(zrr / "huawei_raw" / f"{r['index']}.png")).astype(np.float64)
            assert np.abs(got - expected).max() <= 1  # float32 rounding of the packed planes at most


@pytest.mark.parametrize("kind", ["RGGB", "BGGR", "turned"])
def test_raw_and_target_patches_line_up_sub_pixel(demo, zrr, kind):
    rows = [json.loads(line) for line in (zrr / "index.jsonl").read_text().splitlines()]
    with Manifest.open(demo, readonly=True) as m:
        turned = {t.name for t in m.triplets() if t.raw.orientation != 1}
    shifts, well = [], []
    for r in rows:
        wanted = r["triplet"] in turned if kind == "turned" else r["cfa_pattern"] == kind
        if not wanted:
            continue
        _, packed, target = load_zrr_pair(zrr, r["index"])
        s = np.hypot(*shift_px(packed, target))
        shifts.append(s)
        if r["misalignment_px"] < 0.3:
            well.append(s)
    assert len(shifts) >= 10 and well
    assert np.median(shifts) < 0.4, np.round(shifts, 2)
    assert max(well) < 0.5, np.round(well, 2)  # patches the flow measured as well aligned are, sub-pixel


def test_alignment_check_catches_a_one_pixel_bayer_phase_error(zrr):
    rows = [json.loads(line) for line in (zrr / "index.jsonl").read_text().splitlines()]
    r = next(r for r in rows if r["misalignment_px"] < 0.3)
    raw, _, target = load_zrr_pair(zrr, r["index"])
    wrong = extract_bayer_channels(np.pad(raw, 2, mode="reflect")[1:129, 1:129])  # a 1 px phase slip
    assert np.hypot(*shift_px(wrong, target)) > 0.7


def test_reused_export_writes_nothing_and_a_changed_decision_redoes_the_split(demo, tmp_path):
    ds = copy_dataset(demo, tmp_path / "ds")
    out = tmp_path / "zrr"
    assert cli("export-patches", ds, "--layout", "zrr", "--out", out)[0] == 0
    code, text, _ = cli("export-patches", ds, "--layout", "zrr", "--out", out)
    n = len((out / "all" / "index.jsonl").read_text().splitlines())
    assert code == 0 and f"{n} patch(es), 0 written, {n} reused" in text
    with Manifest.open(ds) as m:
        first = m.patches(status="accepted")[0]
        m.decide(first.id, "rejected", "blurred")
    code, text, _ = cli("export-patches", ds, "--layout", "zrr", "--out", out)
    rows = (out / "all" / "index.jsonl").read_text().splitlines()
    assert code == 0 and len(rows) == n - 1 and not (out / "all" / "huawei_raw" / f"{n - 1}.png").exists()
    assert " reused" in text and "0 written" not in text


def test_killed_export_leaves_nothing_that_looks_complete(demo, tmp_path, monkeypatch):
    from ispviewer.workflows import patch_cutting

    ds = copy_dataset(demo, tmp_path / "ds")
    out = tmp_path / "zrr"
    real = patch_cutting.write_file
    calls = {"n": 0}

    def dying(path, data):
        calls["n"] += 1
        if calls["n"] == 9:  # killed in the middle of writing a file
            tmp = path.with_name(f".{path.name}.123.tmp")
            tmp.write_bytes(data[: len(data) // 2])
            raise KeyboardInterrupt
        real(path, data)
    monkeypatch.setattr(patch_cutting, "write_file", dying)
    code, _, _ = cli("export-patches", ds, "--layout", "zrr", "--out", out, "--workers", "1")
    assert code == 130
    assert not (out / "all" / "index.jsonl").exists()
    for f in (out / "all" / "huawei_raw").glob("*.png"):
        assert np.asarray(imageio.imread(f)).shape == (128, 128)  # every file that exists is whole
    monkeypatch.setattr(patch_cutting, "write_file", real)
    code, text, _ = cli("export-patches", ds, "--layout", "zrr", "--out", out, "--workers", "1")
    assert code == 0 and "4 reused" in text and (out / "all" / "index.jsonl").exists()
    assert not list((out / "all").rglob("*.tmp"))


def test_full_disk_is_a_clear_error_and_a_rerun_finishes(demo, tmp_path, monkeypatch):
    import builtins
    import errno

    ds = copy_dataset(demo, tmp_path / "ds")
    out = tmp_path / "zrr"
    real_open = builtins.open
    budget = {"n": 12}

    def full_open(file, mode="r", *a, **k):
        if "w" in mode and str(file).endswith(".tmp") and str(out) in str(file):
            budget["n"] -= 1
            if budget["n"] < 0:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(file, mode, *a, **k)
    monkeypatch.setattr(builtins, "open", full_open)
    code, _, err = cli("export-patches", ds, "--layout", "zrr", "--out", out, "--workers", "1")
    assert code == 2 and "disk is full" in err and str(out) in err
    assert not (out / "all" / "index.jsonl").exists() and not list(out.rglob("*.tmp"))
    monkeypatch.setattr(builtins, "open", real_open)
    code, text, _ = cli("export-patches", ds, "--layout", "zrr", "--out", out, "--workers", "1")
    assert code == 0 and (out / "all" / "index.jsonl").exists()


def test_vanished_target_names_the_file_and_leaves_the_split_unfinished(demo, tmp_path):
    ds = copy_dataset(demo, tmp_path / "ds")
    cli("split", ds, "--val", "0.25", "--test", "0.25")
    with Manifest.open(ds, readonly=True) as m:
        victim = m.triplet(m.split_names("test")[0])
        target = m.resolve(victim.files.target)
    target.unlink()
    out = tmp_path / "zrr"
    code, text, err = cli("export-patches", ds, "--layout", "zrr", "--out", out, "--workers", "2")
    assert code == 1 and str(target) in err and "does not exist" in err
    assert not (out / "test" / "index.jsonl").exists() and "INCOMPLETE" in text
    assert (out / "train" / "index.jsonl").exists() and (out / "val" / "index.jsonl").exists()


@pytest.mark.parametrize("args,words", [
    (("--layout", "tiles"), "unknown layout"),
    (("--layout", "zrr", "--split", "holdout"), "unknown split"),
    (("--layout", "zrr", "--workers", "0"), "--workers"),
    (("--layout", "zrr", "--split", "train"), "ispviewer split"),  # the dataset has no stored split
])
def test_bad_arguments_are_refused(demo, tmp_path, args, words):
    code, _, err = cli("export-patches", demo, "--out", tmp_path / "o", *args)
    assert code == 2 and words in err
    assert not (tmp_path / "o").exists()


def test_webdataset_shards_read_back_with_the_webdataset_library(demo, zrr, tmp_path):
    import webdataset as wds

    out = tmp_path / "wds"
    code, _, err = cli("export-patches", demo, "--layout", "webdataset", "--out", out, "--shard-size", "16")
    assert code == 0, err
    shards = sorted(str(p) for p in out.glob("all-*.tar"))
    n = len((zrr / "index.jsonl").read_text().splitlines())
    assert len(shards) == -(-n // 16)
    samples = list(wds.WebDataset(shards, shardshuffle=False).decode("rgb8"))
    assert len(samples) == n
    assert [s["json"]["index"] for s in samples] == list(range(n))
    for s in samples[:: max(1, n // 8)]:
        i = s["json"]["index"]
        assert s["__key__"] == f"all_{i:08d}" and s["json"]["triplet"]
        zrr_target = np.asarray(imageio.imread(zrr / "canon" / f"{i}.jpg")).astype(np.float32)
        assert s["target.png"].shape == (128, 128, 3)
        assert np.abs(s["target.png"].astype(np.float32) - zrr_target).mean() < 3.0  # PNG vs JPEG, same patch
    for s in wds.WebDataset(shards[:1], shardshuffle=False):  # undecoded: the 16-bit mosaic, as in ZRR
        i = json.loads(s["json"])["index"]
        raw = np.asarray(imageio.imread(s["raw.png"], format="png"))
        assert raw.dtype == np.uint16 and np.array_equal(raw, imageio.imread(zrr / "huawei_raw" / f"{i}.png"))
    code, text, _ = cli("export-patches", demo, "--layout", "webdataset", "--out", out, "--shard-size", "16")
    assert code == 0 and "0 written" in text


def test_train_reads_shards_each_rank_its_own(demo, tmp_path):
    from ispviewer.model.shard_source import load_shard_pairs, shard_files, shard_index
    from ispviewer.model.trainer import TrainConfig, train

    ds = copy_dataset(demo, tmp_path / "ds")
    cli("split", ds, "--val", "0.25", "--test", "0.25")
    out = tmp_path / "shards"
    assert cli("export-patches", ds, "--layout", "webdataset", "--out", out, "--shard-size", "8")[0] == 0
    files = shard_files(out, "train")
    index = shard_index(out, "train")
    assert len(files) >= 2
    ranks = [load_shard_pairs(out, "train", rank, 2) for rank in (0, 1)]
    counts = [sum(len(p.packed) for p in pairs) for pairs in ranks]
    assert sum(counts) == len(index) and all(counts)  # the two ranks split the samples, none read twice
    first = next(p for p in ranks[0] if p.triplet == index[0]["triplet"])
    assert first.packed.shape[1:] == (64, 64, 4) and first.wb_gains != (1.0, 1.0, 1.0)
    lines = []
    report = train(ds, tmp_path / "w.pt", TrainConfig(model="plain", epochs=1, batch=2, patch=32, steps_per_epoch=2,
                                                      shards=str(out)), log=lines.append)
    assert report.patch_count == len(index) and any("each its own shards" in line for line in lines)
    code, _, err = cli("train", ds, "--out", tmp_path / "x.pt", "--shards", tmp_path / "none", "--epochs", "1")
    assert code == 2 and "no train shards" in err
