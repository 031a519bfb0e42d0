"""Pictures for the notebooks: digits, pixel values, bar charts. Each returns its Figure."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np


def show_digits(
    images: np.ndarray,
    labels: Sequence[int] | None = None,
    *,
    cols: int = 8,
    title: str | None = None,
    size: float = 1.2,
) -> plt.Figure:
    """Show a grid of digits. images: (N, H, W) or (N, 1, H, W), any scale; labels: (N,)."""
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[:, 0]
    if images.ndim != 3:
        raise ValueError(f"show_digits expects (N, H, W) images, got shape {images.shape}.")
    n = len(images)
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * size * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap="gray_r")
            if labels is not None:
                ax.set_title(str(int(labels[i])), fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_pixel_values(image: np.ndarray, *, title: str | None = None) -> plt.Figure:
    """Show a small image with each pixel's value written on it. image: (H, W), H, W <= 32."""
    image = np.asarray(image)
    if image.ndim != 2 or max(image.shape) > 32:
        raise ValueError(f"show_pixel_values expects one small (H, W) image, got {image.shape}.")
    h, w = image.shape
    fig, ax = plt.subplots(figsize=(w * 0.42, h * 0.42))
    ax.imshow(image, cmap="gray_r")
    threshold = (float(image.max()) + float(image.min())) / 2
    for (r, c), v in np.ndenumerate(image):
        text = f"{v:.2g}" if np.issubdtype(image.dtype, np.floating) else str(v)
        ax.text(
            c,
            r,
            text,
            ha="center",
            va="center",
            fontsize=6,
            color="white" if v > threshold else "black",
        )
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def bar_counts(
    counts: Sequence[int], *, labels: Sequence[str] | None = None, title: str = ""
) -> plt.Figure:
    """A bar chart of counts (for example images per digit)."""
    counts = np.asarray(counts)
    labels = list(labels) if labels is not None else [str(i) for i in range(len(counts))]
    fig, ax = plt.subplots(figsize=(6, 2.6))
    ax.bar(labels, counts, color="#4c72b0")
    for i, v in enumerate(counts):
        ax.text(i, v, f"{v:,}", ha="center", va="bottom", fontsize=7)
    ax.set_ylabel("count")
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig
