"""Convolution explorer: a digit, a 5x5 kernel, stride and padding -> the feature map.

Deep-learning "convolution" (``torch.nn.functional.conv2d``) slides the kernel without flipping
it (cross-correlation); the demo computes exactly that, on the device of the model it is given.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
import torch.nn.functional as F

from lenet_demos import render
from lenet_demos.base import COLUMN, WIDE, Demo, SettingError, mnist_test_digits, png_image
from lenet_demos.models import as_demo_model
from lenet_ref.device import pick_device

K = 5  # LeNet-5's kernels are 5x5

PRESETS: dict[str, np.ndarray] = {
    "horizontal edges": np.array([[1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [0] * 5, [-1] * 5, [-1] * 5]),
    "vertical edges": np.array([[1, 1, 0, -1, -1]] * 5),
    "all edges (Laplacian)": -np.ones((5, 5)) + np.pad([[24.0]], 2),
    "blur (box)": np.full((5, 5), 1 / 25),
    "blur (Gaussian)": np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256,
    "sharpen": np.pad([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], 1).astype(float),
    "identity": np.pad([[1.0]], 2),
}
CUSTOM = "custom (edit the numbers)"

#: Input sizes: the label and the side length n.
SIZES = {
    "32x32: the padded digit LeNet-5 sees": 32,
    "28x28: the MNIST digit": 28,
    "14x14: as small as an S2 map": 14,
    "5x5: as small as an S4 map": 5,
    "3x3: tiny": 3,
}


def output_size(n: int, k: int, padding: int, stride: int) -> int:
    """Side of the feature map: floor((n + 2p - k) / s) + 1, or SettingError if k does not fit."""
    if stride < 1:
        raise SettingError(f"The stride must be at least 1, got {stride}.")
    if padding < 0:
        raise SettingError(f"The padding cannot be negative, got {padding}.")
    if k > n + 2 * padding:
        need = -(-(k - n) // 2)
        raise SettingError(
            f"The {k}x{k} kernel does not fit in the {n}x{n} input padded to "
            f"{n + 2 * padding}x{n + 2 * padding}. Use padding {need} or more, or a larger input."
        )
    return (n + 2 * padding - k) // stride + 1


def resize(image01: np.ndarray, n: int) -> np.ndarray:
    """A 28x28 digit in [0, 1] as an n x n input: padded to 32, kept, or area-averaged down."""
    if n == 32:
        return np.pad(image01, 2)
    if n == 28:
        return image01
    t = torch.as_tensor(image01, dtype=torch.float32)[None, None]
    return F.interpolate(t, size=(n, n), mode="area")[0, 0].numpy()


def feature_map(
    image: np.ndarray,
    kernel: np.ndarray,
    stride: int = 1,
    padding: int = 0,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Cross-correlate one (n, n) image with one (k, k) kernel: (m, m), m = output_size(...)."""
    output_size(image.shape[0], kernel.shape[0], padding, stride)
    device = pick_device(device)
    x = torch.as_tensor(image, dtype=torch.float32, device=device)[None, None]
    w = torch.as_tensor(kernel, dtype=torch.float32, device=device)[None, None]
    return F.conv2d(x, w, stride=stride, padding=padding)[0, 0].cpu().numpy()


class ConvolutionExplorer(Demo):
    """Pick a digit and a kernel (or edit it), set stride and padding, watch the feature map."""

    def __init__(self, model: Any = None, device: str | torch.device | None = None) -> None:
        self.device = pick_device(device) if model is None else as_demo_model(model).device
        self.images, self.labels = mnist_test_digits()
        self.kernels = {name: np.asarray(k, dtype=float) for name, k in PRESETS.items()}
        if model is not None:
            convs = as_demo_model(model).conv_weights()
            if convs:
                for i, w in enumerate(convs[0].weight[:, 0]):
                    if w.shape == (K, K):
                        self.kernels[f"learned C1 filter {i + 1}"] = w
        self._quiet = False

        self.digit = widgets.IntSlider(0, 0, 999, description="test digit #", style=WIDE)
        wide = widgets.Layout(width="440px")
        self.size = widgets.Dropdown(
            options=SIZES, value=28, description="input", style=WIDE, layout=wide
        )
        self.preset = widgets.Dropdown(
            options=[*self.kernels, CUSTOM], value="vertical edges", description="kernel",
            style=WIDE, layout=widgets.Layout(width="440px"),
        )  # fmt: skip
        self.stride = widgets.IntSlider(1, 1, 5, description="stride", style=WIDE)
        self.padding = widgets.IntSlider(0, 0, 4, description="padding", style=WIDE)
        self.cells = [
            widgets.FloatText(0.0, step=0.1, layout=widgets.Layout(width="68px"))
            for _ in range(K * K)
        ]
        grid = widgets.GridBox(
            self.cells, layout=widgets.Layout(grid_template_columns=f"repeat({K}, 70px)")
        )
        self.formula = widgets.HTML()
        self.picture = png_image()
        controls = widgets.VBox(
            [self.digit, self.size, self.preset, self.stride, self.padding], layout=COLUMN
        )
        kernel = widgets.VBox(
            [widgets.HTML("<b>kernel weights</b> (type to edit)"), grid, self.formula]
        )
        super().__init__(
            "Convolution explorer",
            "Slide a 5x5 kernel over a digit. Try the edge kernels, a learned C1 filter, "
            "stride 2, or a tiny input without padding.",
            [widgets.HBox([controls, kernel]), self.picture],
        )
        self._load_preset()
        for control in (self.digit, self.size, self.stride, self.padding):
            control.observe(lambda _: self.refresh(), "value")
        self.preset.observe(lambda _: self._load_preset(), "value")
        for cell in self.cells:
            cell.observe(self._edited, "value")

    @property
    def kernel(self) -> np.ndarray:
        """The kernel in the editable grid, (5, 5)."""
        return np.array([c.value for c in self.cells], dtype=float).reshape(K, K)

    def _load_preset(self) -> None:
        if self.preset.value == CUSTOM:
            return
        self._quiet = True
        try:
            for cell, v in zip(self.cells, self.kernels[self.preset.value].ravel(), strict=True):
                cell.value = round(float(v), 3)
        finally:
            self._quiet = False
        self.refresh()

    def _edited(self, _change: Any) -> None:
        if self._quiet:
            return
        if self.preset.value != CUSTOM:
            self._quiet = True
            self.preset.value = CUSTOM
            self._quiet = False
        self.refresh()

    def refresh(self) -> None:
        self.run(self._draw)

    def _draw(self) -> None:
        n, p, s = self.size.value, self.padding.value, self.stride.value
        k = K
        try:
            m = output_size(n, k, p, s)
        except SettingError:
            self.formula.value = _formula(n, k, p, s, None)
            raise
        self.formula.value = _formula(n, k, p, s, m)
        label = int(self.labels[self.digit.value])
        image = resize(self.images[self.digit.value] / 255.0, n)
        fmap = feature_map(image, self.kernel, s, p, self.device)
        left = (n + 2 * p - k) % s
        self.say(
            f"With stride {s}, the last {left} row(s) and column(s) of the padded input are never "
            "covered by the kernel."
            if left
            else "",
            "info",
        )
        self.picture.value = _figure(image, p, self.kernel, fmap, label, self.preset.value)


def _formula(n: int, k: int, p: int, s: int, m: int | None) -> str:
    result = f"= <b>{m} x {m}</b>" if m is not None else "&lt; 1: <b>no output</b>"
    return (
        '<div style="font-size:17px;margin-top:8px">output side = '
        "&lfloor;(n + 2p &minus; k) / s&rfloor; + 1<br>"
        f"= &lfloor;({n} + 2&middot;{p} &minus; {k}) / {s}&rfloor; + 1 {result}</div>"
    )


def _figure(
    image: np.ndarray, padding: int, kernel: np.ndarray, fmap: np.ndarray, label: int, name: str
) -> bytes:
    with render.style():
        fig = render.figure(11, 4.0)
        axes = fig.subplots(1, 3, width_ratios=[1, 0.8, 1])
        padded = np.pad(image, padding)
        n = image.shape[0]
        render.image_axes(axes[0], padded, f"input: a {label}, {n}x{n}, padding {padding}")
        if padding:
            axes[0].add_patch(_rect(padding - 0.5, n, render.ORANGE))
        limit = max(float(np.abs(kernel).max()), 1e-9)
        render.image_axes(axes[1], kernel, f"kernel: {name.split(' (')[0]}", cmap="RdBu_r")
        axes[1].images[0].set_clim(-limit, limit)
        for (r, c), v in np.ndenumerate(kernel):
            colour = "white" if abs(v) > 0.6 * limit else "black"
            axes[1].text(c, r, f"{v:.2g}", ha="center", va="center", fontsize=11, color=colour)
        m = fmap.shape[0]
        limit = max(float(np.abs(fmap).max()), 1e-9)
        render.image_axes(axes[2], fmap, f"feature map: {m}x{m}", cmap="RdBu_r")
        axes[2].images[0].set_clim(-limit, limit)
        return render.to_png(fig)


def _rect(start: float, size: int, colour: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((start, start), size, size, fill=False, edgecolor=colour, linewidth=2)
