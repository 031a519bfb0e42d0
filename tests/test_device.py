"""Device selection with CUDA and MPS mocked present or absent, and the device helpers."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from lenet_ref import device as D


@pytest.fixture
def machine(monkeypatch):
    """Pretend the machine has the given accelerators: machine(cuda=..., mps=..., count=...)."""
    monkeypatch.delenv(D.DEVICE_ENV, raising=False)

    def fake(cuda: bool = False, mps: bool = False, count: int = 1) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count if cuda else 0)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)

    return fake


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_automatic_choice_prefers_cuda_then_mps_then_cpu(machine, cuda, mps, expected):
    machine(cuda=cuda, mps=mps)
    assert D.pick_device() == torch.device(expected)
    assert D.pick_device("auto") == torch.device(expected)
    assert D.available_devices()[-1] == "cpu"


def test_argument_overrides_automatic_choice(machine):
    machine(cuda=True, mps=True)
    assert D.pick_device("cpu") == torch.device("cpu")
    assert D.pick_device("mps") == torch.device("mps")
    assert D.pick_device(" CUDA:0 ") == torch.device("cuda:0")


def test_environment_variable_overrides_and_argument_wins(machine, monkeypatch):
    machine(cuda=True, mps=False)
    monkeypatch.setenv(D.DEVICE_ENV, "cpu")
    assert D.pick_device() == torch.device("cpu")
    assert D.pick_device("cuda") == torch.device("cuda")


@pytest.mark.parametrize("wanted", ["cuda", "cuda:0", "mps"])
def test_unavailable_device_is_a_clear_error(machine, wanted):
    machine(cuda=False, mps=False)
    with pytest.raises(RuntimeError, match=rf"{wanted!s}.*not available.*available: cpu"):
        D.pick_device(wanted)


def test_unavailable_device_from_environment_names_the_variable(machine, monkeypatch):
    machine(cuda=False, mps=False)
    monkeypatch.setenv(D.DEVICE_ENV, "mps")
    with pytest.raises(RuntimeError, match=D.DEVICE_ENV):
        D.pick_device()


def test_cuda_index_beyond_device_count(machine):
    machine(cuda=True, count=2)
    assert D.pick_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(RuntimeError, match=r"only 2 CUDA device"):
        D.pick_device("cuda:2")


@pytest.mark.parametrize("name", ["tpu", "gpu0", "xla"])
def test_unknown_device_name(machine, name):
    machine()
    with pytest.raises(ValueError, match=name):
        D.pick_device(name)


def test_describe_cpu_says_whether_a_gpu_exists(machine):
    machine(cuda=False, mps=False)
    assert "no GPU found: training on the CPU" in D.describe_device("cpu")
    machine(cuda=False, mps=True)
    line = D.describe_device(torch.device("cpu"))
    assert "mps" in line and "no GPU found" not in line
    assert "MPS" in D.describe_device("mps")


def test_configure_cpu_threads_sets_and_validates():
    before = torch.get_num_threads()
    try:
        assert D.configure_cpu_threads(1) == 1
        assert torch.get_num_threads() == 1
        assert D.configure_cpu_threads() == D.cpu_count() == torch.get_num_threads()
        for bad in (0, -2, 1.5):
            with pytest.raises(ValueError, match="positive int"):
                D.configure_cpu_threads(bad)
    finally:
        torch.set_num_threads(before)


def test_seed_everything_makes_all_generators_repeat():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3).tolist()  # noqa: NPY002

    D.seed_everything(123)
    first = draw()
    D.seed_everything(123)
    assert draw() == first
    D.seed_everything(124)
    assert draw() != first
    with pytest.raises(ValueError, match="seed"):
        D.seed_everything(-1)


def test_autocast_option_switches_to_bfloat16():
    a = torch.randn(8, 8)
    with D.autocast("cpu", enabled=True):
        assert (a @ a).dtype == torch.bfloat16
    with D.autocast("cpu", enabled=False):
        assert (a @ a).dtype == torch.float32


def test_tf32_setting_is_explicit():
    old = (torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision)
    try:
        D.set_tf32(True)
        assert torch.backends.cuda.matmul.fp32_precision == "tf32"
        assert torch.backends.cudnn.conv.fp32_precision == "tf32"
        D.set_tf32(False)
        assert torch.backends.cuda.matmul.fp32_precision == "ieee"
        assert torch.backends.cudnn.conv.fp32_precision == "ieee"
    finally:
        torch.backends.cuda.matmul.fp32_precision = old[0]
        torch.backends.cudnn.conv.fp32_precision = old[1]
