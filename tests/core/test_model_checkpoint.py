"""Checkpoints: round trip, metadata, and every kind of bad file as a clear CheckpointError."""

from __future__ import annotations

import pickle

import pytest
import torch

from ispviewer.model import CheckpointError, build_model, load_checkpoint, save_checkpoint
from ispviewer.model.checkpoint import FORMAT

SMALL = {"widths": [8, 16]}


class Payload:
    """Unpickling this calls open(marker, 'w'): the side effect a safe loader must not let happen."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model("kpn", **SMALL)


def _reason(path) -> str:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert info.value.path == str(path) and str(path) in str(info.value)
    return info.value.reason


@pytest.mark.parametrize("name", ["kpn", "plain"])
def test_round_trip_keeps_weights_and_meta(tmp_path, name):
    torch.manual_seed(1)
    model = build_model(name, **SMALL)
    meta = {"provenance": {"dataset": "demo", "patch_count": 1234, "epochs": 3}, "note": "hello"}
    path = save_checkpoint(tmp_path / "isp.pt", model, meta)
    loaded, got = load_checkpoint(path)
    assert type(loaded) is type(model) and not loaded.training
    assert got["model"] == name and got["hparams"] == model.hparams and got["note"] == "hello"
    prov = got["provenance"]
    assert (prov["dataset"], prov["patch_count"], prov["epochs"]) == ("demo", 1234, 3)
    assert {"git_revision", "created"} <= set(prov) and prov["created"]
    assert got["normalization"]["input_layout"] == "RGGB"
    x = torch.rand(1, 4, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    assert not (tmp_path / "isp.pt.partial").exists()


def test_half_weights_are_smaller_and_load_as_float32(tmp_path, model):
    full = save_checkpoint(tmp_path / "f.pt", model)
    half = save_checkpoint(tmp_path / "h.pt", model, half=True)
    assert half.stat().st_size < 0.7 * full.stat().st_size
    loaded, _ = load_checkpoint(half)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = torch.rand(1, 4, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=5e-3)


def test_meta_must_be_plain(tmp_path, model):
    with pytest.raises(ValueError, match="meta.when"):
        save_checkpoint(tmp_path / "x.pt", model, {"when": object()})


def test_missing_empty_and_folder(tmp_path):
    assert "does not exist" in _reason(tmp_path / "nope.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    assert "empty" in _reason(tmp_path / "empty.pt")
    assert "folder" in _reason(tmp_path)


def test_truncated_and_corrupt(tmp_path, model):
    data = save_checkpoint(tmp_path / "ok.pt", model).read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    assert "truncated or corrupt" in _reason(tmp_path / "trunc.pt")
    (tmp_path / "noise.pt").write_bytes(bytes(range(256)) * 8)
    assert "not a PyTorch checkpoint file" in _reason(tmp_path / "noise.pt")
    (tmp_path / "text.pt").write_text("this is not a checkpoint at all")
    assert "not a PyTorch checkpoint file" in _reason(tmp_path / "text.pt")
    (tmp_path / "badpickle.pt").write_bytes(b"\x80\x02" + bytes(range(255, 0, -1)) * 4)
    assert "not a readable checkpoint" in _reason(tmp_path / "badpickle.pt")


def test_foreign_torch_files(tmp_path, model):
    torch.save(model.state_dict(), tmp_path / "bare.pt")
    assert "bare state_dict" in _reason(tmp_path / "bare.pt")
    torch.save([torch.rand(3), torch.rand(2)], tmp_path / "list.pt")
    assert "not an ispviewer checkpoint" in _reason(tmp_path / "list.pt")
    torch.save({"epoch": 3, "weights": torch.rand(2)}, tmp_path / "other.pt")
    assert "not an ispviewer checkpoint" in _reason(tmp_path / "other.pt")


def _payload(net, **changes):
    payload = {"format": FORMAT, "version": 1, "model": "kpn", "hparams": dict(net.hparams),
               "state_dict": net.state_dict(), "meta": {}}
    payload.update(changes)
    return payload


def test_incompatible_files(tmp_path, model):
    torch.save(_payload(model, model="unet9"), tmp_path / "name.pt")
    reason = _reason(tmp_path / "name.pt")
    assert "incompatible" in reason and "unet9" in reason and "kpn" in reason
    torch.save(_payload(model, hparams={"widths": [8, 24]}), tmp_path / "shape.pt")
    reason = _reason(tmp_path / "shape.pt")
    assert "incompatible" in reason and "shape mismatch" in reason
    torch.save(_payload(model, hparams={"depth": 9}), tmp_path / "hp.pt")
    assert "incompatible" in _reason(tmp_path / "hp.pt")
    torch.save(_payload(model, version=99), tmp_path / "new.pt")
    assert "newer" in _reason(tmp_path / "new.pt")
    torch.save(_payload(model, state_dict={"x": 3}), tmp_path / "junk.pt")
    assert "damaged" in _reason(tmp_path / "junk.pt")


@pytest.mark.parametrize("writer", ["torch.save", "pickle2", "pickle4"])
def test_pickled_code_is_refused_without_running(tmp_path, model, writer):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pt"
    payload = _payload(model, meta={"x": Payload(marker)})
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        with open(path, "wb") as fh:
            pickle.dump(payload, fh, protocol=int(writer[-1]))
    reason = _reason(path)
    assert not marker.exists()
    assert "refused" in reason
    assert "pickle" in reason or "code" in reason
