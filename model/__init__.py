"""The ISP network of ispviewer (installed as ``ispviewer.model``): Qt-free, pure PyTorch.

Modules:
    kernels     ``apply_pixel_kernels`` (+ sub-pixel form) — per-pixel k×k kernels, shifted slices
    networks    ``KernelPredictionISP`` (poster Eq. 1–2) and the ``PlainISP`` baseline
    registry    ``MODELS``, ``build_model(name, **hparams)``, ``model_name(model)``
    inference   ``render_region`` / ``render_full`` (tiled, exact), ``RenderCancelled``, and
                ``ISPNetwork``, the protocol a network meets to be rendered
    checkpoint  ``save_checkpoint`` / ``load_checkpoint``, ``CheckpointError``
    weight_files  ``default_weights`` (``$ISPVIEWER_WEIGHTS`` or the shipped ones), torch-free
    losses      L1 + SSIM loss, PSNR / SSIM metrics (torch and numpy)
    augment     Bayer-phase-preserving crops, flips and transposes (numpy only)

Names are imported lazily (``lazy_loader``) so that ``import ispviewer.model.augment`` does not load torch.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "kernels": ["apply_pixel_kernels", "apply_subpixel_kernels"],
    "networks": ["KernelPredictionISP", "PlainISP", "parameter_count"],
    "registry": ["MODELS", "build_model", "model_name", "UnknownModelError"],
    "inference": ["render_region", "render_full", "RenderCancelled", "DEFAULT_TILE", "ISPNetwork"],
    "checkpoint": ["save_checkpoint", "load_checkpoint", "CheckpointError"],
    "weight_files": ["WEIGHTS_ENV", "shipped_weights", "default_weights"],
})
