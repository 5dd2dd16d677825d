"""Qt-free alignment of a triplet's Nikon target to its phone frame, and per-patch misalignment.

``align_triplet(phone_rgb, target_rgb, AlignParams())`` -> :class:`TripletAlignment` (homography,
patch measurements, heatmap); bad input raises :class:`AlignmentError`.  The stages live in their
own modules: ``homography`` (SIFT + RANSAC + refinement), ``warp`` (the aligned target),
``patches`` (grid + NCC), ``photometric`` and ``flow`` (what the flow sees and who computes it),
``misalignment`` (per-patch statistics, heatmap), ``pipeline``.  The heatmap's file format is one of
the dataset's files (:mod:`ispviewer.dataset.heatmap_file`).

Names are imported lazily (``lazy_loader``) so that importing this package (e.g. for CLI
registration) is cheap.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "pipeline": ["AlignParams", "TripletAlignment", "align_triplet", "auto_status", "luminance"],
    "errors": ["AlignmentError"],
    "flow": ["FlowEstimator", "DISFlowEstimator", "make_flow_estimator", "register_flow_estimator",
             "flow_estimator_names"],
    "warp": ["warp_target_to_phone"],
    "patches": ["patch_grid"],
})
