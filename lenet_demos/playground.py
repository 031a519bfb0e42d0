"""Training playground: choose a LeNet-5 and its training settings, train, watch, compare.

Training runs in a background thread (:func:`lenet_ref.torch_train.train` with a callback and a
stop event), so the kernel stays responsive; the thread updates the widgets itself, a few times a
second. The curves watch validation digits (the last 2,000 training digits, never trained on);
the test digits are measured once, when a run ends. Nothing trains until the Train button is
pressed, so executing the notebook headless never trains.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from torch import nn

from lenet_demos import render
from lenet_demos.base import COLUMN, WIDE, Demo, SettingError, png_image
from lenet_demos.models import ACTIVATIONS, POOLINGS, DemoModel, build_model, trainable
from lenet_kit.data import load_mnist
from lenet_ref.device import pick_device
from lenet_ref.torch_train import DeviceDataset, evaluate, to_device, train
from lenet_ref.training import TrainEvent

YOUR_MODEL = "your model"
#: Validation digits: the last of the 60,000 training digits, held out of every training set.
VALIDATION_SIZE = 2_000
#: Training set sizes: the first digits of the training set ("all" stops before the held-out).
TRAIN_SIZES = {
    "2,000 digits": 2_000,
    "6,000 digits": 6_000,
    "20,000": 20_000,
    f"all {60_000 - VALIDATION_SIZE:,} (+ {VALIDATION_SIZE:,} held out)": 60_000,
}
TEST_SIZE = 2_000
#: Seconds between widget updates from the training thread.
UPDATE_EVERY = 0.25
DRAW_EVERY = 1.0


@dataclass
class Run:
    """One training run: its settings, every batch's loss, per-epoch accuracies (training and
    validation) and the test accuracy measured once at the end."""

    label: str
    epochs: int = 1
    batches_per_epoch: int = 1
    losses: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: float | None = None
    seconds: float = 0.0
    state: str = "running"  # running, finished, stopped, diverged, failed


class TrainingPlayground(Demo):
    """Settings, Train / Stop / Keep buttons, a progress bar and live loss and accuracy curves.

    device: where to train (default :func:`lenet_ref.device.pick_device`).
    model_factory: optional callable returning a fresh ``nn.Module`` of your own
    ((N, 1, 32, 32) -> (N, 10) logits); it appears as the variant "your model".
    After a run, ``trained_model`` is a :class:`DemoModel` of the model it trained.
    """

    def __init__(
        self,
        device: str | torch.device | None = None,
        model_factory: Callable[[], nn.Module] | None = None,
    ) -> None:
        self.device = pick_device(device)
        self.model_factory = model_factory
        variants = ["classic", "modern", "lecun1998"] + ([YOUR_MODEL] if model_factory else [])
        self.variant = widgets.Dropdown(options=variants, description="variant", style=WIDE)
        self.activation = widgets.Dropdown(
            options=ACTIVATIONS, value="tanh", description="activation", style=WIDE
        )
        self.pooling = widgets.Dropdown(
            options=POOLINGS, value="average", description="pooling", style=WIDE
        )
        self.dropout = widgets.FloatSlider(
            0.0, min=0.0, max=0.8, step=0.1, description="dropout", style=WIDE
        )
        self.optimizer = widgets.Dropdown(
            options=["adam", "sgd"], description="optimizer", style=WIDE
        )
        self.lr = widgets.FloatText(0.003, step=0.001, description="learning rate", style=WIDE)
        self.batch_size = widgets.Dropdown(
            options=[16, 32, 64, 128, 256, 512, 1024], value=128, description="batch size",
            style=WIDE,
        )  # fmt: skip
        self.epochs = widgets.IntSlider(2, 1, 10, description="epochs", style=WIDE)
        self.train_size = widgets.Dropdown(
            options=TRAIN_SIZES, value=6_000, description="training set", style=WIDE
        )
        button = widgets.Layout(width="120px", height="40px")
        self.train_button = widgets.Button(
            description="Train", button_style="success", icon="play", layout=button
        )
        self.stop_button = widgets.Button(
            description="Stop", button_style="danger", icon="stop", disabled=True, layout=button
        )
        self.keep_button = widgets.Button(
            description="Keep run", icon="thumb-tack", disabled=True, layout=button,
            tooltip="keep this run's curves to compare with the next runs",
        )  # fmt: skip
        self.clear_button = widgets.Button(
            description="Clear", icon="trash", layout=button, tooltip="forget the kept runs"
        )
        self.progress = widgets.IntProgress(
            0, 0, 1, description="progress", style=WIDE, layout=widgets.Layout(width="420px")
        )
        self.status = widgets.HTML(f"Ready. Training runs on {self.device}.")
        self.curves = png_image()
        self.table = widgets.HTML()

        controls = widgets.VBox(
            [self.variant, self.activation, self.pooling, self.dropout, self.optimizer, self.lr,
             self.batch_size, self.epochs, self.train_size],
            layout=COLUMN,
        )  # fmt: skip
        buttons = widgets.HBox(
            [self.train_button, self.stop_button, self.keep_button, self.clear_button]
        )
        right = widgets.VBox([buttons, self.progress, self.status, self.table])
        super().__init__(
            "Training playground",
            "Pick a network and settings, press Train, and watch it learn; Keep a run to compare "
            "it with the next one.",
            [widgets.HBox([controls, right]), self.curves],
        )
        self.current: Run | None = None
        self.kept: list[Run] = []
        self.trained_model: DemoModel | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._data: dict[int | str, DeviceDataset] = {}
        self._last_update = self._last_draw = 0.0

        self.variant.observe(self._variant_changed, "value")
        self.train_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.keep_button.on_click(lambda _: self.keep())
        self.clear_button.on_click(lambda _: self.clear())
        self._draw()

    # --- controls ------------------------------------------------------------------------------

    def _variant_changed(self, change: dict) -> None:
        defaults = {"classic": ("tanh", "average"), "modern": ("relu", "max")}
        if change["new"] in defaults:
            self.activation.value, self.pooling.value = defaults[change["new"]]
        fixed = change["new"] not in defaults
        for control in (self.activation, self.pooling, self.dropout):
            control.disabled = fixed

    def settings(self) -> dict[str, Any]:
        """The chosen settings, checked; SettingError says what makes no sense."""
        lr = self.lr.value
        if not math.isfinite(lr) or lr <= 0:
            raise SettingError(
                f"A learning rate of {lr:g} cannot train: each step moves the weights by "
                "learning rate x gradient. Try 0.003 with Adam or 0.05 with SGD."
            )
        if lr > 10:
            raise SettingError(f"A learning rate of {lr:g} only makes the loss explode: try 0.003.")
        if self.batch_size.value > self.train_size.value:
            raise SettingError(
                f"A batch of {self.batch_size.value} is larger than the {self.train_size.value:,} "
                "training digits: choose a smaller batch or a larger training set."
            )
        return {
            "variant": self.variant.value,
            "activation": self.activation.value,
            "pooling": self.pooling.value,
            "dropout": self.dropout.value,
            "optimizer": self.optimizer.value,
            "lr": float(lr),
            "batch_size": self.batch_size.value,
            "epochs": self.epochs.value,
            "n_train": min(self.train_size.value, 60_000 - VALIDATION_SIZE),
        }

    def _label(self, s: dict[str, Any]) -> str:
        if s["variant"] in ("lecun1998", YOUR_MODEL):
            net = s["variant"]
        else:
            net = f"{s['activation']}+{s['pooling']}" + (
                f", dropout {s['dropout']:.1f}" if s["dropout"] else ""
            )
        return f"{net}, {s['optimizer']} lr {s['lr']:g}, batch {s['batch_size']}"

    def make_model(self, s: dict[str, Any]) -> nn.Module:
        if s["variant"] == YOUR_MODEL:
            return trainable(self.model_factory())
        return build_model(s["variant"], s["activation"], s["pooling"], s["dropout"])

    # --- start, stop, keep ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> bool:
        """Check the settings and start training in a background thread (False if refused)."""
        if self.running:
            self.say("A run is in progress: stop it first.", "info")
            return False
        holder: dict[str, Any] = {}
        if not self.run(lambda: holder.update(s=self.settings())):
            return False
        s = holder["s"]
        self.say("")
        self._stop.clear()
        self.current = Run(self._label(s), epochs=s["epochs"])
        self.train_button.disabled, self.stop_button.disabled = True, False
        self.keep_button.disabled = True
        self.progress.value, self.progress.bar_style = 0, "info"
        self.status.value = "Preparing the data and the model..."
        self._thread = threading.Thread(target=self._work, args=(s,), daemon=True, name="lenet")
        self._thread.start()
        return True

    def stop(self) -> None:
        """Ask the training thread to stop before its next batch."""
        self._stop.set()
        self.status.value = "Stopping..."

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current run ends; True if it did within ``timeout`` seconds."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def keep(self) -> None:
        """Keep the last run's curves on the plots (grey) to compare with the next runs."""
        if self.current is None or self.current.state == "running":
            self.say("Nothing to keep yet: train a run first.", "info")
            return
        if self.current not in self.kept:
            self.kept.append(self.current)
        self.keep_button.disabled = True
        self._draw()

    def clear(self) -> None:
        self.kept.clear()
        self._draw()

    # --- the training thread -------------------------------------------------------------------

    def _dataset(self, key: int | str) -> DeviceDataset:
        """The first ``key`` training digits, or "validation" or "test", on the device (once)."""
        if key not in self._data:
            split = "test" if key == "test" else "train"
            images, labels = load_mnist(split)
            part = {"test": slice(TEST_SIZE), "validation": slice(-VALIDATION_SIZE, None)}.get(
                key, slice(key)
            )
            self._data[key] = to_device(images[part], labels[part], self.device, scaling="lecun")
        return self._data[key]

    def _work(self, s: dict[str, Any]) -> None:
        run = self.current
        start = time.perf_counter()
        try:
            train_data, val_data = self._dataset(s["n_train"]), self._dataset("validation")
            torch.manual_seed(0)
            model = self.make_model(s)
            run.batches_per_epoch = math.ceil(s["n_train"] / s["batch_size"])
            self.progress.max = s["epochs"] * run.batches_per_epoch
            train(
                model, train_data, epochs=s["epochs"], batch_size=s["batch_size"],
                optimizer=s["optimizer"], lr=s["lr"], schedule="constant", device=self.device,
                val_data=val_data, progress=False, callback=self._on_event, stop=self._stop,
            )  # fmt: skip
            if run.state != "diverged":
                run.test_acc = evaluate(model, self._dataset("test"))
            model.eval()
            self.trained_model = DemoModel(model, scaling="lecun", name=run.label)
            if run.state == "running":
                run.state = "stopped" if self._stop.is_set() else "finished"
        except Exception as err:  # noqa: BLE001 - shown in the demo, never as a traceback
            run.state = "failed"
            self.say(f"Training failed: {type(err).__name__}: {err}")
        finally:
            run.seconds = time.perf_counter() - start
            self._finish(run)

    def _on_event(self, event: TrainEvent) -> None:
        run = self.current
        if event.kind == "batch":
            run.losses.append(event.loss)
            if not math.isfinite(event.loss):
                run.state = "diverged"
                self._stop.set()
        else:
            run.val_acc.append(event.record.val_acc)
            run.train_acc.append(event.record.train_acc)
        now = time.perf_counter()
        if event.kind == "epoch" or now - self._last_update > UPDATE_EVERY:
            self._last_update = now
            self.progress.value = event.step
            acc = f", validation accuracy {run.val_acc[-1]:.1%}" if run.val_acc else ""
            self.status.value = (
                f"epoch {event.epoch}, batch {event.batch + 1}/{event.batches_per_epoch}: "
                f"loss {event.loss:.3f}{acc}"
            )
        if event.kind == "epoch" or now - self._last_draw > DRAW_EVERY:
            self._last_draw = now
            self._draw()

    def _finish(self, run: Run) -> None:
        acc = "no complete epoch"
        if run.val_acc:
            acc = f"validation accuracy {run.val_acc[-1]:.1%}"
        if run.test_acc is not None:
            acc += f", test accuracy {run.test_acc:.1%} ({TEST_SIZE:,} test digits)"
        text = {
            "finished": f"Finished in {run.seconds:.1f} s: {acc}.",
            "stopped": f"Stopped after {len(run.losses)} batch(es) ({run.seconds:.1f} s): {acc}.",
            "diverged": "The loss became NaN (diverged): lower the learning rate and train again.",
            "failed": "Training failed (see the message below).",
        }[run.state]
        self.status.value = text
        self.progress.bar_style = {"finished": "success", "stopped": "warning"}.get(
            run.state, "danger"
        )
        self.train_button.disabled, self.stop_button.disabled = False, True
        self.keep_button.disabled = run.state not in ("finished", "stopped") or not run.losses
        self._draw()

    # --- pictures ------------------------------------------------------------------------------

    def _draw(self) -> None:
        runs = [*self.kept]
        if self.current is not None and self.current not in runs:
            runs.append(self.current)
        self.curves.value = _curves(runs, self.current)
        rows = "".join(
            f"<tr><td>{'kept' if r in self.kept else 'this run'}</td><td>{r.label}</td>"
            f"<td>{r.val_acc[-1]:.1%}</td><td>{_percent(r.test_acc)}</td>"
            f"<td>{r.seconds:.1f} s</td></tr>"
            for r in runs
            if r.val_acc
        )
        self.table.value = (
            '<table style="font-size:15px"><tr><th></th><th>run</th><th>validation acc.</th>'
            f"<th>test acc.</th><th>time</th></tr>{rows}</table>"
            if rows
            else ""
        )


def _percent(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "-"


def _smooth(values: list[float], width: int) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if len(v) < width or width < 2:
        return v
    kernel = np.ones(width) / width
    head = np.cumsum(v[: width - 1]) / np.arange(1, width)
    return np.concatenate([head, np.convolve(v, kernel, mode="valid")])


def _curves(runs: list[Run], current: Run | None) -> bytes:
    with render.style():
        fig = render.figure(10, 3.6)
        ax_loss, ax_acc = fig.subplots(1, 2)
        greys = ["#7a7a7a", "#b0b0b0", "#4d4d4d", "#c9c9c9"]
        for i, run in enumerate(runs):
            this = run is current
            colour = (render.BLUE, render.ORANGE) if this else (greys[i % 4],) * 2
            style = "-" if this else "--"
            if run.losses:
                x = np.arange(1, len(run.losses) + 1) / run.batches_per_epoch
                width = max(1, run.batches_per_epoch // 10)
                ax_loss.plot(x, _smooth(run.losses, width), style, color=colour[0], lw=2,
                             label=run.label if len(runs) > 1 else None)  # fmt: skip
            if run.val_acc:
                epochs = np.arange(1, len(run.val_acc) + 1)
                ax_acc.plot(epochs, np.array(run.val_acc) * 100, style + "o", color=colour[1],
                            lw=2, ms=7, label="validation" if this else None)  # fmt: skip
                ax_acc.plot(epochs, np.array(run.train_acc) * 100, ":", color=colour[1], lw=1.5,
                            label="training" if this else None)  # fmt: skip
        longest = max((r.epochs for r in runs), default=1)
        ax_loss.set_xlim(0, longest)
        ax_acc.set_xlim(0.5, longest + 0.5)
        ax_loss.set_title("training loss")
        ax_loss.set_xlabel("epoch")
        ax_acc.set_title("accuracy (%)")
        ax_acc.set_xlabel("epoch")
        if not runs or not runs[-1].losses:
            ax_loss.text(0.5, 0.5, "press Train", ha="center", va="center", fontsize=16,
                         color=render.GREY, transform=ax_loss.transAxes)  # fmt: skip
        if len(runs) > 1:
            ax_loss.legend(fontsize=9, loc="upper right")
        if ax_acc.get_legend_handles_labels()[0]:
            ax_acc.legend(loc="lower right")
            ax_acc.xaxis.get_major_locator().set_params(integer=True)
        return render.to_png(fig)
