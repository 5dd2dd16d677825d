"""The gallery's Qt-free pieces: the chosen queue as remembered values (round trip, bad values fall
back), the dataset's filter choices, the tile options' events and panels, and the heatmap under a
patch coloured as the main view colours it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from review_helpers import three_triplets

from ispviewer.dataset.review.filters import TripletSelection
from ispviewer.dataset.review.queues import QueueKind, QueueSpec
from ispviewer.gui.gallery_options import TileOptions, heatmap_patch_rgba, uniform_heatmap_rgba
from ispviewer.gui.heatmap_style import heatmap_rgba
from ispviewer.gui.queue_choice import filter_choices, spec_from_dict, spec_to_dict, without_unavailable


def test_a_spec_survives_its_remembered_form():
    spec = QueueSpec(QueueKind.AUDIT, band_px=0.15, seed=42, audit_rejected=True, include_decided=True, limit=200,
                     selection=TripletSelection(phone="iPhone 6s", name_pattern="2026-*",
                                                columns=(("split", "train"),), shard=(2, 3)))
    import json

    assert spec_from_dict(json.loads(json.dumps(spec_to_dict(spec)))) == spec
    assert spec_from_dict(spec_to_dict(QueueSpec())) == QueueSpec()


def test_bad_remembered_values_fall_back_part_by_part():
    assert spec_from_dict(None) == QueueSpec()
    assert spec_from_dict("worst") == QueueSpec()
    spec = spec_from_dict({"kind": "best", "band_px": -1, "seed": "x", "shard": [4, 2], "limit": -3,
                           "columns": [["colour", "red"], ["split", "val"], "junk"], "phone": "  ",
                           "name_pattern": "t*"})
    assert spec == QueueSpec(selection=TripletSelection(name_pattern="t*", columns=(("split", "val"),)))


def test_filter_choices_list_the_phones_and_drop_filters_the_dataset_lacks(tmp_path):
    with three_triplets(tmp_path / "ds") as m:
        choices = filter_choices(m)
        assert choices.phones == ("Apple iPhone 6s", "Xiaomi Mi 11")
        columns = m.triplet_columns()
        if "split" in columns:
            assert choices.columns["split"] == ()
            m.assign_splits({"a": "train", "b": "test"})
            assert filter_choices(m).columns["split"] == ("test", "train")
        spec = QueueSpec(selection=TripletSelection(columns=(("split", "train"), ("illumination", "day"))))
        kept = without_unavailable(spec, m).selection.columns
        assert kept == tuple(c for c in spec.selection.columns if c[0] in columns)


def test_tile_options_are_evented_and_name_the_panels():
    options = TileOptions()
    seen = []
    options.events.difference.connect(lambda v: seen.append(("difference", v)))
    assert options.panels() == ("phone", "target")
    options.difference = True
    options.output = True
    options.difference = True  # no change: no event
    assert seen == [("difference", True)]
    assert options.panels() == ("phone", "target", "output", "difference")


def test_the_patch_heatmap_is_the_main_views_colours_at_the_phone_pixels():
    values = np.fromfunction(lambda r, c: (r + c) / 10.0, (30, 40)).astype(np.float32)
    values[0:3, 0:3] = np.nan
    scale = 4.0  # phone px per heatmap cell
    cells = heatmap_rgba(values, 2.4, 0.5, 1.2)
    patch = heatmap_patch_rgba(values, scale, 40, 20, 32, 2.4, 0.5, 1.2)
    assert patch.shape == (32, 32, 4) and patch.dtype == np.uint8
    # a phone pixel at a cell centre shows that cell's colour: centre of cell (r, c) is phone (4c + 1.5, 4r + 1.5)
    for r, c in ((6, 11), (10, 15), (12, 17)):
        px, py = 4 * c + 1.5 - 40, 4 * r + 1.5 - 20
        between = (patch[int(py), int(px)].astype(int) + patch[int(py) + 1, int(px) + 1].astype(int)) / 2
        assert np.abs(between - cells[r, c]).max() <= 12
    assert heatmap_patch_rgba(values, scale, 0, 0, 8, 2.4, 0.5, 1.2)[0, 0, 3] == 0  # unknown: transparent
    flat = uniform_heatmap_rgba(2.0, 16, 2.4, 0.5, 1.2)
    assert (flat == heatmap_rgba(np.array([[2.0]], np.float32), 2.4, 0.5, 1.2)[0, 0]).all()
    assert (uniform_heatmap_rgba(None, 4, 2.4, 0.5, 1.2)[..., 3] == 0).all()


def test_the_qt_free_modules_import_no_qt():
    code = ("import sys, ispviewer.gui.gallery_options, ispviewer.gui.queue_choice; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'qtpy', 'superqt', 'pyqtgraph')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
