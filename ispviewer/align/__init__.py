"""Qt-free alignment of a triplet's Nikon target to its phone frame, and per-patch misalignment.

``align_triplet(phone_rgb, target_rgb, AlignParams())`` -> :class:`TripletAlignment` (homography,
patch measurements, heatmap); bad input raises :class:`AlignmentError`.  The stages live in their
own modules: ``homography`` (SIFT + RANSAC + refinement), ``warp`` (the aligned target),
``patches`` (grid + NCC), ``photometric`` and ``flow`` (what the flow sees and who computes it),
``misalignment`` (per-patch statistics, heatmap), ``heatmap`` (its file), ``pipeline``.

Names are imported lazily so that importing this package (e.g. for CLI registration) is cheap.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "AlignParams": "pipeline", "TripletAlignment": "pipeline", "align_triplet": "pipeline",
    "auto_status": "pipeline", "luminance": "pipeline",
    "AlignmentError": "errors",
    "FlowEstimator": "flow", "DISFlowEstimator": "flow", "make_flow_estimator": "flow",
    "register_flow_estimator": "flow", "flow_estimator_names": "flow",
    "warp_target_to_phone": "warp",
    "save_heatmap": "heatmap", "load_heatmap": "heatmap", "HeatmapError": "heatmap",
    "patch_grid": "patches",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
