"""Figures for the demos: a projector-friendly style and Figure -> PNG bytes.

Demos draw with :class:`matplotlib.figure.Figure` directly (never ``pyplot``): no global state,
so a training thread can redraw while the kernel runs other cells, and nothing pops up or leaks
when a notebook is executed headless.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: Sizes chosen to be readable on a projector from the back of a room.
STYLE = {
    "font.size": 13,
    "axes.titlesize": 15,
    "axes.titleweight": "bold",
    "axes.labelsize": 13,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 12,
    "figure.titlesize": 17,
    "figure.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
}

#: Colours used consistently across demos.
BLUE, ORANGE, GREEN, RED, GREY = "#1f5fa8", "#e07b00", "#2a9d3a", "#c62828", "#9e9e9e"
DPI = 100


@contextmanager
def style() -> Iterator[None]:
    """Apply :data:`STYLE` while a figure is built."""
    with mpl.rc_context(STYLE):
        yield


def figure(width: float, height: float) -> Figure:
    """A new figure of ``width`` x ``height`` inches (no pyplot involved)."""
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def to_png(fig: Figure) -> bytes:
    """The figure as PNG bytes (rendered with the Agg backend)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return buf.getvalue()


def image_axes(ax: Axes, image: np.ndarray, title: str = "", cmap: str = "gray_r", **kw) -> None:
    """Show one (H, W) array on ``ax`` without ticks, with a title."""
    ax.imshow(image, cmap=cmap, interpolation="nearest", **kw)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color(GREY)
    if title:
        ax.set_title(title)


def message_html(text: str, kind: str = "warning") -> str:
    """A short boxed message for an HTML widget ("warning", "info" or "ok")."""
    colours = {
        "warning": ("#fff4e5", "#b35c00"),
        "info": ("#e8f1fb", BLUE),
        "ok": ("#e9f7ec", GREEN),
    }
    background, border = colours[kind]
    return (
        f'<div style="background:{background};border-left:5px solid {border};padding:6px 12px;'
        f'font-size:16px;line-height:1.4;margin:4px 0">{text}</div>'
    )


def title_html(title: str, subtitle: str = "") -> str:
    """A demo's heading: large title and one line saying what to try."""
    sub = f'<div style="font-size:16px;color:#444">{subtitle}</div>' if subtitle else ""
    return f'<div style="font-size:24px;font-weight:bold;margin:4px 0 2px 0">{title}</div>{sub}'
