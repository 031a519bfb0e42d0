"""Training on the device: data set, batches, train/stop/callback, schedulers, evaluation,
checkpoints."""

from __future__ import annotations

import inspect
import math
import threading

import numpy as np
import pytest
import torch

from lenet_ref import checkpoints as C
from lenet_ref import torch_train as T
from lenet_ref.torch_lenet import VARIANTS, LeNet5, create_model
from lenet_ref.transforms import lenet_inputs

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def mnist_small(mnist_cache):
    """The first 1,024 training and 512 test digits (uint8) with their labels."""
    from lenet_kit.data import load_mnist

    x, y = load_mnist("train")
    xt, yt = load_mnist("test")
    return x[:1024], y[:1024], xt[:512], yt[:512]


def _synthetic(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=n)


# --- data on the device -----------------------------------------------------------------------


@pytest.mark.parametrize("scaling", ["lecun", "standard"])
def test_to_device_matches_the_numpy_transforms(scaling):
    images, labels = _synthetic(16)
    data = T.to_device(images, labels, "cpu", scaling=scaling)
    assert data.images.shape == (16, 1, 32, 32) and data.images.dtype == torch.float32
    assert data.labels.dtype == torch.int64 and data.device == torch.device("cpu")
    expected = lenet_inputs(images, scaling=scaling, dtype=np.float64)
    np.testing.assert_allclose(data.images.numpy(), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(data.labels.numpy(), labels)
    assert len(data) == 16


def test_to_device_rejects_bad_input_clearly():
    images, labels = _synthetic(8)
    with pytest.raises(ValueError, match=r"uint8 images of shape \(N, 28, 28\), got torch.float32"):
        T.to_device(images.astype(np.float32), labels, "cpu")
    with pytest.raises(ValueError, match=r"got torch.uint8 \(8, 32, 32\)"):
        T.to_device(np.zeros((8, 32, 32), np.uint8), labels, "cpu")
    with pytest.raises(ValueError, match=r"N = 8.*\(7,\)"):
        T.to_device(images, labels[:7], "cpu")
    with pytest.raises(ValueError, match="scaling must be one of.*'minmax'"):
        T.to_device(images, labels, "cpu", scaling="minmax")
    with pytest.raises(ValueError, match="integers"):
        T.to_device(images, labels.astype(np.float32), "cpu")
    with pytest.raises(ValueError, match="digits 0..9, got values from 3 to 10"):
        T.to_device(images, np.arange(8) + 3, "cpu")


def test_shuffled_batches_are_seeded_permutations_drawn_on_the_device():
    images, labels = _synthetic(50)
    data = T.to_device(images, np.arange(50) % 10, "cpu")
    data.labels = torch.arange(50)  # label = index, to see the order

    def order(seed: int) -> list[int]:
        gen = torch.Generator(device=data.device).manual_seed(seed)
        batches = list(data.batches(16, gen))
        assert [len(y) for _, y in batches] == [16, 16, 16, 2]
        return torch.cat([y for _, y in batches]).tolist()

    first = order(0)
    assert sorted(first) == list(range(50)) and first != list(range(50))
    assert order(0) == first and order(1) != first
    x, y = next(iter(data.batches(8)))
    assert torch.equal(x, data.images[:8]) and torch.equal(y, torch.arange(8))


# --- training ---------------------------------------------------------------------------------


# lecun1998 starts on a plateau (tiny initial weights, every output pulled to the mean code)
# that a larger step leaves sooner.
STEP = {"classic": 2e-3, "modern": 2e-3, "lecun1998": 1e-2}


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_few_steps_lower_the_loss(variant, mnist_small):
    x, y, xt, yt = mnist_small
    scaling = T.RECIPES[variant]["scaling"]
    train_data = T.to_device(x, y, "cpu", scaling)
    held_out = T.to_device(xt, yt, "cpu", scaling)  # digits it never trains on
    torch.manual_seed(0)
    model = create_model(variant)
    before = model.loss(model(train_data.images), train_data.labels).item()
    history = T.train(
        model, train_data, epochs=4, batch_size=64, lr=STEP[variant], device="cpu",
        progress=False, val_data=held_out,
    )  # fmt: skip
    after = model.loss(model(train_data.images), train_data.labels).item()
    assert after < 0.5 * before
    assert len(history.epochs) == 4 and len(history.batch_losses) == 4 * 16
    assert history.train_loss[-1] < history.train_loss[0]
    assert all(0.0 <= a <= 1.0 for a in history.train_acc + history.val_acc)
    assert history.val_acc[-1] > 0.5  # far above chance (0.1) on held-out digits
    assert not history.stopped and history.device == "cpu"


def test_training_is_reproducible_with_a_seed():
    images, labels = _synthetic(96)
    data = T.to_device(images, labels, "cpu")

    def run(seed: int) -> list[torch.Tensor]:
        torch.manual_seed(1)
        model = LeNet5("modern")
        T.train(model, data, epochs=1, batch_size=32, seed=seed, device="cpu", progress=False)
        return [p.detach().clone() for p in model.parameters()]

    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(a, c, strict=True))


@pytest.mark.parametrize(("amp", "channels_last"), [(False, True), (True, False)])
def test_amp_and_channels_last_options_train(amp, channels_last, mnist_small):
    x, y, _, _ = mnist_small
    data = T.to_device(x[:256], y[:256], "cpu", "standard")
    torch.manual_seed(0)
    model = LeNet5("classic")
    history = T.train(
        model, data, epochs=2, batch_size=32, lr=3e-3, device="cpu", progress=False, amp=amp,
        channels_last=channels_last,
    )  # fmt: skip
    assert all(math.isfinite(v) for v in history.batch_losses)
    assert history.train_loss[-1] < history.train_loss[0]


def test_callback_sees_every_batch_and_epoch():
    images, labels = _synthetic(100)
    data = T.to_device(images, labels, "cpu")
    events = []
    history = T.train(
        LeNet5("classic"), data, epochs=2, batch_size=32, device="cpu", progress=False,
        callback=lambda e: events.append((e.kind, e.epoch, e.batch, e.loss)),
    )  # fmt: skip
    kinds = [k for k, *_ in events]
    assert kinds == (["batch"] * 4 + ["epoch"]) * 2
    assert [b for k, _, b, _ in events if k == "batch"] == [0, 1, 2, 3] * 2
    assert [loss for k, _, _, loss in events if k == "batch"] == history.batch_losses


def test_stop_event_returns_immediately_with_partial_history():
    images, labels = _synthetic(320)
    data = T.to_device(images, labels, "cpu")
    stop = threading.Event()
    seen = []

    def callback(event):
        seen.append(event.kind)
        if len(seen) == 3:
            stop.set()

    history = T.train(
        LeNet5("modern"), data, epochs=5, batch_size=32, device="cpu", progress=False,
        callback=callback, stop=stop,
    )  # fmt: skip
    assert history.stopped and seen == ["batch"] * 3
    assert len(history.batch_losses) == 3
    assert len(history.epochs) == 1 and not history.epochs[0].complete
    assert history.epochs[0].val_acc is None

    already = threading.Event()
    already.set()
    history = T.train(LeNet5("modern"), data, epochs=5, device="cpu", progress=False, stop=already)
    assert history.stopped and history.epochs == [] and history.batch_losses == []


def test_early_stopping_restores_the_best_parameters(monkeypatch):
    images, labels = _synthetic(64)
    data = T.to_device(images, labels, "cpu")
    accs = iter([0.5, 0.7, 0.6, 0.65, 0.9])
    snapshots = []

    def fake_evaluate(model, data, batch_size=2048):
        snapshots.append(model.OUT.bias.detach().clone())
        return next(accs)

    monkeypatch.setattr("lenet_ref.torch_train.evaluate", fake_evaluate)
    model = LeNet5("modern")
    history = T.train(
        model, data, epochs=5, batch_size=32, device="cpu", progress=False, val_data=data,
        patience=2,
    )  # fmt: skip
    assert history.epoch == [1, 2, 3, 4] and history.best_epoch == 2 and history.stopped
    assert torch.equal(model.OUT.bias.detach(), snapshots[1])
    with pytest.raises(ValueError, match="patience needs validation data"):
        T.train(model, data, epochs=1, patience=2, progress=False)


def test_numpy_and_torch_training_take_the_same_arguments():
    from lenet_ref import numpy_train

    shared = list(inspect.signature(numpy_train.train).parameters)
    assert list(inspect.signature(T.train).parameters)[: len(shared)] == shared


def test_train_rejects_bad_arguments():
    images, labels = _synthetic(8)
    data = T.to_device(images, labels, "cpu")
    model = LeNet5("classic")
    with pytest.raises(ValueError, match="epochs must be a positive int, got 0"):
        T.train(model, data, epochs=0, progress=False)
    with pytest.raises(ValueError, match="optimizer must be one of.*'rmsprop'"):
        T.train(model, data, epochs=1, optimizer="rmsprop", progress=False)
    with pytest.raises(ValueError, match="schedule must be one of.*'linear'"):
        T.train(model, data, epochs=1, schedule="linear", progress=False)
    with pytest.raises(TypeError, match="DeviceDataset, got tuple.*to_device"):
        T.train(model, (images, labels), epochs=1, progress=False)


def test_schedules():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)

    def rates(name: str, epochs: int = 4, steps: int = 25) -> list[float]:
        scheduler = T.make_scheduler(opt, name, 0.1, epochs, steps)
        out = []
        for _ in range(epochs * steps):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            scheduler.step()
        return out

    one = rates("onecycle")
    assert one[0] == pytest.approx(0.1 / 25) and max(one) == pytest.approx(0.1)
    assert one.index(max(one)) == 25 and one[-1] < 0.1 / 100
    assert rates("constant") == [0.1] * 100
    cosine = [0.1 * 0.5 * (1 + math.cos(math.pi * i / 100)) for i in range(100)]
    assert rates("cosine") == pytest.approx(cosine, rel=1e-9, abs=1e-15)
    paper = rates("lecun1998", epochs=14, steps=2)[::2]
    expected = [5, 5, 2, 2, 2, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.1, 0.1]  # x 1e-4: the paper's rates
    assert paper == pytest.approx([0.1 * e / 5 for e in expected])


@pytest.mark.parametrize(("epochs", "steps"), [(2, 469), (1, 7), (3, 1)])
def test_onecycle_torch_is_pytorchs_onecycle_schedule(epochs, steps):
    """The schedule of the "modern" recipe is the one notebooks 08 and 10 build with OneCycleLR."""
    ref_opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-2)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        ref_opt, max_lr=1e-2, total_steps=epochs * steps, pct_start=0.25, cycle_momentum=False
    )
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    ours = T.make_scheduler(opt, "onecycle_torch", 1e-2, epochs, steps)
    for _ in range(epochs * steps):
        assert opt.param_groups[0]["lr"] == pytest.approx(ref_opt.param_groups[0]["lr"], rel=1e-12)
        ref_opt.step()
        scheduler.step()
        opt.step()
        ours.step()


# --- evaluation ---------------------------------------------------------------------------------


def test_predict_and_evaluate_agree_with_direct_computation():
    images, labels = _synthetic(70)
    data = T.to_device(images, labels, "cpu")
    torch.manual_seed(2)
    model = LeNet5("modern").train()
    with torch.no_grad():
        direct = model(data.images).argmax(1)
    predicted = T.predict(model, data, batch_size=16)
    assert torch.equal(predicted, direct) and model.training
    assert torch.equal(T.predict(model, data.images, batch_size=32), direct)
    expected = (direct == data.labels).double().mean().item()
    assert T.evaluate(model, data, batch_size=9) == pytest.approx(expected)


# --- checkpoints --------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_checkpoint_round_trip_gives_identical_outputs(variant, tmp_path):
    torch.manual_seed(3)
    model = create_model(variant)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(6, 1, 32, 32)
    model.loss(model(x), torch.arange(6)).backward()
    opt.step()
    path = C.save_checkpoint(
        tmp_path / "m.pt", model, epoch=7, metrics={"test_acc": 0.99}, optimizer=opt
    )
    loaded, info = C.load_checkpoint(path, device="cpu")
    assert loaded.variant == variant and not loaded.training
    model.eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert info["epoch"] == 7 and info["metrics"] == {"test_acc": 0.99}
    assert info["variant"] == variant and info["torch_version"] == torch.__version__
    restored = torch.optim.Adam(loaded.parameters(), lr=1e-3)
    restored.load_state_dict(info["optimizer"])
    assert restored.state_dict()["state"][0]["step"] == 1
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_checkpoint_keeps_the_models_options(tmp_path):
    model = LeNet5("classic", activation="scaled tanh", pooling="max", dropout=0.25)
    loaded, _ = C.load_checkpoint(C.save_checkpoint(tmp_path / "m.pt", model, 1, {}), "cpu")
    assert isinstance(loaded, LeNet5) and loaded.options() == model.options()
    published = create_model("lecun1998", map_j=0.5)
    loaded, _ = C.load_checkpoint(C.save_checkpoint(tmp_path / "p.pt", published, 1, {}), "cpu")
    assert loaded.variant == "lecun1998" and loaded.map_j == 0.5


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    path = C.save_checkpoint(tmp_path / "m.pt", LeNet5("classic"), 1, {})
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(C.CheckpointError, match="damaged"):
        C.load_checkpoint(path, device="cpu")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint at all" * 10)
    with pytest.raises(C.CheckpointError, match="damaged or is not a torch file"):
        C.load_checkpoint(garbage, device="cpu")
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        C.load_checkpoint(tmp_path / "missing.pt", device="cpu")


def test_non_checkpoint_torch_file_is_a_clear_error(tmp_path):
    path = tmp_path / "state.pt"
    torch.save(LeNet5("modern").state_dict(), path)
    with pytest.raises(C.CheckpointError, match="not a LeNet-5 checkpoint.*C1.bias"):
        C.load_checkpoint(path, device="cpu")
    torch.save(torch.zeros(3), path)
    with pytest.raises(C.CheckpointError, match="not a LeNet-5 checkpoint.*Tensor"):
        C.load_checkpoint(path, device="cpu")


def test_state_dict_of_another_variant_is_a_clear_error(tmp_path):
    path = C.save_checkpoint(tmp_path / "m.pt", create_model("lecun1998"), 1, {})
    payload = torch.load(path, weights_only=True)
    payload["variant"] = "classic"
    torch.save(payload, path)
    with pytest.raises(C.CheckpointError) as info:
        C.load_checkpoint(path, device="cpu")
    message = str(info.value)
    assert "do not fit a 'classic' LeNet5" in message
    assert "unexpected keys" in message and "S2.weight" in message
    assert "C3.weight has shape (60, 5, 5), expected (16, 6, 5, 5)" in message
