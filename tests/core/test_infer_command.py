import cv2
import torch

from helpers import write_dng
from ispviewer.cli import main
from ispviewer.model import build_model, save_checkpoint


def test_infer_writes_image_of_the_phone_frame_size(tmp_path, capsys):
    torch.manual_seed(0)
    weights = tmp_path / "w.pt"
    save_checkpoint(weights, build_model("kpn"), {"dataset": "test"})
    write_dng(tmp_path / "a.dng", 64, 48, "GRBG")
    assert main(["infer", str(tmp_path / "a.dng"), "--out", str(tmp_path / "a.png"), "--weights", str(weights)]) == 0
    img = cv2.imread(str(tmp_path / "a.png"))
    assert img.shape == (48, 64, 3)


def test_infer_bad_weights_and_bad_raw(tmp_path, capsys):
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    write_dng(tmp_path / "a.dng", 64, 48)
    assert main(["infer", str(tmp_path / "a.dng"), "--out", str(tmp_path / "o.png"),
                 "--weights", str(tmp_path / "bad.pt")]) == 2
    assert "bad.pt" in capsys.readouterr().err
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "w.pt", build_model("kpn"), {})
    (tmp_path / "broken.dng").write_bytes(b"II*\x00" + b"\x00" * 100)
    assert main(["infer", str(tmp_path / "broken.dng"), "--out", str(tmp_path / "o"),
                 "--weights", str(tmp_path / "w.pt")]) == 1
    assert "broken.dng" in capsys.readouterr().err
