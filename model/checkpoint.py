"""Checkpoints: weights + model name + hyper-parameters + normalization + provenance in one file.

A checkpoint is a plain dict written with ``torch.save``::

    {"format": "ispviewer-isp-checkpoint", "version": 1,
     "model": "kpn", "hparams": {...}, "state_dict": {name: tensor},
     "meta": {"normalization": {...}, "provenance": {"dataset", "patch_count", "epochs",
              "git_revision", "created", ...}, ...anything plain the caller adds}}

Loading uses ``torch.load(weights_only=True)``, which only rebuilds tensors and plain containers;
a file carrying pickled objects or code (e.g. a malicious ``__reduce__``) is refused before
anything in it runs.  Every failure is a :class:`CheckpointError` naming the file and the reason.
"""

from __future__ import annotations

import datetime as _dt
import os
import pickle
import re
import subprocess
import warnings
from pathlib import Path

import torch
from torch import nn

from .registry import MODELS, UnknownModelError, build_model, model_name

FORMAT = "ispviewer-isp-checkpoint"
VERSION = 1

#: How the network's input and output are normalized (stored in every checkpoint).
DEFAULT_NORMALIZATION = {
    "input": "packed RGGB planes (R, G of R rows, G of B rows, B): raw minus the file's black "
             "level, divided by (white level - black level), clipped to [0, 1]; then, when the "
             "network's white_balance hyper-parameter is 'as_shot', multiplied by the file's "
             "as-shot white balance (green = 1) and clipped to [0, 1] again",
    "input_layout": "RGGB",
    "input_range": [0.0, 1.0],
    "output": "sRGB, gamma-encoded, 2x the packed resolution",
    "output_range": [0.0, 1.0],
}

PROVENANCE_KEYS = ("dataset", "patch_count", "epochs", "git_revision", "created", "cameras")


class CheckpointError(Exception):
    """A checkpoint file that cannot be used, with the reason."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def git_revision() -> str | None:
    """The commit of the source tree this module runs from, or None outside a git checkout."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                              capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    rev = done.stdout.strip()
    return rev if done.returncode == 0 and rev else None


def _check_plain(value, where: str) -> None:
    """Meta must survive ``weights_only`` loading: dict/list/str/int/float/bool/None only."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"meta key {key!r} in {where} is not a string")
            _check_plain(item, f"{where}.{key}")
        return
    raise ValueError(f"meta value {where} is a {type(value).__name__}; only plain values "
                     "(str, int, float, bool, None, list, dict) can be stored")


def save_checkpoint(path: str | os.PathLike, model: nn.Module, meta: dict | None = None, *,
                    half: bool = False) -> Path:
    """Write ``model`` and ``meta`` to ``path`` atomically; returns the path.

    ``meta`` may carry ``normalization`` (default :data:`DEFAULT_NORMALIZATION`) and a
    ``provenance`` dict; missing provenance keys are filled (``created`` = now in UTC,
    ``git_revision`` of this source tree, others None).  ``half=True`` stores float weights as
    float16 (half the file size; loading casts them back to float32).
    """
    path = Path(path)
    name = model_name(model)
    meta = dict(meta or {})
    meta.setdefault("normalization", dict(DEFAULT_NORMALIZATION))
    provenance = dict(meta.get("provenance") or {})
    provenance.setdefault("created", _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    if "git_revision" not in provenance:
        provenance["git_revision"] = git_revision()
    for key in PROVENANCE_KEYS:
        provenance.setdefault(key, None)
    meta["provenance"] = provenance
    _check_plain(meta, "meta")
    hparams = dict(model.hparams)
    _check_plain(hparams, "hparams")
    state = {}
    for key, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu()
        if half and tensor.is_floating_point():
            tensor = tensor.half()
        state[key] = tensor.clone()
    payload = {"format": FORMAT, "version": VERSION, "model": name, "hparams": hparams,
               "state_dict": state, "meta": meta}
    tmp = path.with_name(path.name + ".partial")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _read(path: Path) -> object:
    if not path.exists():
        raise CheckpointError(path, "file does not exist")
    if path.is_dir():
        raise CheckpointError(path, "is a folder, not a checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(path, "file is empty (0 bytes)")
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except PermissionError:
        raise CheckpointError(path, "file is not readable (permission denied)") from None
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
        raise CheckpointError(path, "not a PyTorch checkpoint file (neither a torch.save zip nor a pickle)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4": we report it ourselves
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        if found:
            raise CheckpointError(path, f"refused: the file holds pickled Python objects or code "
                                        f"({found.group(1)}), not plain weights (it may be malicious); "
                                        "nothing in it was run") from None
        raise CheckpointError(path, "not a readable checkpoint (corrupt, or a pickle that torch.save "
                                    "did not write); refused without running anything") from None
    except PermissionError:
        raise CheckpointError(path, "file is not readable (permission denied)") from None
    except Exception as exc:  # noqa: BLE001 - zip/stream/seek errors of truncated or foreign files
        first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise CheckpointError(path, f"truncated or corrupt checkpoint ({first})") from None


def _validate(path: Path, payload: object) -> dict:
    if not isinstance(payload, dict):
        raise CheckpointError(path, f"not an ispviewer checkpoint (file holds a {type(payload).__name__})")
    if payload.get("format") != FORMAT:
        if payload and all(isinstance(v, torch.Tensor) for v in payload.values()):
            raise CheckpointError(path, "not an ispviewer checkpoint: a bare state_dict (weights "
                                        "without model name and hyper-parameters)")
        keys = ", ".join(sorted(map(str, payload))[:6]) or "none"
        raise CheckpointError(path, f"not an ispviewer checkpoint (keys: {keys})")
    version = payload.get("version")
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(path, f"damaged checkpoint: bad format version {version!r}")
    if version > VERSION:
        raise CheckpointError(path, f"checkpoint format version {version} is newer than this "
                                    f"ispviewer reads (up to {VERSION})")
    for key, kind in (("model", str), ("hparams", dict), ("state_dict", dict), ("meta", dict)):
        if not isinstance(payload.get(key), kind):
            raise CheckpointError(path, f"damaged checkpoint: field {key!r} missing or not a {kind.__name__}")
    if not all(isinstance(v, torch.Tensor) for v in payload["state_dict"].values()):
        raise CheckpointError(path, "damaged checkpoint: state_dict holds non-tensor values")
    return payload


def _mismatch_summary(model: nn.Module, state: dict) -> str:
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
              for k in own if k in state and state[k].shape != own[k].shape]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    if shapes:
        parts.append(f"{len(shapes)} shape mismatches (e.g. {shapes[0]})")
    return "; ".join(parts)


def load_checkpoint(path: str | os.PathLike) -> tuple[nn.Module, dict]:
    """Rebuild the model saved in ``path`` (float32, CPU, eval mode) and return it with its meta.

    The returned meta is the stored one plus ``model`` (registry name), ``hparams`` and
    ``format_version``.  Raises :class:`CheckpointError` for a missing, empty, truncated,
    corrupt, foreign (e.g. a bare state_dict), incompatible (unknown model, weights that do not
    fit) or unsafe (pickled code) file.
    """
    path = Path(path)
    payload = _validate(path, _read(path))
    name, hparams, state = payload["model"], payload["hparams"], payload["state_dict"]
    if name not in MODELS:
        raise CheckpointError(path, f"incompatible: {UnknownModelError(name)}")
    try:
        model = build_model(name, **hparams)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(path, f"incompatible: hyper-parameters {hparams} rejected by model "
                                    f"{name!r} ({exc})") from None
    summary = _mismatch_summary(model, state)
    if summary:
        raise CheckpointError(path, f"incompatible: weights do not fit model {name!r} with "
                                    f"hyper-parameters {hparams}: {summary}")
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except RuntimeError as exc:
        raise CheckpointError(path, f"incompatible: {str(exc).splitlines()[0][:200]}") from None
    model.eval()
    meta = dict(payload["meta"])
    meta.update(model=name, hparams=dict(hparams), format_version=payload["version"])
    return model, meta
