"""Draw a digit: mouse strokes on an ipycanvas -> a 28x28 MNIST-style digit -> LeNet-5's guess.

The strokes are kept in Python and rasterised here (not read back from the browser), the way
MNIST was made: the ink's bounding box is scaled to fit 20x20 (keeping its aspect ratio) and its
centre of mass is put at the centre of the 28x28 field; LeNet-5 then sees it padded to 32x32.

The ink the user sees is drawn by ipycanvas, whose draw commands are messages to the browsers
connected at that moment: a canvas keeps no state that a browser connecting later could read.
Voila runs every cell before the page connects, so everything drawn then (the white paper, the
pen's width) was lost; and ipycanvas's canvas manager sends "draw on this canvas" only when the
target canvas changes, so every later stroke went to no canvas at all in that browser (its
console: "Cannot read properties of undefined (reading 'setAttr')"), and the box stayed empty
while the digit was still read correctly from the strokes kept here. :meth:`DrawDigit.repaint`
therefore sends the whole picture, pen settings and target included, whenever a browser says
that its canvas is ready, and each stroke names its canvas again.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np
from ipycanvas import Canvas, hold_canvas
from PIL import Image, ImageDraw

from lenet_demos import render
from lenet_demos.base import Demo, SettingError, png_image
from lenet_demos.models import as_demo_model

SIDE = 280  # canvas pixels (10 per MNIST pixel)
PEN = 22  # pen width in canvas pixels (MNIST strokes are 2-3 px of 28)


def rasterize(
    strokes: list[list[tuple[float, float]]], side: int = SIDE, pen: int = PEN
) -> np.ndarray:
    """Strokes (lists of (x, y) canvas points) -> uint8 (28, 28) digit, MNIST-style.

    Raises SettingError for an empty drawing.
    """
    points = [p for stroke in strokes for p in stroke]
    if not points:
        raise SettingError("Draw a digit first: the canvas is empty.")
    canvas = Image.new("L", (side, side), 0)
    pen_down = ImageDraw.Draw(canvas)
    for stroke in strokes:
        for x, y in stroke:
            pen_down.ellipse([x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2], fill=255)
        if len(stroke) > 1:
            pen_down.line([tuple(p) for p in stroke], fill=255, width=pen, joint="curve")
    ink = np.asarray(canvas)
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    box = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    scale = 20 / max(box.shape)
    h, w = max(1, round(box.shape[0] * scale)), max(1, round(box.shape[1] * scale))
    small = np.asarray(Image.fromarray(box).resize((w, h), Image.Resampling.BOX), dtype=float)
    total = small.sum()
    cy = (small.sum(1) * np.arange(h)).sum() / total
    cx = (small.sum(0) * np.arange(w)).sum() / total
    top = int(np.clip(round(13.5 - cy), 0, 28 - h))
    left = int(np.clip(round(13.5 - cx), 0, 28 - w))
    digit = np.zeros((28, 28))
    digit[top : top + h, left : left + w] = small
    return np.clip(np.rint(digit), 0, 255).astype(np.uint8)


class DrawDigit(Demo):
    """A canvas to draw on, the 32x32 input it becomes, and the model's probabilities."""

    def __init__(self, model: Any, scaling: str = "lecun") -> None:
        self.model = as_demo_model(model, scaling)
        self.canvas = Canvas(width=SIDE, height=SIDE)
        self.clear_button = widgets.Button(
            description="Clear", icon="eraser", layout=widgets.Layout(width="120px", height="40px")
        )
        self.answer = widgets.HTML()
        self.picture = png_image()
        self.strokes: list[list[tuple[float, float]]] = []
        self._down = False
        self.digit: np.ndarray | None = None
        self.probabilities: np.ndarray | None = None
        frame = widgets.Layout(
            width=f"{SIDE + 6}px", height=f"{SIDE + 6}px", border="3px solid #1f5fa8"
        )
        left = widgets.VBox(
            [widgets.Box([self.canvas], layout=frame), self.clear_button],
            layout=widgets.Layout(width=f"{SIDE + 30}px", min_width=f"{SIDE + 30}px"),
        )
        super().__init__(
            "Draw a digit",
            "Draw a digit with the mouse; LeNet-5 sees it as a 32x32 input and guesses.",
            [widgets.HBox([left, widgets.VBox([self.answer, self.picture])])],
        )
        self.canvas.on_mouse_down(self.pen_down)
        self.canvas.on_mouse_move(self.pen_move)
        self.canvas.on_mouse_up(self.pen_up)
        self.canvas.on_mouse_out(self.pen_up)
        # A browser that opens the page (Voila, a reload) missed every command sent before.
        self.canvas.on_client_ready(self.repaint)
        self.clear_button.on_click(lambda _: self.clear())
        self.clear()

    # mouse handlers (ipycanvas calls them with canvas coordinates)
    def pen_down(self, x: float, y: float) -> None:
        self._down = True
        self.strokes.append([(x, y)])
        with hold_canvas():
            self._target_again()
            self._pen()
            self.canvas.fill_circle(x, y, PEN / 2)

    def pen_move(self, x: float, y: float) -> None:
        if not self._down:
            return
        x0, y0 = self.strokes[-1][-1]
        self.strokes[-1].append((x, y))
        self.canvas.stroke_line(x0, y0, x, y)

    def pen_up(self, x: float, y: float) -> None:
        if self._down:
            self._down = False
            self.refresh()

    def clear(self) -> None:
        self.strokes = []
        self.digit = self.probabilities = None
        self.repaint()
        self.answer.value = '<div style="font-size:20px">Draw a digit in the box.</div>'
        self.picture.value = _figure(None, None)
        self.say("")

    def repaint(self) -> None:
        """Send the whole picture to every connected browser: the target canvas, white paper,
        the pen's settings and every stroke so far (browsers keep nothing they missed)."""
        with hold_canvas():  # one message
            self._target_again()
            self.canvas.clear()
            self.canvas.fill_style = "white"
            self.canvas.fill_rect(0, 0, SIDE, SIDE)
            self._pen()
            for stroke in self.strokes:
                x, y = stroke[0]
                self.canvas.fill_circle(x, y, PEN / 2)
                if len(stroke) > 1:
                    self.canvas.stroke_lines(stroke)

    def _pen(self) -> None:
        # Assigning a style sends it even when the value is unchanged (ipycanvas's __setattr__).
        self.canvas.line_width = PEN
        self.canvas.line_cap = "round"
        self.canvas.line_join = "round"
        self.canvas.fill_style = "black"
        self.canvas.stroke_style = "black"

    def _target_again(self) -> None:
        # ipycanvas's manager names the target canvas only when it changes; a browser that
        # connected later never received that name. Forgetting it makes the next command name
        # this canvas again (a private attribute: tests/test_demos.py checks that it exists).
        manager = self.canvas._canvas_manager
        if getattr(manager, "_current_canvas", None) is self.canvas:
            manager._current_canvas = None

    def refresh(self) -> None:
        """Rasterise the strokes, predict, and show the input and the probabilities."""
        if self.run(self._predict):
            self.say("")

    def _predict(self) -> None:
        self.digit = rasterize(self.strokes)
        self.probabilities = self.model.probabilities(self.digit[None])[0]
        guess = int(np.argmax(self.probabilities))
        self.picture.value = _figure(self.model.inputs(self.digit)[0, 0], self.probabilities)
        self.answer.value = (
            f'<div style="font-size:22px">LeNet-5 says <b style="font-size:34px">{guess}</b> '
            f"({self.probabilities[guess]:.0%} sure)</div>"
        )


def _figure(inputs: np.ndarray | None, probs: np.ndarray | None) -> bytes:
    with render.style():
        fig = render.figure(8.5, 3.4)
        ax_in, ax_p = fig.subplots(1, 2, width_ratios=[1, 1.7])
        render.image_axes(
            ax_in, inputs if inputs is not None else np.zeros((32, 32)), "the 32x32 input"
        )
        values = probs * 100 if probs is not None else np.zeros(10)
        colours = [render.GREY] * 10
        if probs is not None:
            colours[int(np.argmax(probs))] = render.BLUE
        ax_p.bar(range(10), values, color=colours)
        ax_p.set_xticks(range(10))
        ax_p.set_ylim(0, 100)
        ax_p.set_ylabel("%")
        ax_p.set_title("probabilities")
        return render.to_png(fig)
