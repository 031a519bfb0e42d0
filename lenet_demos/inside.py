"""Inside a trained LeNet-5: its filters, a digit's feature maps, its confusions and mistakes."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import matplotlib as mpl
import numpy as np
from matplotlib.colors import PowerNorm

from lenet_demos import render
from lenet_demos.base import WIDE, Demo, SettingError, mnist_test_digits, png_image
from lenet_demos.models import Activation, ConvWeights, DemoModel, as_demo_model

PER_PAGE = 12


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int = 10) -> np.ndarray:
    """counts[true, predicted] (classes, classes) int64."""
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(labels, dtype=np.int64), np.asarray(predicted)), 1)
    return counts


class InsideLeNet(Demo):
    """Tabs: filters (C1, C3), feature maps of a chosen digit, confusion matrix, mistakes.

    model: any model :class:`lenet_demos.models.DemoModel` accepts (or a DemoModel);
    n_test: how many MNIST test digits the confusion matrix and the mistakes use.
    """

    def __init__(self, model: Any, n_test: int = 10_000, scaling: str = "lecun") -> None:
        images, labels = mnist_test_digits()
        if not 1 <= n_test <= len(images):
            raise ValueError(f"n_test must be in 1..{len(images)}, got {n_test}.")
        self.images, self.labels = images[:n_test], labels[:n_test].astype(np.int64)
        self.digit = widgets.IntSlider(0, 0, n_test - 1, description="test digit #", style=WIDE)
        self.page = widgets.IntSlider(1, 1, 1, description="page", style=WIDE)
        self.filters_picture = png_image()
        self.maps_picture = png_image()
        self.confusion_picture = png_image()
        self.mistakes_picture = png_image()
        self.mistakes_text = widgets.HTML()
        self.tabs = widgets.Tab(
            [
                self.filters_picture,
                widgets.VBox([self.digit, self.maps_picture]),
                self.confusion_picture,
                widgets.VBox(
                    [widgets.HBox([self.page, self.mistakes_text]), self.mistakes_picture]
                ),
            ],  # fmt: skip
            titles=["Filters", "Feature maps", "Confusions", "Mistakes"],
        )
        self.summary = widgets.HTML()
        super().__init__(
            "Inside a trained LeNet-5",
            "What did it learn? Its filters, what a digit looks like layer by layer, which digits "
            "it confuses, and the ones it gets wrong.",
            [self.summary, self.tabs],
        )
        self.digit.observe(lambda _: self.run(self._draw_maps), "value")
        self.page.observe(lambda _: self.run(self._draw_mistakes), "value")
        self.set_model(model, scaling)

    def set_model(self, model: Any, scaling: str = "lecun") -> None:
        """Show ``model`` (for example the playground's ``trained_model``)."""
        self.model: DemoModel = as_demo_model(model, scaling)
        self.probabilities = self.model.probabilities(self.images)
        self.predicted = self.probabilities.argmax(1)
        self.wrong = np.flatnonzero(self.predicted != self.labels)
        # most confident mistakes first: those say the most about the model
        self.wrong = self.wrong[np.argsort(-self.probabilities[self.wrong].max(1), kind="stable")]
        acc = 1 - len(self.wrong) / len(self.labels)
        self.summary.value = (
            f'<div style="font-size:17px"><b>{self.model.name}</b> on {self.model.device}: '
            f"{acc:.2%} of {len(self.labels):,} test digits right, {len(self.wrong)} wrong.</div>"
        )
        self.page.max = max(1, -(-len(self.wrong) // PER_PAGE))
        for draw in (
            self._draw_filters,
            self._draw_maps,
            self._draw_confusion,
            self._draw_mistakes,
        ):
            self.run(draw)

    # --- tabs ----------------------------------------------------------------------------------

    def _draw_filters(self) -> None:
        convs = self.model.conv_weights()
        if not convs:
            self.filters_picture.value = b""
            raise SettingError("This model has no convolution layers to show.")
        self.filters_picture.value = _filters_figure(convs[0], convs[1] if len(convs) > 1 else None)

    def _draw_maps(self) -> None:
        i = self.digit.value
        stages = self.model.activations(self.images[i])
        probs = self.probabilities[i]
        self.maps_picture.value = _maps_figure(stages, probs, int(self.labels[i]))

    def _draw_confusion(self) -> None:
        counts = confusion_matrix(self.labels, self.predicted)
        rates = counts / np.maximum(counts.sum(1, keepdims=True), 1)
        with render.style():
            fig = render.figure(7.5, 6.5)
            ax = fig.subplots()
            ax.imshow(rates, cmap="Blues", norm=PowerNorm(0.3, vmin=0, vmax=1))
            for (r, c), v in np.ndenumerate(counts):
                if v:
                    colour = "white" if rates[r, c] > 0.5 else ("black" if r == c else render.RED)
                    ax.text(c, r, str(v), ha="center", va="center", fontsize=11, color=colour)
            ax.set_xticks(range(10))
            ax.set_yticks(range(10))
            ax.set_xlabel("predicted digit")
            ax.set_ylabel("true digit")
            acc = np.trace(counts) / counts.sum()
            ax.set_title(f"confusion matrix: {acc:.2%} right (red: mistakes)")
            self.confusion_picture.value = render.to_png(fig)

    def _draw_mistakes(self) -> None:
        if len(self.wrong) == 0:
            self.mistakes_text.value = "No mistakes on these test digits."
            self.mistakes_picture.value = b""
            return
        page = self.page.value
        chosen = self.wrong[(page - 1) * PER_PAGE : page * PER_PAGE]
        self.mistakes_text.value = (
            f'<div style="font-size:16px;padding-left:12px">{len(self.wrong)} mistakes, most '
            f"confident first; showing {len(chosen)} (page {page} of {self.page.max}).</div>"
        )
        self.mistakes_picture.value = _mistakes_figure(
            self.images[chosen], self.labels[chosen], self.probabilities[chosen], chosen
        )


# --- figures -----------------------------------------------------------------------------------


def tile(maps: np.ndarray, cols: int, gap: int = 1) -> np.ndarray:
    """Maps (C, h, w) -> one (rows*(h+gap)-gap, cols*(w+gap)-gap) mosaic, NaN between tiles."""
    c, h, w = maps.shape
    rows = -(-c // cols)
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan)
    for i in range(c):
        r, q = divmod(i, cols)
        out[r * (h + gap) : r * (h + gap) + h, q * (w + gap) : q * (w + gap) + w] = maps[i]
    return out


def _normalised(maps: np.ndarray) -> np.ndarray:
    """Each map scaled to [0, 1] on its own (constant maps become 0.5)."""
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    return np.where(span > 0, (maps - low) / np.where(span > 0, span, 1), 0.5)


def _mosaic(ax: Any, mosaic: np.ndarray, title: str, cmap: str, **kw: Any) -> None:
    colours = mpl.colormaps[cmap].with_extremes(bad="white")
    render.image_axes(ax, mosaic, title, cmap=colours, **kw)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _filters_figure(c1: ConvWeights, c3: ConvWeights | None) -> bytes:
    with render.style():
        fig = render.figure(12, 2.8 + (5.6 if c3 is not None else 0))
        ratios = [2.8, 5.6] if c3 is not None else [2.8]
        axes = np.atleast_1d(fig.subplots(len(ratios), 1, height_ratios=ratios))
        limit = max(float(np.abs(c1.weight).max()), 1e-9)
        title = f"{c1.name}: {len(c1.weight)} filters of 5x5 (red: positive, blue: negative)"
        mosaic = tile(c1.weight[:, 0], len(c1.weight))
        _mosaic(axes[0], mosaic, title, "RdBu_r", vmin=-limit, vmax=limit)
        if c3 is not None:
            out, inp = c3.weight.shape[:2]
            # one column per output map, one row per input map
            kernels = c3.weight.transpose(1, 0, 2, 3).reshape(out * inp, *c3.weight.shape[2:])
            if c3.mask is not None:
                kernels = np.where(c3.mask.T.reshape(-1, 1, 1), kernels, np.nan)
            limit = max(float(np.nanmax(np.abs(kernels))), 1e-9)
            title = f"{c3.name}: {out} maps (columns) x {inp} input maps (rows)" + (
                "; blank: not connected (Table I)" if c3.mask is not None else ""
            )
            _mosaic(axes[1], tile(kernels, out), title, "RdBu_r", vmin=-limit, vmax=limit)
        return render.to_png(fig)


def _maps_figure(stages: list[Activation], probs: np.ndarray, label: int) -> bytes:
    maps = [s for s in stages[1:] if s.value.ndim == 3]
    vectors = [s for s in stages[1:] if s.value.ndim == 1][:-1]  # the last one is the output
    cols = 8
    heights = [2.8] + [1.5 * -(-s.value.shape[0] // cols) for s in maps] + [0.8] * len(vectors)
    with render.style():
        fig = render.figure(12, sum(heights) + 0.4)
        top, *rest = np.atleast_1d(fig.subfigures(len(heights), 1, height_ratios=heights))
        ax_in, ax_p = top.subplots(1, 2, width_ratios=[1, 3])
        render.image_axes(ax_in, stages[0].value[0], f"input (a {label})")
        colours = [render.GREY] * 10
        colours[int(np.argmax(probs))] = render.RED
        colours[label] = render.GREEN
        ax_p.bar(range(10), probs * 100, color=colours)
        ax_p.set_xticks(range(10))
        ax_p.set_ylim(0, 100)
        ax_p.set_ylabel("%")
        ax_p.set_title(f"output: says {int(np.argmax(probs))} ({probs.max():.0%})")
        for sub, stage in zip(rest, maps + vectors, strict=True):
            ax = sub.subplots()
            if stage.value.ndim == 3:
                c, h, w = stage.value.shape
                mosaic = tile(_normalised(stage.value), min(cols, c), gap=max(1, h // 5))
                _mosaic(ax, mosaic, f"{stage.name}: {c} maps of {h}x{w}", "viridis")
            else:
                render.image_axes(ax, stage.value[None], cmap="viridis", aspect="auto")
                ax.set_title(f"{stage.name}: {len(stage.value)} values")
            ax.title.set_horizontalalignment("left")
            ax.set_title(ax.get_title(), loc="left")
        return render.to_png(fig)


def _mistakes_figure(
    images: np.ndarray, labels: np.ndarray, probs: np.ndarray, index: np.ndarray
) -> bytes:
    cols = 6
    rows = -(-len(images) // cols)
    with render.style():
        fig = render.figure(12, 3.1 * rows)
        grid = fig.subplots(2 * rows, cols, squeeze=False, height_ratios=[1.6, 1] * rows)
        for k in range(rows * cols):
            ax_img, ax_bar = grid[2 * (k // cols), k % cols], grid[2 * (k // cols) + 1, k % cols]
            if k >= len(images):
                ax_img.axis("off")
                ax_bar.axis("off")
                continue
            said = int(np.argmax(probs[k]))
            render.image_axes(ax_img, images[k], f"#{index[k]}: {labels[k]} → {said}")
            colours = [render.GREY] * 10
            colours[said], colours[int(labels[k])] = render.RED, render.GREEN
            ax_bar.bar(range(10), probs[k] * 100, color=colours)
            ax_bar.set_ylim(0, 100)
            ax_bar.set_xticks(range(10))
            ax_bar.tick_params(labelsize=9)
            ax_bar.set_yticks([])
            ax_bar.set_title(f"{probs[k, said]:.0%} sure", fontsize=11, fontweight="normal")
        fig.suptitle("Test digits it gets wrong: true → predicted (green: true, red: said)")
        return render.to_png(fig)
