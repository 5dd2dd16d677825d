"""The shipped weights: small, safe to load, documented, and better than the phone ISP on demo
triplets they were not trained on."""

from __future__ import annotations

import json

import pytest

from ispviewer.model.checkpoint import load_checkpoint
from ispviewer.model.weight_files import shipped_weights

pytestmark = pytest.mark.skipif(not shipped_weights().exists(), reason="no shipped weights in this checkout")


def test_shipped_weights_are_small_documented_and_load_safely():
    path = shipped_weights()
    assert path.stat().st_size <= 10 * 2**20
    assert (path.parent / "MODEL_CARD.md").is_file()
    model, meta = load_checkpoint(path)  # torch.load(weights_only=True) inside
    assert meta["model"] == "kpn" and model.hparams["white_balance"] == "as_shot"
    provenance = meta["provenance"]
    assert provenance["patch_count"] > 0 and provenance["epochs"] > 0 and provenance["dataset"]
    assert meta["training"]["val_triplets"]
    json.dumps(meta)  # plain values only


def test_shipped_weights_beat_the_phone_isp_on_unseen_demo_triplets(tmp_path):
    from ispviewer.model.trainer import evaluate
    from ispviewer.workflows.demo import build_demo_dataset

    dataset = tmp_path / "demo"
    # A seed and size the weights never saw (they were trained on seed 7 at 2000x1500).
    assert build_demo_dataset(dataset, count=2, size=(800, 600), seed=11, log=lambda *a: None) == 0
    rows = evaluate(dataset, [shipped_weights()], triplets=["demo_000", "demo_001"], log=lambda *a: None)
    model, phone = rows[0], rows[-1]
    assert phone["name"] == "phone ISP JPEG"
    assert model["psnr"] >= phone["psnr"] + 2.0, rows
    assert model["ssim"] > phone["ssim"], rows
