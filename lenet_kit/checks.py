"""Check helpers for the notebooks' test cells.

Each helper raises ``AssertionError`` with a message a student can act on: what was checked,
what was expected, what came back, and a hint. On success they stay quiet (nbgrader counts
anything written to stderr as a failure, so nothing here warns).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lenet_kit.gradcheck import TOLERANCE, rel_error


class CheckFailed(AssertionError):
    """A notebook check failed; the message explains what was expected and why."""


def _fail(what: str, expected: Any, returned: Any, hint: str) -> None:
    lines = [what, f"  expected: {expected}", f"  returned: {returned}"]
    if hint:
        lines.append(f"  hint: {hint}")
    raise CheckFailed("\n".join(lines))


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape}, dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"[:200]


def expect_array(name: str, value: Any, hint: str = "") -> np.ndarray:
    """``value`` must be a NumPy array (not None, a list or a tensor)."""
    if not isinstance(value, np.ndarray):
        _fail(
            f"{name} should be a NumPy array.",
            "numpy.ndarray",
            _describe(value),
            hint or "Did you forget a `return` statement?",
        )
    return value


def expect_shape(name: str, value: Any, shape: tuple[int, ...], hint: str = "") -> None:
    """``value`` must be an array of exactly ``shape``."""
    expect_array(name, value)
    if tuple(value.shape) != tuple(shape):
        _fail(f"{name} has the wrong shape.", tuple(shape), tuple(value.shape), hint)


def expect_dtype(name: str, value: Any, dtype: Any, hint: str = "") -> None:
    """``value`` must be an array of dtype ``dtype``."""
    expect_array(name, value)
    if value.dtype != np.dtype(dtype):
        _fail(f"{name} has the wrong dtype.", np.dtype(dtype), value.dtype, hint)


def expect_close(
    name: str,
    value: Any,
    expected: Any,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    hint: str = "",
) -> None:
    """``value`` must equal ``expected`` elementwise within ``atol + rtol * |expected|``.

    The message names the worst element: its index, the expected and the returned value.
    """
    expected = np.asarray(expected)
    if not isinstance(value, np.ndarray) and np.ndim(expected) == 0:
        try:
            if value is None or isinstance(value, (str, bytes)):
                raise TypeError("not a number")
            value = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            _fail(f"{name} should be a number.", float(expected), _describe(value), hint)
    expect_array(name, value)
    if value.shape != expected.shape:
        _fail(f"{name} has the wrong shape.", expected.shape, value.shape, hint)
    if not np.all(np.isfinite(value)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(value))[0])
        _fail(
            f"{name} contains NaN or infinity (first at index {bad}).",
            "finite values",
            value[bad],
            hint or "Look for an overflow in exp() or a division by zero.",
        )
    err = np.abs(value.astype(np.float64) - expected.astype(np.float64))
    limit = atol + rtol * np.abs(expected.astype(np.float64))
    if np.any(err > limit):
        worst = np.unravel_index(int(np.argmax(err - limit)), err.shape) if err.ndim else ()
        where = f" at index {tuple(int(i) for i in worst)}" if worst else ""
        _fail(
            f"{name} has wrong values{where} ({int(np.sum(err > limit))} of {err.size} wrong).",
            expected[worst] if worst else expected,
            value[worst] if worst else value,
            hint,
        )


def expect_equal(name: str, value: Any, expected: Any, hint: str = "") -> None:
    """``value`` must equal ``expected`` exactly (numbers, tuples, strings or arrays)."""
    if isinstance(expected, np.ndarray) or isinstance(value, np.ndarray):
        expect_array(name, value)
        if value.shape != np.shape(expected) or not np.array_equal(value, expected):
            _fail(f"{name} is not what was expected.", expected, value, hint)
    elif value != expected:
        _fail(f"{name} is not what was expected.", expected, _describe(value), hint)


def expect_unchanged(name: str, before: np.ndarray, after: np.ndarray, hint: str = "") -> None:
    """A function must not modify its input: ``after`` must equal the copy ``before``."""
    if not np.array_equal(before, after):
        _fail(
            f"{name} modified its input array in place.",
            "the input left unchanged",
            "a modified input",
            hint or "Work on a copy or build a new array.",
        )


def expect_gradient(
    name: str,
    analytic: Any,
    reference: Any,
    *,
    tolerance: float = TOLERANCE,
    against: str = "finite differences",
    hint: str = "",
) -> None:
    """An analytic gradient must match ``reference`` (a finite-difference estimate, or autograd).

    Same shape, and ``rel_error(analytic, reference) < tolerance`` (see lenet_kit.gradcheck for
    why 1e-7 separates correct float64 gradients from buggy ones).
    """
    reference = np.asarray(reference)
    expect_shape(
        name,
        analytic,
        reference.shape,
        hint="A gradient has the shape of what it is the gradient of.",
    )
    err = rel_error(analytic, reference)
    if not err < tolerance:
        _fail(
            f"{name} disagrees with {against}.",
            f"relative error below {tolerance:.0e}",
            f"relative error {err:.1e}",
            hint,
        )
