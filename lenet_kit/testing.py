"""Helpers for writing test cells that run the same in a student's kernel and in grading.

A test cell runs in the student's own kernel when they run it, and in the trusted runner
(:mod:`lenet_kit.runner`) when the notebook is graded or validated, where the student's names
are stand-ins (:mod:`lenet_kit.remote`). Most test code needs nothing special: calls, attribute
reads and array arguments behave the same. Two things do:

- :func:`student_side`: code that must run *next to* the student's objects (build a model and
  an optimizer and let the student's ``train_epoch`` change them, patch ``torch.cuda`` with
  ``unittest.mock``, call under ``np.errstate``) goes in a function decorated with it. Locally
  it is called as it is; in grading its source is sent to the student's kernel and run there,
  and what it returns comes back as data. It sees the notebook's names and its arguments only,
  and must be defined in the visible part of the test (its code reaches the student's kernel).
- :func:`time_limit`: calls inside must finish within a number of seconds, in both places.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import signal
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from lenet_kit.checks import CheckFailed

#: The student's kernel while the trusted runner grades (None in a student's own kernel).
kernel = None
#: Line ranges (1-based, inclusive) of the hidden tests in the test cell running now, and the
#: file name that cell's code runs under.
hidden_lines: list[tuple[int, int]] = []
cell_file = ""


def _definition(fn: Callable) -> tuple[str, str]:
    """``fn``'s own ``def`` (decorators dropped), dedented, and its file name."""
    lines, first = inspect.getsourcelines(fn)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))
    start, end = node.lineno, node.end_lineno  # ``def`` line (after decorators) .. last line
    offset = first + start - 1
    here = inspect.getsourcefile(fn) == cell_file
    for low, high in hidden_lines if here else ():
        if low <= offset <= high:
            raise RuntimeError(
                f"the @student_side function {fn.__name__} is defined inside the hidden tests; "
                "define it in the visible part (its code runs in the student's kernel)"
            )
    source = textwrap.dedent("".join(lines[start - 1 : end]))
    return "\n" * (offset - 1) + source, inspect.getsourcefile(fn) or "<test>"


def student_side(fn: Callable) -> Callable:
    """Run ``fn`` in the student's kernel during grading (see the module docstring)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        if kernel is None:
            return fn(*args, **kwargs)
        source, filename = _definition(fn)
        return kernel.probe(source, fn.__name__, filename, args, kwargs)

    return run


@student_side
def run_module(make, args=(), kwargs=None, params=None, x=None, upstream=None, dtype=None):
    """Build ``make(*args, **kwargs)`` (an ``nn.Module`` class of the notebook), cast it to
    ``dtype``, copy ``params`` ({name: array}) into its parameters and return
    ``(out, dx, grads)`` for ``out = module(x)``: with ``upstream``, also the gradients of
    ``sum(out * upstream)`` for ``x`` and for each parameter ({name: tensor or None}); without,
    ``dx`` is None and ``grads`` is {}. Runs next to the student's class (see student_side)."""
    import torch

    module = make(*args, **(kwargs or {}))
    if dtype is not None:
        module = module.to(dtype)
    named = dict(module.named_parameters())
    with torch.no_grad():
        for name, value in (params or {}).items():
            named[name].copy_(torch.as_tensor(value))
    xt = torch.as_tensor(x).clone()
    if upstream is not None and xt.is_floating_point():
        xt.requires_grad_(True)
    out = module(xt)
    if upstream is None:
        return out.detach(), None, {}
    (out * torch.as_tensor(upstream)).sum().backward()
    return out.detach(), xt.grad, {name: p.grad for name, p in module.named_parameters()}


@student_side
def gradient_of(fn, x, *args, **kwargs):
    """``(value, dvalue/dx)`` of ``value = fn(x, *args, **kwargs)``, a scalar tensor, computed by
    autograd where ``fn`` lives (see student_side)."""
    import torch

    xt = torch.as_tensor(x).clone().requires_grad_(True)
    value = fn(xt, *args, **kwargs)
    value.backward()
    return value.detach(), xt.grad


@contextlib.contextmanager
def _local_alarm(seconds: float) -> Iterator[None]:
    """Raise TimeoutError in this (main) thread once ``seconds`` have passed."""

    def ring(signum, frame):
        raise TimeoutError(f"did not finish within {seconds:g} s")

    if threading.current_thread() is not threading.main_thread():
        start = time.perf_counter()
        yield
        if time.perf_counter() - start > seconds:
            raise TimeoutError(f"did not finish within {seconds:g} s")
        return
    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def time_limit(seconds: float, what: str, hint: str = "") -> Iterator[None]:
    """Calls of the student's code inside must finish within ``seconds`` (else CheckFailed).

    ``what`` names the check in the message; ``hint`` says what usually makes it slow.
    """
    try:
        if kernel is None:
            with _local_alarm(seconds):
                yield
        else:
            with kernel.deadline(seconds):
                yield
    except TimeoutError:
        lines = [
            f"{what} took longer than {seconds:g} s.",
            f"  expected: done within {seconds:g} s",
            "  returned: still running when the time was up",
        ]
        if hint:
            lines.append(f"  hint: {hint}")
        raise CheckFailed("\n".join(lines)) from None


def type_name(value: Any) -> str:
    """The class name of ``value`` (``type(value).__name__``), for objects in the student's
    kernel too, where ``type()`` would only see a stand-in."""
    info = getattr(value, "_info", None) if type(value).__module__ == "lenet_kit.remote" else None
    if isinstance(info, dict):
        return str(info.get("type", "object")).rsplit(".", 1)[-1]
    return type(value).__name__
