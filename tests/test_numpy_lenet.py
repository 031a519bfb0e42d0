"""The NumPy LeNet-5 (lenet_ref.numpy_lenet) and its training code (lenet_ref.numpy_train)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lenet_ref import numpy_lenet as nl
from lenet_ref.gradcheck import TOLERANCE, numerical_gradient_at, rel_error
from lenet_ref.numpy_train import SGD, cosine_lr, evaluate, train

torch.set_num_threads(1)
VARIANTS = ("classic", "modern")
EXPECTED_ROWS = [
    ("input", (1, 32, 32), 0),
    ("C1", (6, 28, 28), 156),
    ("S2", (6, 14, 14), 0),
    ("C3", (16, 10, 10), 2416),
    ("S4", (16, 5, 5), 0),
    ("C5", (120,), 48120),
    ("F6", (84,), 10164),
    ("OUT", (10,), 850),
]


def batch(n: int, seed: int = 0, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 32, 32)).astype(dtype), rng.integers(0, 10, n)


def torch_loss_and_grads(params: dict[str, np.ndarray], variant: str, x, y):
    """The same network written with torch.nn.functional, differentiated by autograd."""
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    act = torch.tanh if variant == "classic" else torch.relu
    pool = F.avg_pool2d if variant == "classic" else F.max_pool2d
    h = pool(act(F.conv2d(torch.tensor(x), t["C1.weight"], t["C1.bias"])), 2)
    h = pool(act(F.conv2d(h, t["C3.weight"], t["C3.bias"])), 2)
    h = act(torch.flatten(h, 1) @ t["C5.weight"] + t["C5.bias"])
    h = act(h @ t["F6.weight"] + t["F6.bias"])
    logits = h @ t["OUT.weight"] + t["OUT.bias"]
    loss = F.cross_entropy(logits, torch.tensor(y))
    loss.backward()
    return logits.detach().numpy(), loss.item(), {k: v.grad.numpy() for k, v in t.items()}


# --- structure -------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_summary_rows_and_parameter_count(variant):
    model = nl.LeNet5(variant)
    rows = model.summary_rows()
    assert [(r["name"], r["output_shape"], r["params"]) for r in rows] == EXPECTED_ROWS
    assert sum(r["params"] for r in rows) == model.num_params() == 61_706
    text = model.summary()
    assert text == repr(model)
    for piece in ("6@28x28", "6@14x14", "16@10x10", "16@5x5", "61,706"):
        assert piece in text


def test_params_are_the_layers_own_arrays():
    model = nl.LeNet5()
    params = model.params
    assert {k: v.shape for k, v in params.items()} == nl.PARAM_SHAPES
    assert params["C1.weight"] is model.layers["C1"].params["weight"]
    assert params["OUT.bias"] is model.layers["OUT"].params["bias"]
    params["C1.bias"] = np.arange(6)  # writes through, in place
    np.testing.assert_array_equal(model.layers["C1"].params["bias"], np.arange(6))
    assert model.params["C1.bias"] is params["C1.bias"]
    with pytest.raises(ValueError, match=r"shape \(6,\); cannot assign shape \(5,\)"):
        params["C1.bias"] = np.zeros(5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_init_is_seeded_and_typed(dtype):
    a, b, c = nl.LeNet5(seed=1, dtype=dtype), nl.LeNet5(seed=1, dtype=dtype), nl.LeNet5(seed=2)
    for key, value in a.params.items():
        assert value.dtype == dtype
        np.testing.assert_array_equal(value, b.params[key])
    assert not np.array_equal(a.params["C3.weight"], c.params["C3.weight"])
    # Fan-in scaling: C5 (fan-in 400) has much smaller weights than C1 (fan-in 25).
    assert a.params["C5.weight"].std() < 0.5 * a.params["C1.weight"].std()


def test_bad_constructor_and_input():
    with pytest.raises(ValueError, match="variant must be one of"):
        nl.LeNet5("lenet1")
    with pytest.raises(ValueError, match=r"\(N, 1, 32, 32\), got \(2, 28, 28\)"):
        nl.LeNet5().forward(np.zeros((2, 28, 28)))


# --- computation -----------------------------------------------------------------------------
@pytest.mark.parametrize("chunk_size", [64, 2])
@pytest.mark.parametrize("variant", VARIANTS)
def test_loss_and_grads_match_torch_autograd(variant, chunk_size):
    """One batch of 5, as one chunk and as chunks of 2, 2 and 1 (gradients summed)."""
    model = nl.LeNet5(variant, seed=3, dtype=np.float64)
    model.chunk_size = chunk_size
    x, y = batch(5, seed=1)
    loss, grads = model.loss(x, y)
    logits_ref, loss_ref, grads_ref = torch_loss_and_grads(model.params, variant, x, y)
    np.testing.assert_allclose(model.last_logits, logits_ref, rtol=1e-9, atol=1e-12)
    assert loss == pytest.approx(loss_ref, rel=1e-9)
    assert set(grads) == set(model.params)
    for key, g in grads.items():
        assert g.shape == model.params[key].shape and g.dtype == np.float64
        assert np.max(np.abs(g - grads_ref[key])) <= 1e-9 * np.max(np.abs(grads_ref[key])), key
        layer, name = key.split(".")
        assert model.layers[layer].grads[name] is g


@pytest.mark.parametrize("variant", VARIANTS)
def test_whole_network_gradcheck(variant):
    """Finite differences on 8 random entries of every parameter, float64."""
    model = nl.LeNet5(variant, seed=4, dtype=np.float64)
    x, y = batch(3, seed=2)
    _, grads = model.loss(x, y)
    grads = {k: g.copy() for k, g in grads.items()}
    rng = np.random.default_rng(0)
    for key, p in model.params.items():
        picks = [tuple(int(rng.integers(s)) for s in p.shape) for _ in range(8)]
        numeric = numerical_gradient_at(lambda _p: model.loss(x, y)[0], p, picks)
        analytic = np.array([grads[key][i] for i in picks])
        assert rel_error(analytic, numeric) < TOLERANCE, key


@pytest.mark.parametrize("variant", VARIANTS)
def test_float32_model_agrees_with_float64(variant):
    """100 images: two chunks, and C1's products large enough to run in column blocks."""
    m64 = nl.LeNet5(variant, seed=12, dtype=np.float64)
    m32 = nl.LeNet5(variant, seed=12, dtype=np.float32)
    x, y = batch(100, seed=4)
    loss64, g64 = m64.loss(x, y)
    loss32, g32 = m32.loss(x.astype(np.float32), y)
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    for key in g64:
        assert g32[key].dtype == np.float32
        assert rel_error(g32[key], g64[key]) < 1e-4, key


def test_swapping_a_layer_changes_the_network():
    x, y = batch(2)
    model = nl.LeNet5(dtype=np.float64)
    before = model.forward(x)
    model.layers["act1"] = nl.ScaledTanh()
    model.layers["S2"] = nl.MaxPool2D()
    after = model.forward(x)
    assert after.shape == (2, 10) and not np.allclose(before, after)
    _, grads = model.loss(x, y)
    assert set(grads) == set(nl.PARAM_SHAPES)


def test_predict_batches_and_shape():
    model = nl.LeNet5("modern", seed=5)
    x, _ = batch(25, dtype=np.float32)
    model.chunk_size = 10
    labels = model.predict(x)
    assert labels.shape == (25,) and labels.dtype.kind == "i"
    assert labels.min() >= 0 and labels.max() <= 9
    np.testing.assert_array_equal(labels, np.argmax(model.forward(x), axis=1))
    assert model.forward(x).dtype == np.float32


@pytest.mark.parametrize("variant", VARIANTS)
def test_sgd_steps_lower_the_loss_on_a_fixed_batch(variant):
    model = nl.LeNet5(variant, seed=6)
    x, y = batch(32, seed=3, dtype=np.float32)
    opt = SGD(model.params, lr=0.05, momentum=0.9)
    first, grads = model.loss(x, y)
    for _ in range(10):
        opt.step(grads)
        loss, grads = model.loss(x, y)
    assert loss < 0.7 * first


def test_sgd_matches_torch_sgd():
    rng = np.random.default_rng(11)
    p = {"a": rng.standard_normal((3, 2)), "b": rng.standard_normal(4)}
    p_t = [torch.tensor(v.copy(), requires_grad=True) for v in p.values()]
    opt = SGD(p, lr=0.1, momentum=0.8, weight_decay=0.01)
    opt_t = torch.optim.SGD(p_t, lr=0.1, momentum=0.8, weight_decay=0.01)
    for _ in range(3):
        g = {k: rng.standard_normal(v.shape) for k, v in p.items()}
        opt.step(g)
        for t, gk in zip(p_t, g.values(), strict=True):
            t.grad = torch.tensor(gk)
        opt_t.step()
    for v, t in zip(p.values(), p_t, strict=True):
        np.testing.assert_allclose(v, t.detach().numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="grads have keys"):
        opt.step({"a": np.zeros((3, 2))})


def test_cosine_lr():
    assert cosine_lr(0, 100, 0.1) == pytest.approx(0.1)
    assert cosine_lr(50, 100, 0.1) == pytest.approx(0.05)
    assert cosine_lr(100, 100, 0.1, min_lr=0.01) == pytest.approx(0.01)


# --- persistence -----------------------------------------------------------------------------
def test_save_load_round_trip(tmp_path):
    model = nl.LeNet5("modern", seed=7)
    path = model.save(tmp_path / "m")
    assert path.endswith("m.npz")
    with np.load(path) as data:
        assert set(data.files) == set(nl.PARAM_SHAPES) | {"variant"}
        assert data["variant"].shape == () and str(data["variant"]) == "modern"
    loaded = nl.LeNet5.load(path)
    assert loaded.variant == "modern" and loaded.dtype == np.float32
    for key, value in model.params.items():
        np.testing.assert_array_equal(loaded.params[key], value)
    x, _ = batch(3, dtype=np.float32)
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))


def test_load_rejects_bad_files(tmp_path):
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"this is not a zip file")
    with pytest.raises(ValueError, match="could not read .*corrupt.npz"):
        nl.LeNet5.load(corrupt)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ValueError, match="single array, not an .npz archive"):
        nl.LeNet5.load(single)
    params = nl.LeNet5().params
    partial = tmp_path / "partial.npz"
    np.savez(partial, variant=np.array("classic"), **{k: params[k] for k in list(params)[:-1]})
    with pytest.raises(ValueError, match=r"missing keys \['OUT.bias'\]"):
        nl.LeNet5.load(partial)
    bad_variant = tmp_path / "variant.npz"
    np.savez(bad_variant, variant=np.array("lenet1"), **params)
    with pytest.raises(ValueError, match="variant"):
        nl.LeNet5.load(bad_variant)
    with pytest.raises(FileNotFoundError):
        nl.LeNet5.load(tmp_path / "missing.npz")


# --- training loop ---------------------------------------------------------------------------
def _separable_data(n: int, seed: int = 0):
    """Class k = a bright square at one of 10 positions: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    x = rng.normal(0, 0.1, (n, 1, 32, 32)).astype(np.float32)
    for i, k in enumerate(y):
        r, c = 4 + 6 * (k // 5), 2 + 6 * (k % 5)
        x[i, 0, r : r + 5, c : c + 5] += 1.0
    return x, y


def test_train_history_evaluate_and_callback():
    x, y = _separable_data(200)
    xv, yv = _separable_data(100, seed=1)
    model = nl.LeNet5("classic", seed=8)
    calls = []
    history = train(
        model, (x, y), epochs=3, batch_size=32, lr=0.05, val_data=(xv, yv), progress=False,
        callback=lambda e: calls.append(e.epoch) if e.kind == "epoch" else None,
    )  # fmt: skip
    assert calls == [1, 2, 3]
    assert set(history.series()) == {"epoch", "train_loss", "train_acc", "val_acc", "lr", "seconds"}
    assert history.epoch == [1, 2, 3]
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.val_acc[-1] == pytest.approx(evaluate(model, xv, yv))
    assert evaluate(model, xv, yv, batch_size=7) == np.mean(model.predict(xv) == yv)
    assert history.val_acc[-1] > 0.9
    assert all(s > 0 for s in history.seconds)
    # Cosine decay per step, 7 steps per epoch: the last step ran at step 20 of 21.
    assert history.lr == pytest.approx([cosine_lr(s, 21, 0.05) for s in (6, 13, 20)])

    stop = threading.Event()
    stopped = train(
        nl.LeNet5(seed=9), (x, y), epochs=5, batch_size=50, progress=False, stop=stop,
        callback=lambda e: stop.set() if e.kind == "epoch" and e.epoch >= 2 else None,
    )  # fmt: skip
    assert stopped.epoch == [1, 2] and stopped.val_acc == [None, None]


def test_train_early_stopping_restores_best(monkeypatch):
    x, y = _separable_data(64)
    model = nl.LeNet5(seed=10)
    accs = iter([0.5, 0.7, 0.6, 0.65, 0.9])
    snapshots = []

    def fake_evaluate(m, xv, yv, batch_size=1000):
        snapshots.append(m.params["OUT.bias"].copy())
        return next(accs)

    monkeypatch.setattr("lenet_ref.numpy_train.evaluate", fake_evaluate)
    history = train(model, (x, y), epochs=5, batch_size=32, val_data=(x, y), patience=2,
                    progress=False)  # fmt: skip
    assert history.epoch == [1, 2, 3, 4]  # best at 2, no gain at 3 and 4
    np.testing.assert_array_equal(model.params["OUT.bias"], snapshots[1])


def test_train_progress_bar_shows_loss_and_accuracy(capsys):
    x, y = _separable_data(40)
    train(nl.LeNet5(), (x, y), epochs=1, batch_size=16, val_data=(x, y), progress=True)
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "loss=" in err and "acc=" in err and "val_acc=" in err


def test_train_rejects_bad_arguments():
    x, y = _separable_data(8)
    with pytest.raises(ValueError, match="patience needs validation data"):
        train(nl.LeNet5(), (x, y), epochs=1, patience=2, progress=False)
    with pytest.raises(ValueError, match=r"\(N, 1, 32, 32\)"):
        train(nl.LeNet5(), (x[:, 0], y), epochs=1, progress=False)
    with pytest.raises(ValueError, match="one label per image"):
        evaluate(nl.LeNet5(), x, y[:3])
