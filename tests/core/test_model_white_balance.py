"""The network's input normalization: as-shot white balance read from the raw and applied when
the network was built for it (and only then)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ispviewer.dataset.images import PackedRaw, load_packed_raw
from ispviewer.dataset.records import RawInfo
from ispviewer.model import build_model, render_region
from ispviewer.model.checkpoint import load_checkpoint, save_checkpoint
from ispviewer.model.normalization import apply_gains, input_gains, plane_gains


class _Echo(torch.nn.Module):
    """Outputs its R plane, upsampled: lets a test see what the network was fed."""

    align = 1
    default_context = 0

    def __init__(self, white_balance: str):
        super().__init__()
        self.hparams = {"white_balance": white_balance}
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        r = x[:, :1].repeat_interleave(2, -1).repeat_interleave(2, -2)
        return r.repeat(1, 3, 1, 1) + self.dummy


def _packed(value: float = 0.3) -> PackedRaw:
    info = RawInfo(8, 8, "Test", "Cam", "RGGB", 0.0, 1.0)
    return PackedRaw(np.full((4, 4, 4), value, np.float32), info, (0, 0), wb_gains=(2.0, 1.0, 1.5))


def test_as_shot_white_balance_is_applied_to_the_input():
    out = render_region(_Echo("as_shot"), _packed(0.3))
    assert np.allclose(out, 0.6)


def test_white_balance_none_feeds_the_levels_only():
    out = render_region(_Echo("none"), _packed(0.3))
    assert np.allclose(out, 0.3)


def test_a_plain_array_is_fed_as_it_is():
    out = render_region(_Echo("as_shot"), _packed(0.3).data)
    assert np.allclose(out, 0.3)


def test_gains_clip_at_white():
    assert np.allclose(render_region(_Echo("as_shot"), _packed(0.8)), 1.0)
    g = plane_gains((2.0, 1.0, 1.5))
    assert g.tolist() == [2.0, 1.0, 1.0, 1.5]
    assert apply_gains(np.ones((1, 1, 4), np.float32) * 0.9, g).max() == 1.0


def test_networks_carry_the_mode_through_checkpoints(tmp_path):
    for name in ("kpn", "plain"):
        assert build_model(name).hparams["white_balance"] == "as_shot"
        model = build_model(name, white_balance="none")
        path = save_checkpoint(tmp_path / f"{name}.pt", model)
        loaded, _ = load_checkpoint(path)
        assert loaded.hparams["white_balance"] == "none"
        assert input_gains(loaded, (2.0, 1.0, 1.5)) is None
    with pytest.raises(ValueError, match="white_balance"):
        build_model("kpn", white_balance="auto")


def test_real_files_report_their_as_shot_white_balance(real_data):
    dng = load_packed_raw(real_data / "blackmagic_pocket4k.dng")
    assert dng.wb_gains[1] == 1.0
    assert 1.5 < dng.wb_gains[0] < 3.0 and 1.2 < dng.wb_gains[2] < 2.5
    kdc = load_packed_raw(real_data / "kodak_dc50.kdc")  # no white balance in the file
    assert kdc.wb_gains == (1.0, 1.0, 1.0)
