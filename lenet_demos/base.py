"""What every demo shares: a title, a message line instead of tracebacks, the MNIST test digits."""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import numpy as np

from lenet_demos import render
from lenet_kit.data import load_mnist


class SettingError(ValueError):
    """Settings that make no sense; the demo shows the message instead of a result."""


@functools.lru_cache(maxsize=1)
def mnist_test_digits() -> tuple[np.ndarray, np.ndarray]:
    """MNIST test images uint8 (10000, 28, 28) and labels (10000,) (loaded once)."""
    return load_mnist("test")


def png_image(width: str | None = None) -> widgets.Image:
    """An empty PNG image widget that scales down to fit its column."""
    layout = widgets.Layout(
        max_width="100%", width=width, height="auto", object_fit="contain", align_self="flex-start"
    )
    return widgets.Image(format="png", layout=layout)


WIDE = {"description_width": "140px"}
#: The column of controls beside a demo's picture.
COLUMN = widgets.Layout(width="470px", min_width="470px")

#: Larger widget text for a projector (scoped to the demos' boxes).
CSS = (
    "<style>.lenet-demo { --jp-widgets-font-size: 16px; --jp-widgets-inline-height: 34px; "
    "--jp-widgets-inline-label-width: 140px; }</style>"
)


class Demo(widgets.VBox):
    """A demo: title, controls and pictures in a column, and one line for messages.

    Subclasses build their widgets, then call ``super().__init__`` with their ``body``;
    ``run(fn)`` calls ``fn`` and turns a :class:`SettingError` (or any unexpected error) into a
    short message in the demo, so a front end never shows a traceback.
    """

    def __init__(self, title: str, subtitle: str, body: list[widgets.Widget]) -> None:
        self.message = widgets.HTML(layout=widgets.Layout(min_height="10px"))
        self.heading = widgets.HTML(CSS + render.title_html(title, subtitle))
        super().__init__(
            [self.heading, *body, self.message],
            layout=widgets.Layout(border="1px solid #ccc", padding="8px 14px", margin="6px 0"),
        )
        self.add_class("lenet-demo")

    def say(self, text: str, kind: str = "warning") -> None:
        self.message.value = render.message_html(text, kind) if text else ""

    def run(self, fn: Callable[[], Any]) -> bool:
        """Call ``fn``; on a bad setting show its message and return False."""
        try:
            fn()
        except SettingError as err:
            self.say(str(err))
            return False
        except Exception as err:  # noqa: BLE001 - a demo shows a message, never a traceback
            last = traceback.extract_tb(err.__traceback__)[-1]
            self.say(
                f"Something went wrong: {type(err).__name__}: {err} "
                f"({last.filename.rsplit('/', 1)[-1]}:{last.lineno})."
            )
            return False
        return True
