"""Explicit name -> class registry of the ISP networks, so that any of them trains, saves and
loads the same way (checkpoints store the name and the hyper-parameters)."""

from __future__ import annotations

from torch import nn

from .networks import KernelPredictionISP, PlainISP

MODELS: dict[str, type[nn.Module]] = {
    "kpn": KernelPredictionISP,
    "plain": PlainISP,
}


class UnknownModelError(ValueError):
    """A model name that is not in :data:`MODELS`."""

    def __init__(self, name: object):
        self.name = name
        super().__init__(f"unknown model {name!r} (known: {', '.join(sorted(MODELS))})")


def build_model(name: str, **hparams) -> nn.Module:
    """A freshly initialised network; ValueError for unknown names or bad hyper-parameters."""
    cls = MODELS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise UnknownModelError(name)
    try:
        return cls(**hparams)
    except TypeError as exc:  # unexpected or missing keyword
        raise ValueError(f"bad hyper-parameters for model {name!r}: {exc}") from None


def model_name(model: nn.Module) -> str:
    """The registry name of ``model``'s class, or ValueError for unregistered classes."""
    for name, cls in MODELS.items():
        if type(model) is cls:
            return name
    raise ValueError(f"{type(model).__name__} is not a registered ISP model")
