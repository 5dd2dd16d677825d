"""Checkpoints say which cameras they were trained on (from the dataset), and say so honestly
when they do not know."""

from __future__ import annotations

import pytest

from ispviewer.align.batch import align_dataset
from ispviewer.dataset.demo import build_demo_sources
from ispviewer.dataset.importer import import_sources
from ispviewer.dataset.manifest import Manifest
from ispviewer.model.checkpoint import load_checkpoint
from ispviewer.model.commands import default_weights
from ispviewer.model.provenance import Provenance, camera_notice, describe, provenance
from ispviewer.model.trainer import TrainConfig, train


def test_training_records_the_cameras_and_patches_of_its_training_triplets(tmp_path):
    build_demo_sources(tmp_path / "src", count=3, size=(320, 240), seed=5)
    assert import_sources(tmp_path / "src", tmp_path / "ds").ok
    align_dataset(tmp_path / "ds", workers=1, patch_size=64, log=lambda *a: None)
    config = TrainConfig(epochs=1, steps_per_epoch=2, batch=2, patch=16, val_fraction=0.34)
    report = train(tmp_path / "ds", tmp_path / "w.pt", config, log=lambda *a: None)
    _, meta = load_checkpoint(tmp_path / "w.pt")
    prov = provenance(meta)
    with Manifest.open(tmp_path / "ds", readonly=True) as m:
        want: dict[str, int] = {}
        for name in report.train_triplets:
            camera = m.triplet(name).phone_model
            want[camera] = want.get(camera, 0) + sum(1 for p in m.patches(status="accepted") if p.triplet == name)
    # the cameras of exactly the training triplets; the patches the trainer could cut from each
    # (accepted ones whose crop fits the frame)
    assert set(prov.cameras) == set(want) and len(want) == 2
    assert sum(prov.cameras.values()) == prov.patch_count == report.patch_count
    assert all(0 < prov.cameras[c] <= want[c] for c in want)
    text = describe(prov)
    for camera, n in prov.cameras.items():
        assert f"{camera} ({n:,} patches)" in text
    assert camera_notice(prov, next(iter(want))) is None
    notice = camera_notice(prov, "Canon PowerShot SX60 HS")
    assert notice and "Canon PowerShot SX60 HS" in notice and next(iter(want)) in notice


def test_the_shipped_weights_do_not_claim_cameras_they_never_recorded():
    path = default_weights()
    if not path.is_file():
        pytest.skip("no shipped weights in this checkout")
    _, meta = load_checkpoint(path)
    prov = provenance(meta)
    assert prov.cameras is None  # trained before cameras were recorded
    assert "cameras: not recorded in these weights (unknown)" in describe(prov)
    assert f"{prov.patch_count:,} training patches" in describe(prov)
    assert camera_notice(prov, "Canon PowerShot SX60 HS") is None  # unknown: no claim either way


def test_camera_names_compare_loosely():
    prov = Provenance("d", 10, 1, {"Apple iPhone 6s": 10})
    assert prov.knows("apple  iPhone 6S") is True
    assert prov.knows("Xiaomi Mi 9") is False
    assert prov.knows("") is None
