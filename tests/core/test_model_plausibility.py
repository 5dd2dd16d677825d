"""The real-raw plausibility measures: they see the faults they are meant to see, and the shipped
weights render the real DNG like a photograph (structure and colour agree with LibRaw's render)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ispviewer.model.plausibility import compare_renders, libraw_render, plausibility

DNG = "blackmagic_pocket4k.dng"
REGION = (1800, 1400, 1024, 512)  # cars, trees and grass: edges of every orientation


REAL_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"


@pytest.fixture(scope="module")
def reference():
    if not REAL_DATA.is_dir():
        pytest.skip("real data folder is absent")
    x, y, w, h = REGION
    return libraw_render(REAL_DATA / DNG)[y:y + h, x:x + w]


def test_identical_renders_agree_fully(reference):
    structure, rank, cast = compare_renders(reference, reference)
    assert structure == pytest.approx(1.0) and rank == pytest.approx(1.0) and cast < 1e-3


def test_a_tone_curve_does_not_count_as_a_difference(reference):
    structure, rank, cast = compare_renders(reference ** 0.6, reference)
    assert structure > 0.9 and rank > 0.999 and cast < 5.0


def test_exchanged_red_and_blue_is_a_colour_cast(reference):
    _, _, cast = compare_renders(np.ascontiguousarray(reference[..., ::-1]), reference)
    assert cast > 8.0


def test_a_shifted_image_loses_structure(reference):
    structure, _, _ = compare_renders(np.roll(reference, 3, axis=1), reference)
    assert structure < 0.6


def test_shipped_weights_render_the_real_dng_plausibly(real_data):
    from ispviewer.model.checkpoint import load_checkpoint
    from ispviewer.model.weight_files import shipped_weights

    if not shipped_weights().exists():
        pytest.skip("no shipped weights in this checkout")
    model, _ = load_checkpoint(shipped_weights())
    result = plausibility(model, real_data / DNG, REGION)
    assert result.structure > 0.9, result.line()
    assert result.tone_rank > 0.95, result.line()
    assert result.colour_deg < 5.0, result.line()
