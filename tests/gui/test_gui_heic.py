"""The viewer reads a HEIC phone image (through the dataset's loaders) as displayed."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))

from capture_helpers import RGGB_PHONE, write_capture

from ispviewer.dataset.demo.capture_frames import CaptureFrame
from ispviewer.dataset.manifest import Manifest
from ispviewer.workflows.capture_import import import_captures


def test_loader_reads_a_turned_heic_phone_image(tmp_path):
    from ispviewer.gui.loader import load_triplet
    from ispviewer.gui.sources import PHONE, make_request

    write_capture(tmp_path / "src", 1, RGGB_PHONE, CaptureFrame(raw_orientation=8, phone_orientation=8,
                                                                 phone_format="heic"))
    assert import_captures(tmp_path / "src", tmp_path / "ds").ok
    with Manifest.open(tmp_path / "ds", readonly=True) as m:
        record = m.triplets()[0]
        request = make_request(record, m.resolve)
    assert request.phone_path.suffix == ".heic"
    loaded = load_triplet(request)
    assert PHONE not in loaded.errors and not [w for w in loaded.warnings if "phone" in w]
    assert (loaded.pyramids[PHONE].width, loaded.pyramids[PHONE].height) == (240, 320) == request.phone_size
