"""Demo data: photographic triplets with exact ground-truth geometry (Qt-free).

``build_demo_sources(out)`` writes phone raws (real DNGs), phone ISP JPEGs and Nikon-like target
JPEGs in the by-role layout, plus ``groundtruth/<stem>.npz``; ``load_groundtruth`` reads the latter.
Each capture is misaligned by a homography, a smooth parallax-like field and a few dozen local
motions (moved objects, swirls, bulges; :mod:`.local_motion`) that patches' offsets cannot absorb.

The names are imported lazily, so importing this package (e.g. for CLI registration) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "build_demo_sources": "ispviewer.dataset.demo.build",
    "target_size_for": "ispviewer.dataset.demo.build",
    "phone_image_path": "ispviewer.dataset.demo.build",
    "PHONE_MODELS": "ispviewer.dataset.demo.cameras",
    "PhoneModel": "ispviewer.dataset.demo.cameras",
    "GroundTruth": "ispviewer.dataset.demo.groundtruth",
    "GroundTruthError": "ispviewer.dataset.demo.groundtruth",
    "load_groundtruth": "ispviewer.dataset.demo.groundtruth",
    "LocalMotion": "ispviewer.dataset.demo.local_motion",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from ispviewer.dataset.demo.build import build_demo_sources, phone_image_path, target_size_for
    from ispviewer.dataset.demo.cameras import PHONE_MODELS, PhoneModel
    from ispviewer.dataset.demo.groundtruth import GroundTruth, GroundTruthError, load_groundtruth
    from ispviewer.dataset.demo.local_motion import LocalMotion


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
