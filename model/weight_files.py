"""Where the network's checkpoints are found: the shipped weights and the ``$ISPVIEWER_WEIGHTS`` override.

Torch-free, so the CLI and the app can name the default checkpoint without loading the network.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming the checkpoint to use when no other is given.
WEIGHTS_ENV = "ISPVIEWER_WEIGHTS"


def shipped_weights() -> Path:
    """The weights installed with the package (trained on the demo data; see weights/MODEL_CARD.md)."""
    return Path(__file__).resolve().parent / "weights" / "default.pt"


def default_weights() -> Path:
    """$ISPVIEWER_WEIGHTS when set, else the shipped weights (which a development checkout may lack)."""
    override = os.environ.get(WEIGHTS_ENV, "").strip()
    return Path(override).expanduser() if override else shipped_weights()
