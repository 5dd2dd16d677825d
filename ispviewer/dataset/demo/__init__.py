"""Demo data: photographic triplets with exact ground-truth geometry (Qt-free).

``build_demo_sources(out)`` writes phone raws (real DNGs), phone ISP JPEGs and Nikon-like target
JPEGs in the by-role layout, plus ``groundtruth/<stem>.npz``; ``load_groundtruth`` reads the latter.
Each capture is misaligned by a homography, a smooth parallax-like field and a few dozen local
motions (moved objects, swirls, bulges; :mod:`.local_motion`) that patches' offsets cannot absorb.

The names are imported lazily (``lazy_loader``), so importing this package (e.g. for CLI registration) stays cheap.
"""

from typing import TYPE_CHECKING

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "build": ["build_demo_sources", "phone_image_path", "target_size_for"],
    "cameras": ["PHONE_MODELS", "PhoneModel"],
    "groundtruth": ["GroundTruth", "GroundTruthError", "load_groundtruth"],
    "local_motion": ["LocalMotion"],
})

if TYPE_CHECKING:
    from .build import build_demo_sources as build_demo_sources
    from .build import phone_image_path as phone_image_path
    from .build import target_size_for as target_size_for
    from .cameras import PHONE_MODELS as PHONE_MODELS
    from .cameras import PhoneModel as PhoneModel
    from .groundtruth import GroundTruth as GroundTruth
    from .groundtruth import GroundTruthError as GroundTruthError
    from .groundtruth import load_groundtruth as load_groundtruth
    from .local_motion import LocalMotion as LocalMotion
