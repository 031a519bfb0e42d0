"""Pooling and activation explorer: average vs max pooling; activations and their derivatives.

Derivatives are computed by autograd (not typed in), and the demo shows how a gradient shrinks
when it passes back through several layers of the same activation: f'(a) ** depth.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
import torch.nn.functional as F

from lenet_demos import render
from lenet_demos.base import COLUMN, WIDE, Demo, SettingError, mnist_test_digits, png_image
from lenet_demos.conv import SIZES, resize
from lenet_demos.models import ACTIVATIONS, activation_fn
from lenet_ref.device import pick_device

#: Below this fraction of its largest value, a derivative counts as "vanishing" in the picture.
VANISH = 0.1


def pooled_size(n: int, window: int, stride: int) -> int:
    """Side of the pooled map, floor((n - w) / s) + 1, or SettingError if the window is too big."""
    if window > n:
        raise SettingError(
            f"The {window}x{window} window is larger than the {n}x{n} input: choose a window of "
            f"at most {n}, or a larger input."
        )
    return (n - window) // stride + 1


def pool(image: np.ndarray, mode: str, window: int, stride: int, device: Any = None) -> np.ndarray:
    """Average or max pooling of one (n, n) image -> (m, m), m = pooled_size(n, window, stride)."""
    pooled_size(image.shape[0], window, stride)
    x = torch.as_tensor(image, dtype=torch.float32, device=pick_device(device))[None, None]
    fn = {"average": F.avg_pool2d, "max": F.max_pool2d}[mode]
    return fn(x, window, stride)[0, 0].cpu().numpy()


def activation_and_derivative(name: str, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """f(a) and f'(a) for the activation ``name``, the derivative by autograd."""
    t = torch.as_tensor(a, dtype=torch.float64).requires_grad_(True)
    y = activation_fn(name)(t)
    (dy,) = torch.autograd.grad(y.sum(), t)
    return y.detach().numpy(), dy.numpy()


class PoolingActivationExplorer(Demo):
    """Two panels: pooling a digit, and an activation with its derivative and gradient decay."""

    def __init__(self, device: Any = None) -> None:
        self.device = pick_device(device)
        self.images, self.labels = mnist_test_digits()
        self.digit = widgets.IntSlider(0, 0, 999, description="test digit #", style=WIDE)
        self.size = widgets.Dropdown(
            options=SIZES, value=28, description="input", style=WIDE,
            layout=widgets.Layout(width="440px"),
        )  # fmt: skip
        self.mode = widgets.ToggleButtons(
            options=["average", "max"], value="average", description="pooling", style=WIDE
        )
        self.window = widgets.IntSlider(2, 1, 8, description="window", style=WIDE)
        self.stride = widgets.IntSlider(2, 1, 8, description="stride", style=WIDE)
        self.pool_text = widgets.HTML()
        self.pool_picture = png_image()

        self.activation = widgets.ToggleButtons(
            options=list(ACTIVATIONS), value="tanh", description="activation", style=WIDE
        )
        self.point = widgets.FloatSlider(
            2.0, min=-6, max=6, step=0.1, description="input a", style=WIDE
        )
        self.depth = widgets.IntSlider(
            5, 1, 12, description="layers deep", style=WIDE,
        )  # fmt: skip
        self.act_text = widgets.HTML()
        self.act_picture = png_image()

        pooling = widgets.VBox([
            widgets.HBox([widgets.VBox([self.digit, self.size, self.mode], layout=COLUMN),
                          widgets.VBox([self.window, self.stride, self.pool_text])]),
            self.pool_picture,
        ])  # fmt: skip
        activation = widgets.VBox([
            widgets.HBox([widgets.VBox([self.point, self.depth], layout=COLUMN), self.act_text]),
            self.activation,
            self.act_picture,
        ])  # fmt: skip
        super().__init__(
            "Pooling and activations",
            "Pooling shrinks maps: compare average and max. Activations squash: find where their "
            "derivative, and so the gradient, vanishes.",
            [widgets.HTML("<h3>Pooling</h3>"), pooling,
             widgets.HTML("<h3>Activation functions</h3>"), activation],
        )  # fmt: skip
        for c in (self.digit, self.size, self.mode, self.window, self.stride):
            c.observe(lambda _: self.refresh_pooling(), "value")
        for c in (self.activation, self.point, self.depth):
            c.observe(lambda _: self.refresh_activation(), "value")
        self.refresh_pooling()
        self.refresh_activation()

    def refresh_pooling(self) -> None:
        if self.run(self._draw_pooling):
            self.say("")

    def refresh_activation(self) -> None:
        self.run(self._draw_activation)

    def _draw_pooling(self) -> None:
        n, w, s = self.size.value, self.window.value, self.stride.value
        try:
            m = pooled_size(n, w, s)
        except SettingError:
            self.pool_text.value = ""
            raise
        image = resize(self.images[self.digit.value] / 255.0, n)
        out = pool(image, self.mode.value, w, s, self.device)
        overlap = " (windows overlap)" if s < w else " (pixels skipped)" if s > w else ""
        self.pool_text.value = (
            f'<div style="font-size:17px">output side = &lfloor;({n} &minus; {w}) / {s}&rfloor; + 1'
            f" = <b>{m} x {m}</b>{overlap}<br>{n * n} values &rarr; {m * m}</div>"
        )
        label = int(self.labels[self.digit.value])
        with render.style():
            fig = render.figure(8, 3.8)
            axes = fig.subplots(1, 2)
            render.image_axes(axes[0], image, f"input: a {label}, {n}x{n}", vmin=0, vmax=1)
            render.image_axes(
                axes[1], out, f"{self.mode.value} pool {w}x{w}/{s}: {m}x{m}", vmin=0, vmax=1
            )
            self.pool_picture.value = render.to_png(fig)

    def _draw_activation(self) -> None:
        name, a0, depth = self.activation.value, self.point.value, self.depth.value
        a = np.linspace(-6, 6, 601)
        f, df = activation_and_derivative(name, a)
        f0, df0 = activation_and_derivative(name, np.array([a0]))
        f0, df0 = float(f0[0]), float(df0[0])
        vanish = df < VANISH * df.max()
        with render.style():
            fig = render.figure(10, 3.8)
            ax_f, ax_d = fig.subplots(1, 2)
            for ax in (ax_f, ax_d):
                ax.axhline(0, color=render.GREY, lw=0.8)
                ax.axvline(0, color=render.GREY, lw=0.8)
                band = ax.get_xaxis_transform()
                ax.fill_between(a, 0, 1, where=vanish, color=render.RED, alpha=0.12,
                                transform=band, label="f' < 10% of peak")  # fmt: skip
                ax.set_xlabel("a (input of the activation)")
            ax_f.plot(a, f, color=render.BLUE, lw=3)
            ax_f.plot([a0], [f0], "o", color=render.ORANGE, ms=10)
            ax_f.set_title(f"{name}: f(a)")
            ax_d.plot(a, df, color=render.GREEN, lw=3, label="f'(a)")
            ax_d.plot(a, df**depth, color=render.ORANGE, lw=2, ls="--",
                      label=f"f'(a)^{depth}: {depth} layers")  # fmt: skip
            ax_d.plot([a0], [df0], "o", color=render.ORANGE, ms=10)
            ax_d.set_title("derivative f'(a)")
            ax_d.legend(loc="upper right", fontsize=10)
            self.act_picture.value = render.to_png(fig)
        self.act_text.value = (
            f'<div style="font-size:17px">at a = {a0:.1f}: f(a) = {f0:.3g}, '
            f"f'(a) = <b>{df0:.3g}</b><br>through {depth} such layers the gradient is "
            f"multiplied by about <b>{df0**depth:.2g}</b></div>"
        )
