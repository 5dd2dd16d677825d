"""How a raw becomes the network's input: black/white levels (done by the loader), then the
camera's as-shot white balance when the network was trained with it.

The white balance is a per-capture input, not something a network with a ~90 px receptive field
can infer reliably, so networks built with ``white_balance="as_shot"`` receive the packed planes
multiplied by the file's as-shot multipliers (``PackedRaw.wb_gains``) and clipped to [0, 1]:
every camera's neutral then reads (1, 1, 1) and only its colour matrix remains to be learned.
The mode is a hyper-parameter of the network, so it travels in every checkpoint.
"""

from __future__ import annotations

import numpy as np

WHITE_BALANCE_MODES = ("none", "as_shot")


def check_white_balance(mode: str) -> str:
    if mode not in WHITE_BALANCE_MODES:
        raise ValueError(f"white_balance must be one of {WHITE_BALANCE_MODES}, got {mode!r}")
    return mode


def plane_gains(wb_gains) -> np.ndarray:
    """(R, G, B) multipliers -> one multiplier per packed plane (R, Gr, Gb, B), float32."""
    r, g, b = (float(v) for v in wb_gains)
    return np.array([r, g, g, b], dtype=np.float32)


def input_gains(model, wb_gains) -> np.ndarray | None:
    """The per-plane multipliers ``model`` expects for a raw with ``wb_gains``, or None."""
    mode = (getattr(model, "hparams", None) or {}).get("white_balance", "none")
    if mode != "as_shot" or wb_gains is None:
        return None
    gains = plane_gains(wb_gains)
    return None if np.all(gains == 1.0) else gains


def apply_gains(packed: np.ndarray, gains: np.ndarray | None) -> np.ndarray:
    """``packed * gains`` clipped to [0, 1] (a new array), or ``packed`` itself when no gains."""
    if gains is None:
        return packed
    return np.clip(packed * gains, 0.0, 1.0).astype(np.float32, copy=False)
