"""Device tests for real: the CUDA paths that tests/test_device.py only mocks.

    python -m pytest benchmarks/gpu_device_tests.py -q          # on a machine with a CUDA GPU
    GPU_CHECK_DEVICE=cpu python -m pytest benchmarks/gpu_device_tests.py -q   # smoke, any machine

Run by benchmarks/gpu_check.sh. Not in tests/ (CI has no GPU); without a CUDA GPU and without
GPU_CHECK_DEVICE=cpu every test is skipped. Nothing here asserts a time.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from lenet_ref import device as D
from lenet_ref import torch_train as T
from lenet_ref.torch_lenet import LeNet5

DEVICE = torch.device(os.environ.get("GPU_CHECK_DEVICE", "cuda"))
pytestmark = pytest.mark.skipif(
    DEVICE.type == "cuda" and not torch.cuda.is_available(),
    reason="no CUDA GPU here (set GPU_CHECK_DEVICE=cpu for a smoke run)",
)


@pytest.fixture(autouse=True)
def _no_device_override(monkeypatch):
    monkeypatch.delenv(D.DEVICE_ENV, raising=False)


def _digits(n: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n)


def test_the_automatic_choice_is_this_device():
    assert D.available_devices()[0] == DEVICE.type
    assert D.pick_device().type == DEVICE.type
    assert D.pick_device("auto").type == DEVICE.type
    assert D.pick_device("cpu") == torch.device("cpu")
    line = D.describe_device(D.pick_device())
    assert ("CUDA GPU 0" in line) if DEVICE.type == "cuda" else ("CPU" in line)


@pytest.mark.skipif(DEVICE.type != "cuda", reason="CUDA only")
def test_cuda_indices_are_checked_against_the_real_count():
    count = torch.cuda.device_count()
    assert D.pick_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(RuntimeError, match=rf"only {count} CUDA device"):
        D.pick_device(f"cuda:{count}")


def test_bfloat16_autocast_on_the_device():
    a = torch.randn(16, 16, device=DEVICE)
    with D.autocast(DEVICE, enabled=True):
        assert (a @ a).dtype == torch.bfloat16
    with D.autocast(DEVICE, enabled=False):
        assert (a @ a).dtype == torch.float32


def test_data_on_the_device_matches_the_cpu_copy():
    images, labels = _digits(64)
    here = T.to_device(images, labels, DEVICE, "standard")
    cpu = T.to_device(images, labels, "cpu", "standard")
    assert here.images.device.type == DEVICE.type and here.labels.device.type == DEVICE.type
    torch.testing.assert_close(here.images.cpu(), cpu.images, rtol=1e-6, atol=1e-6)
    assert torch.equal(here.labels.cpu(), cpu.labels)
    assert here.to("cpu").device == torch.device("cpu")


def test_shuffled_batches_stay_on_the_device_and_cover_every_example():
    images, _ = _digits(50)
    data = T.to_device(images, np.arange(50) % 10, DEVICE)
    data.labels = torch.arange(50, device=DEVICE)
    gen = torch.Generator(device=DEVICE).manual_seed(0)
    batches = list(data.batches(16, gen))
    assert all(x.device.type == DEVICE.type for x, _ in batches)
    assert sorted(torch.cat([y for _, y in batches]).tolist()) == list(range(50))


@pytest.mark.parametrize(("amp", "channels_last"), [(False, False), (True, True)])
def test_training_on_the_device_lowers_the_loss(amp, channels_last):
    images, labels = _digits(256)
    data = T.to_device(images, labels % 2, DEVICE, "standard")  # two classes: learnable fast
    D.seed_everything(0)
    model = LeNet5("modern")
    history = T.train(
        model, data, epochs=3, batch_size=32, lr=3e-3, device=DEVICE, amp=amp,
        channels_last=channels_last, progress=False,
    )  # fmt: skip
    assert history.device.startswith(DEVICE.type)
    assert all(p.device.type == DEVICE.type for p in model.parameters())
    assert all(np.isfinite(history.batch_losses))
    assert history.train_loss[-1] < history.train_loss[0]


def test_a_checkpoint_saved_on_the_device_loads_on_the_cpu(tmp_path):
    D.seed_everything(1)
    model = LeNet5("modern").to(DEVICE)
    path = T.save_checkpoint(tmp_path / "m.pt", model, 1, {"test_acc": 0.5})
    restored, info = T.load_checkpoint(path, "cpu")
    assert info["epoch"] == 1 and next(restored.parameters()).device.type == "cpu"
    saved = restored.state_dict()
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor.cpu(), saved[name]), name
    back, _ = T.load_checkpoint(path, DEVICE)
    assert next(back.parameters()).device.type == DEVICE.type


def test_predictions_on_the_device_agree_with_the_cpu():
    images, labels = _digits(200)
    D.seed_everything(2)
    model = LeNet5("modern").to(DEVICE)
    data = T.to_device(images, labels, DEVICE, "standard")
    on_device = T.predict(model, data)
    on_cpu = T.predict(model.to("cpu"), data.to("cpu"))
    # TF32 products may flip a near-tie: allow a handful of the 200.
    assert (on_device != on_cpu).sum().item() <= 4
