"""The interactive demos (lenet_demos), driven from Python: set a control, check what changed.

Numbers are checked against independent oracles (direct loops in NumPy, finite differences,
a model evaluated without the demos' adapter). The browser half lives in tests/browser/.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from torch import nn

from lenet_demos import conv, draw, inside, models, playground, pooling
from lenet_demos.base import SettingError, mnist_test_digits
from lenet_ref import numpy_lenet
from lenet_ref.checkpoints import save_checkpoint
from lenet_ref.lecun1998 import LeNet1998
from lenet_ref.torch_lenet import LeNet5
from lenet_ref.torch_train import evaluate, to_device
from lenet_ref.transforms import lenet_inputs

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained() -> LeNet5:
    """A reference LeNet-5 trained for a few seconds (about 95% right)."""
    model, _ = models.quick_train("modern", n_train=6_000, epochs=2)
    return model


def student_net() -> nn.Module:
    """A student's own LeNet-5 with other names and activation modules."""
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5), nn.Tanh(),
        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84),
        nn.Tanh(), nn.Linear(84, 10),
    )  # fmt: skip


def changes(widget, act) -> bool:
    """Whether ``act()`` changed the PNG bytes of an Image widget."""
    before = widget.value
    act()
    return widget.value != before


# --- convolution -------------------------------------------------------------------------------


def conv_oracle(image, kernel, stride, padding):
    x = np.pad(image, padding)
    k = kernel.shape[0]
    m = (x.shape[0] - k) // stride + 1
    out = np.zeros((m, m))
    for r in range(m):
        for c in range(m):
            out[r, c] = (x[r * stride : r * stride + k, c * stride : c * stride + k] * kernel).sum()
    return out


@pytest.mark.parametrize(
    ("n", "stride", "padding"), [(28, 1, 0), (28, 2, 2), (14, 3, 1), (5, 1, 2)]
)
def test_feature_map_matches_a_direct_loop(n, stride, padding):
    rng = np.random.default_rng(n)
    image, kernel = rng.random((n, n)), rng.normal(size=(5, 5))
    got = conv.feature_map(image, kernel, stride, padding, "cpu")
    want = conv_oracle(image, kernel, stride, padding)
    assert got.shape == (conv.output_size(n, 5, padding, stride),) * 2
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_convolution_explorer_reacts_to_every_control(trained):
    demo = conv.ConvolutionExplorer(trained)
    assert demo.formula.value.count("24 x 24") == 1
    assert changes(demo.picture, lambda: setattr(demo.stride, "value", 2))
    assert "12 x 12" in demo.formula.value  # floor((28 - 5) / 2) + 1
    assert changes(demo.picture, lambda: setattr(demo.digit, "value", 5))
    assert changes(demo.picture, lambda: setattr(demo.padding, "value", 2))
    assert "14 x 14" in demo.formula.value

    demo.preset.value = "learned C1 filter 3"
    np.testing.assert_allclose(
        demo.kernel, trained.C1.weight[2, 0].detach().numpy().round(3), atol=1e-6
    )
    demo.preset.value = "blur (box)"
    np.testing.assert_allclose(demo.kernel, np.full((5, 5), 0.04))
    assert changes(demo.picture, lambda: setattr(demo.cells[12], "value", 3.0))
    assert demo.preset.value == conv.CUSTOM and demo.kernel[2, 2] == 3.0


def test_a_kernel_larger_than_the_padded_input_gets_a_message_not_a_traceback():
    demo = conv.ConvolutionExplorer()
    before = demo.picture.value
    demo.size.value = 3
    assert "does not fit" in demo.message.value and "padding 1" in demo.message.value
    assert demo.picture.value == before and "no output" in demo.formula.value
    demo.padding.value = 1
    assert demo.message.value == "" and "1 x 1" in demo.formula.value
    with pytest.raises(SettingError):
        conv.output_size(3, 5, 0, 1)


# --- pooling and activations -------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["average", "max"])
def test_pool_matches_numpy_blocks(mode):
    image = np.random.default_rng(0).random((28, 28))
    blocks = image.reshape(14, 2, 14, 2)
    want = blocks.mean((1, 3)) if mode == "average" else blocks.max((1, 3))
    np.testing.assert_allclose(pooling.pool(image, mode, 2, 2, "cpu"), want, rtol=1e-6)


@pytest.mark.parametrize("name", models.ACTIVATIONS)
def test_activation_derivatives_match_finite_differences(name):
    a = np.array([-3.0, -1.2, -0.3, 0.4, 1.1, 2.5])
    f, df = pooling.activation_and_derivative(name, a)
    h = 1e-6
    numeric = (pooling.activation_and_derivative(name, a + h)[0] - f) / h
    np.testing.assert_allclose(df, numeric, rtol=1e-4, atol=1e-6)


def test_pooling_and_activation_explorer():
    demo = pooling.PoolingActivationExplorer()
    assert changes(demo.pool_picture, lambda: setattr(demo.mode, "value", "max"))
    assert "14 x 14" in demo.pool_text.value
    demo.size.value = 5
    demo.window.value = 6
    assert "larger than the 5x5 input" in demo.message.value
    demo.window.value = 2
    assert demo.message.value == ""

    assert changes(demo.act_picture, lambda: setattr(demo.activation, "value", "sigmoid"))
    demo.point.value = 0.0
    assert "f'(a) = <b>0.25</b>" in demo.act_text.value  # sigmoid'(0) = 1/4
    demo.activation.value = "relu"
    demo.point.value = -2.0
    assert "f'(a) = <b>0</b>" in demo.act_text.value


# --- models ------------------------------------------------------------------------------------


def test_demo_model_reads_a_students_module_like_the_reference():
    net = student_net()
    adapter = models.DemoModel(net)
    images, _ = mnist_test_digits()
    stages = adapter.activations(images[0])
    shapes = [s.value.shape for s in stages]
    assert shapes[:5] == [(1, 32, 32), (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5)]
    x = torch.from_numpy(lenet_inputs(images[:1]))
    with torch.no_grad():
        c1 = torch.tanh(net[0](x))[0].numpy()  # after the activation module
        logits = net(x)
    np.testing.assert_allclose(stages[1].value, c1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        adapter.probabilities(images[:1]), torch.softmax(logits, 1).numpy(), rtol=1e-5
    )
    assert [c.weight.shape for c in adapter.conv_weights()] == [(6, 1, 5, 5), (16, 6, 5, 5)]


def test_demo_model_reads_the_numpy_model_and_refuses_other_things():
    np_model = numpy_lenet.LeNet5("classic", seed=3)
    adapter = models.DemoModel(np_model)
    images, _ = mnist_test_digits()
    want = np_model.forward(lenet_inputs(images[:4]))
    np.testing.assert_allclose(adapter.logits(images[:4]), want, rtol=1e-5)
    assert [s.value.shape for s in adapter.activations(images[0])][1] == (6, 28, 28)
    with pytest.raises(TypeError, match="the demos need a LeNet-5"):
        models.DemoModel("my model")
    with pytest.raises(ValueError, match="uint8 digits"):
        adapter.logits(images[:2].astype(np.float32))


def test_demo_lenet_uses_the_chosen_activation_pooling_and_dropout():
    model = models.build_model("classic", "sigmoid", "max", dropout=0.5)
    assert isinstance(model.S2, nn.MaxPool2d)
    x = torch.randn(8, 1, 32, 32)
    model.eval()
    c1 = torch.sigmoid(model.C1(x))
    hooked = {}
    model.S2.register_forward_hook(lambda m, i, o: hooked.update(input=i[0]))
    out = model(x)
    torch.testing.assert_close(hooked["input"], c1)
    torch.testing.assert_close(model(x), out)  # eval: dropout off, deterministic
    model.train()
    assert not torch.allclose(model(x), model(x))  # training: dropout on
    with pytest.raises(ValueError, match="dropout"):
        models.build_model("classic", dropout=1.0)


def test_demo_checkpoints_live_beside_the_mnist_cache(tmp_path, monkeypatch):
    from lenet_kit.data import course_cache_dir, default_cache_dir

    monkeypatch.delenv("LENET_DEMOS_CACHE", raising=False)
    monkeypatch.delenv("LENET_DATA_DIR", raising=False)
    assert models.cache_dir() == course_cache_dir() / "demos"
    assert default_cache_dir().parent == models.cache_dir().parent
    monkeypatch.setenv("LENET_DEMOS_CACHE", str(tmp_path))
    assert models.checkpoint_path("modern") == tmp_path / "lenet5-modern.pt"


def test_reference_model_loads_the_cached_checkpoint(trained, tmp_path, monkeypatch):
    monkeypatch.setenv("LENET_DEMOS_CACHE", str(tmp_path))
    save_checkpoint(models.checkpoint_path("modern"), trained, 2, {"test_acc_2000": 0.95})
    demo, where = models.reference_model("modern", device="cpu")
    assert "loaded" in where and "95.0%" in where
    images, _ = mnist_test_digits()
    torch.testing.assert_close(
        torch.from_numpy(demo.logits(images[:5])).float(),
        trained(torch.from_numpy(lenet_inputs(images[:5]))).detach(),
        rtol=1e-5,
        atol=1e-5,
    )


# --- inside a trained model --------------------------------------------------------------------


def test_inside_shows_the_models_real_confusions_and_mistakes(trained):
    n = 1_000
    demo = inside.InsideLeNet(trained, n_test=n)
    images, labels = mnist_test_digits()
    data = to_device(images[:n], labels[:n], "cpu", scaling="lecun")
    accuracy = evaluate(trained, data)
    with torch.no_grad():
        predicted = trained(data.images).argmax(1).numpy()
    counts = np.zeros((10, 10), dtype=int)
    for t, p in zip(labels[:n], predicted, strict=True):
        counts[t, p] += 1
    np.testing.assert_array_equal(inside.confusion_matrix(demo.labels, demo.predicted), counts)
    assert f"{accuracy:.2%}" in demo.summary.value
    assert sorted(demo.wrong) == sorted(np.flatnonzero(predicted != labels[:n]))
    assert 0 < len(demo.wrong) < 200
    assert all(p.value for p in (demo.filters_picture, demo.confusion_picture))
    assert changes(demo.maps_picture, lambda: setattr(demo.digit, "value", 7))
    if demo.page.max > 1:
        assert changes(demo.mistakes_picture, lambda: setattr(demo.page, "value", 2))
    assert demo.message.value == ""


@pytest.mark.parametrize("kind", ["lecun1998", "student", "numpy"])
def test_inside_works_with_other_models(kind):
    model = {
        "lecun1998": LeNet1998,
        "student": student_net,
        "numpy": lambda: numpy_lenet.LeNet5("modern"),
    }[kind]()
    demo = inside.InsideLeNet(model, n_test=200)
    assert demo.message.value == ""
    assert demo.filters_picture.value and demo.maps_picture.value
    if kind == "lecun1998":
        (_, c3) = demo.model.conv_weights()
        assert c3.mask.sum() == 60 and np.all(c3.weight[~c3.mask] == 0)


# --- drawing -----------------------------------------------------------------------------------


def test_rasterize_makes_an_mnist_style_digit():
    stroke = [(140.0, y) for y in np.linspace(40, 240, 30)]
    digit = draw.rasterize([stroke])
    rows = np.flatnonzero(digit.max(1) > 0)
    assert digit.dtype == np.uint8 and digit.shape == (28, 28)
    assert rows[-1] - rows[0] + 1 == 20  # the longer side is scaled to 20 pixels
    mass = digit / digit.sum()
    cy, cx = (mass.sum(1) * np.arange(28)).sum(), (mass.sum(0) * np.arange(28)).sum()
    assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1
    with pytest.raises(SettingError, match="Draw a digit first"):
        draw.rasterize([])


def test_draw_a_one_with_the_mouse(trained):
    demo = draw.DrawDigit(trained)
    demo.refresh()
    assert "Draw a digit first" in demo.message.value
    demo.pen_down(150, 40)
    for y in range(50, 250, 10):
        demo.pen_move(148 - y / 40, y)
    before = demo.picture.value
    demo.pen_up(145, 245)
    assert demo.picture.value != before and demo.message.value == ""
    expected = models.DemoModel(trained).probabilities(draw.rasterize(demo.strokes)[None])[0]
    np.testing.assert_allclose(demo.probabilities, expected)
    assert int(np.argmax(demo.probabilities)) == 1, demo.probabilities.round(2)
    assert "says <b" in demo.answer.value
    demo.clear()
    assert demo.strokes == [] and demo.probabilities is None


def sent_commands(monkeypatch, canvas) -> list[list]:
    """Record the draw commands ipycanvas sends to the browsers (one list per message)."""
    from ipycanvas.canvas import COMMANDS

    names = {code: name for name, code in COMMANDS.items()}
    sent: list[list] = []

    def record(command, buffers=()):
        batch = command if isinstance(command[0], list) else [command]
        sent.append([names[c[0]] for c in batch])

    monkeypatch.setattr(canvas._canvas_manager, "_send_custom", record)
    return sent


def test_a_browser_that_connects_later_gets_the_whole_picture(trained, monkeypatch):
    # Voila runs the cells before the page connects: what was drawn then never reached it, and
    # ipycanvas names the target canvas only when it changes (the browser's first stroke went
    # to no canvas: no ink). Every client_ready repaints, naming the canvas first.
    demo = draw.DrawDigit(trained)
    manager = demo.canvas._canvas_manager
    assert manager._current_canvas is demo.canvas  # the private attribute draw.py relies on
    sent = sent_commands(monkeypatch, demo.canvas)
    demo.pen_down(150, 40)
    demo.pen_move(150, 60)
    demo.pen_up(150, 60)
    demo.canvas._handle_frontend_event(None, {"event": "client_ready"}, [])
    assert sent[0][0] == "switchCanvas" and "fillCircle" in sent[0]  # the stroke names its canvas
    repaint = sent[-1]
    assert repaint[0] == "switchCanvas", repaint
    for command in ("clear", "fillRect", "set", "fillCircle", "strokeLines"):
        assert command in repaint, (command, repaint)
    assert repaint.index("fillRect") < repaint.index("fillCircle")  # paper, then ink
    assert int(np.argmax(demo.probabilities)) in range(10)  # still read from the strokes


# --- training playground -----------------------------------------------------------------------


def test_playground_refuses_settings_that_make_no_sense():
    demo = playground.TrainingPlayground(device="cpu")
    demo.lr.value = 0.0
    assert demo.start() is False and not demo.running
    assert "learning rate of 0" in demo.message.value
    demo.lr.value = 0.003
    demo.train_size.value = 2_000
    demo.batch_size.value = 1024
    assert demo.start() is True  # 1024 <= 2000
    demo.stop()
    assert demo.wait(60)
    demo.batch_size.value = 512
    demo.train_size.value = 2_000
    demo.variant.value = "lecun1998"
    assert demo.activation.disabled and demo.pooling.disabled
    demo.variant.value = "modern"
    assert (demo.activation.value, demo.pooling.value) == ("relu", "max")


def test_playground_trains_in_the_background_keeps_runs_and_stops_at_once():
    demo = playground.TrainingPlayground(device="cpu", model_factory=student_net)
    demo.train_size.value = 2_000
    demo.batch_size.value = 256
    demo.epochs.value = 1
    blank = demo.curves.value
    assert demo.start() and demo.running  # start() returned while training goes on
    assert demo.train_button.disabled and not demo.stop_button.disabled
    assert demo.wait(120)
    run = demo.current
    assert run.state == "finished" and len(run.losses) == 8 and len(run.val_acc) == 1
    assert run.losses[-1] < run.losses[0]
    assert "Finished" in demo.status.value and demo.progress.value == demo.progress.max == 8
    assert demo.curves.value != blank and "this run" in demo.table.value
    assert demo.trained_model is not None
    demo.keep()
    assert demo.kept == [run]

    demo.variant.value = playground.YOUR_MODEL
    demo.train_size.value = 60_000
    demo.epochs.value = 10
    demo.batch_size.value = 64
    assert demo.start()
    deadline = time.monotonic() + 120
    while not demo.current.losses and time.monotonic() < deadline:
        time.sleep(0.05)
    demo.stop()
    assert demo.wait(60)
    second = demo.current
    assert second.state == "stopped" and 0 < len(second.losses) < 9375 // 10
    assert "Stopped" in demo.status.value and not demo.train_button.disabled
    assert demo.kept == [run] and "kept" in demo.table.value


def test_the_build_command_starts_without_a_runpy_warning(tmp_path):
    # `python -m lenet_demos.models` ran a module the package had already imported (runpy's
    # RuntimeWarning, the first line `make demos` printed); `python -m lenet_demos` does not.
    import subprocess
    import sys

    env = {**os.environ, "LENET_DEMOS_CACHE": str(tmp_path)}
    (tmp_path / "lenet5-classic.pt").write_bytes(b"")  # present: nothing to train
    done = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-m", "lenet_demos", "build"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0 and "RuntimeWarning" not in done.stderr, done.stderr
    assert "demo checkpoint present" in done.stdout
    assert "-m lenet_demos build" in (REPO / "Makefile").read_text()


def test_building_the_checkpoint_shows_progress(monkeypatch):
    seen = {}

    def fake_train(*args, **kwargs):
        seen.update(kwargs)
        raise SystemExit  # stop before training

    monkeypatch.setattr(models, "train", fake_train)
    with pytest.raises(SystemExit):
        models.build_checkpoint()
    assert seen["progress"] is True


# --- the notebook ------------------------------------------------------------------------------


def test_demos_notebooks_are_ungraded_and_without_outputs():
    for folder in ("solutions", "course"):
        nb = json.loads((REPO / folder / "demos" / "demos.ipynb").read_text())
        for cell in nb["cells"]:
            assert not cell.get("metadata", {}).get("nbgrader", {}).get("grade"), folder
            assert cell.get("outputs", []) == [] and cell.get("execution_count") is None


@pytest.mark.slow
def test_demos_notebook_executes_headless_without_errors(trained, tmp_path, monkeypatch):
    from autograder.notebooks import errors, execute, executed_all, stderr_cells

    save_checkpoint(tmp_path / "lenet5-classic.pt", trained, 2, {"test_acc_2000": 0.95})
    nb = nbformat.read(REPO / "course" / "demos" / "demos.ipynb", as_version=4)
    monkeypatch.setenv("LENET_DEMOS_CACHE", str(tmp_path))  # the kernel inherits the environment
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    execute(nb, tmp_path, timeout=300)
    assert errors(nb) == [] and stderr_cells(nb) == [] and executed_all(nb)
    first = nb.cells[1].outputs[0].text
    assert "loaded" in first, first
    views = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert sum("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in views) == 5
