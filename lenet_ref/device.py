"""Pick the device to train on (CUDA, Apple MPS or CPU) and set it up.

Nothing else in :mod:`lenet_ref` assumes a device: every function takes a ``device`` argument and
falls back to :func:`pick_device`. Override the automatic choice with the environment variable
``LENET_DEVICE`` (for example ``LENET_DEVICE=cpu``) or the ``preferred`` argument.
"""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

#: Environment variable that overrides the automatic device choice ("cpu", "cuda", "cuda:1", "mps").
DEVICE_ENV = "LENET_DEVICE"

_KNOWN_TYPES = ("cuda", "mps", "cpu")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices() -> list[str]:
    """Device types usable here, best first; always ends with ``"cpu"``."""
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    if _mps_available():
        found.append("mps")
    found.append("cpu")
    return found


def pick_device(preferred: str | torch.device | None = None) -> torch.device:
    """The device to compute on: CUDA, else Apple MPS, else the CPU.

    preferred: ``"cuda"``, ``"cuda:N"``, ``"mps"``, ``"cpu"`` or ``"auto"``; ``None`` reads
    ``$LENET_DEVICE`` and otherwise chooses automatically. Asking for a device that is not present
    raises ``RuntimeError`` (no silent fallback: a run you meant for the GPU should not quietly
    take an hour on the CPU).
    """
    source = "argument preferred"
    if preferred is None:
        preferred = os.environ.get(DEVICE_ENV) or None
        source = f"environment variable {DEVICE_ENV}"
    if preferred is None or str(preferred).strip().lower() in ("", "auto"):
        return torch.device(available_devices()[0])

    text = str(preferred).strip().lower()
    try:
        device = torch.device(text)
    except RuntimeError as err:
        raise ValueError(
            f"{source} = {preferred!r} is not a device name. Expected one of "
            f"'auto', 'cuda', 'cuda:N', 'mps', 'cpu'."
        ) from err
    if device.type not in _KNOWN_TYPES:
        raise ValueError(
            f"{source} = {preferred!r}: device type {device.type!r} is not supported. "
            f"Expected one of 'auto', 'cuda', 'cuda:N', 'mps', 'cpu'."
        )
    here = available_devices()
    if device.type not in here:
        raise RuntimeError(
            f"{source} asks for device {text!r}, but it is not available here "
            f"(available: {', '.join(here)}). Install a PyTorch build with {device.type} support, "
            f"or choose another device, e.g. {DEVICE_ENV}=cpu."
        )
    if device.type == "cuda" and device.index is not None:
        count = torch.cuda.device_count()
        if device.index >= count:
            raise RuntimeError(
                f"{source} asks for {text!r}, but only {count} CUDA device(s) exist "
                f"(cuda:0 .. cuda:{count - 1}). Use a smaller index."
            )
    return device


def describe_device(device: str | torch.device) -> str:
    """One human line about ``device``, e.g. ``"CUDA GPU 0: NVIDIA A100 (40.0 GiB)"``."""
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        return f"CUDA GPU {index}: {props.name} ({props.total_memory / 2**30:.1f} GiB)"
    if device.type == "mps":
        return "Apple GPU (Metal Performance Shaders, MPS)"
    threads = torch.get_num_threads()
    gpus = [t for t in available_devices() if t != "cpu"]
    if gpus:
        why = f"a GPU is available ({', '.join(gpus)}) but the CPU was chosen"
    else:
        why = "no GPU found: training on the CPU"
    return f"CPU, {threads} thread(s): {why}"


def cpu_count() -> int:
    """Cores this process may run on (respects CPU affinity and container limits)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no sched_getaffinity
        return os.cpu_count() or 1


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (runnable processes), to judge timings by."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):  # Windows has no load average
        return "unknown"


def configure_cpu_threads(threads: int | None = None) -> int:
    """Set PyTorch's intra-op thread count and return it.

    threads: None uses one thread per usable core. More threads than cores only adds contention.
    """
    if threads is None:
        threads = cpu_count()
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int or None, got {threads!r}.")
    torch.set_num_threads(threads)
    return threads


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's (every device's) random generators."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - code that uses the legacy global RNG
    torch.manual_seed(seed)  # also seeds CUDA and MPS


def set_tf32(enabled: bool) -> None:
    """Allow (True) or forbid (False) TF32 for float32 matmuls and convolutions on CUDA.

    TF32 keeps float32's range but only 10 mantissa bits (about 3 decimal digits) in the
    products; it makes Ampere-and-newer GPUs several times faster and does not change LeNet-5's
    accuracy. PyTorch's defaults differ between matmuls (off) and convolutions (on), so we set
    both explicitly. On machines without CUDA this only records the setting.
    """
    precision = "tf32" if enabled else "ieee"
    torch.backends.cuda.matmul.fp32_precision = precision
    torch.backends.cudnn.conv.fp32_precision = precision


def autocast(
    device: str | torch.device, enabled: bool = False
) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on ``device`` when ``enabled`` (a no-op context otherwise).

    bfloat16 has float32's exponent range, so unlike float16 it needs no loss scaling.
    """
    device = torch.device(device)
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def synchronize(device: str | torch.device) -> None:
    """Wait for queued GPU work on ``device`` (needed before reading a wall clock)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
