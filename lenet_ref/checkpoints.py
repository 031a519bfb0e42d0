"""Checkpoints of the PyTorch LeNet-5s: weights, variant and options, epoch, metrics.

:func:`save_checkpoint` writes a file that :func:`load_checkpoint` turns back into the same
model (a :class:`~lenet_ref.torch_lenet.LeNet5` or :class:`~lenet_ref.lecun1998.LeNet1998`),
on any device. Loading never runs code from the file (``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lenet_ref.device import pick_device
from lenet_ref.lecun1998 import MAP_J, LeNet1998
from lenet_ref.torch_lenet import VARIANTS, LeNet5, create_model

CHECKPOINT_FORMAT = "lenet5-torch-checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """A file that cannot be loaded as a LeNet-5 checkpoint."""


def save_checkpoint(
    path: str | os.PathLike,
    model: LeNet5 | LeNet1998,
    epoch: int,
    metrics: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
) -> Path:
    """Write model weights, variant and options, epoch, metrics (plain numbers/strings) and
    torch version.

    The file is written next to ``path`` and renamed into place, so a crash never leaves a
    half-written checkpoint. Returns the path.
    """
    if not isinstance(model, LeNet5 | LeNet1998):
        raise TypeError(
            f"save_checkpoint expects a LeNet5 or a LeNet1998, got {type(model).__name__}."
        )
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "variant": model.variant,
        "options": model.options(),
        "epoch": int(epoch),
        "metrics": dict(metrics),
        "torch_version": str(torch.__version__),
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def _state_dict_problems(model: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    expected = model.state_dict()
    problems = []
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing:
        problems.append(f"missing keys {missing}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected}")
    for key in sorted(set(expected) & set(state)):
        got = tuple(getattr(state[key], "shape", ()))
        if got != tuple(expected[key].shape):
            problems.append(f"{key} has shape {got}, expected {tuple(expected[key].shape)}")
    return problems


def _rebuild(path: Path, payload: dict[str, Any]) -> LeNet5 | LeNet1998:
    """A fresh model of the payload's variant and options (a file written before options
    were recorded holds the 1998 network's ``map_j`` on its own)."""
    variant = payload.get("variant")
    if variant not in VARIANTS:
        raise CheckpointError(f"{path} records variant {variant!r}, expected one of {VARIANTS}.")
    options = payload.get("options", {"map_j": payload.get("map_j", MAP_J)})
    if not isinstance(options, dict):
        raise CheckpointError(f"{path} records options {options!r}, expected a dict.")
    kind = LeNet1998 if variant == "lecun1998" else LeNet5
    try:
        return create_model(variant, **{k: v for k, v in options.items() if k in kind.OPTIONS})
    except ValueError as err:
        raise CheckpointError(
            f"{path} records options that no {variant!r} model has: {err}"
        ) from err


def load_checkpoint(
    path: str | os.PathLike, device: str | torch.device | None = None
) -> tuple[LeNet5 | LeNet1998, dict[str, Any]]:
    """Rebuild the model saved by :func:`save_checkpoint` on ``device``.

    Returns (model in eval mode, info) where info holds "variant", "epoch", "metrics",
    "torch_version" and "optimizer" (a state dict or None). Raises :class:`CheckpointError` for
    a damaged file, a file that is not a LeNet-5 checkpoint, or weights that do not fit the
    recorded variant.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: check the path (cwd is {Path.cwd()}).")
    try:
        # weights_only: unpickling a file must never run its code
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, OSError) as err:
        raise CheckpointError(
            f"{path} is damaged or is not a torch file ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}). Re-create it with save_checkpoint."
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        found = sorted(payload)[:8] if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(
            f"{path} is a torch file but not a LeNet-5 checkpoint (expected a dict with format "
            f"{CHECKPOINT_FORMAT!r}; found {found}). Save checkpoints with save_checkpoint; for a "
            "bare state dict use model.load_state_dict."
        )
    if payload.get("format_version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {payload.get('format_version')!r}; this code "
            f"reads version {CHECKPOINT_VERSION}."
        )
    model = _rebuild(path, payload)
    variant = model.variant
    state = payload.get("state_dict")
    problems = _state_dict_problems(model, state) if isinstance(state, dict) else ["no state"]
    if problems:
        raise CheckpointError(
            f"{path}: its weights do not fit a {variant!r} LeNet5 ({'; '.join(problems)}). "
            "They were probably saved from another variant: construct that variant, or re-save "
            "the checkpoint with save_checkpoint."
        )
    model.load_state_dict(state)
    device = pick_device(device) if device is None else torch.device(device)
    model.to(device).eval()
    info = {
        k: payload.get(k) for k in ("variant", "epoch", "metrics", "torch_version", "optimizer")
    }
    return model, info
