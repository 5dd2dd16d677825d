"""The ISP network of ispviewer (installed as ``ispviewer.model``): Qt-free, pure PyTorch.

Modules:
    kernels     ``apply_pixel_kernels`` (+ sub-pixel form) — per-pixel k×k kernels, shifted slices
    networks    ``KernelPredictionISP`` (poster Eq. 1–2) and the ``PlainISP`` baseline
    registry    ``MODELS``, ``build_model(name, **hparams)``, ``model_name(model)``
    inference   ``render_region`` / ``render_full`` (tiled, exact), ``RenderCancelled``
    checkpoint  ``save_checkpoint`` / ``load_checkpoint``, ``CheckpointError``
    losses      L1 + SSIM loss, PSNR / SSIM metrics (torch and numpy)
    augment     Bayer-phase-preserving crops, flips and transposes (numpy only)

Names are imported lazily so that ``import ispviewer.model.augment`` does not load torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "apply_pixel_kernels": "kernels",
    "apply_subpixel_kernels": "kernels",
    "KernelPredictionISP": "networks",
    "PlainISP": "networks",
    "parameter_count": "networks",
    "MODELS": "registry",
    "build_model": "registry",
    "model_name": "registry",
    "UnknownModelError": "registry",
    "render_region": "inference",
    "render_full": "inference",
    "RenderCancelled": "inference",
    "DEFAULT_TILE": "inference",
    "save_checkpoint": "checkpoint",
    "load_checkpoint": "checkpoint",
    "CheckpointError": "checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
