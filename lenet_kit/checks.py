"""Check helpers for the notebooks' test cells.

Each helper raises ``AssertionError`` with a message a student can act on: what was checked,
what was expected, what came back, and a hint. On success they stay quiet (nbgrader counts
anything written to stderr as a failure, so nothing here warns).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lenet_kit.gradcheck import TOLERANCE, rel_error
from lenet_kit.policy import NUMPY_ONLY
from lenet_kit.remote import fetched


class CheckFailed(AssertionError):
    """A notebook check failed; the message explains what was expected and why."""


def _fail(what: str, expected: Any, returned: Any, hint: str) -> None:
    lines = [what, f"  expected: {expected}", f"  returned: {returned}"]
    if hint:
        lines.append(f"  hint: {hint}")
    raise CheckFailed("\n".join(lines))


def _describe(value: Any) -> str:
    describe = getattr(type(value), "__lenet_describe__", None)
    if describe is not None:  # a stand-in for an object in the student's kernel (grading)
        return describe(value)
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape}, dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"[:200]


def expect_array(name: str, value: Any, hint: str = "") -> np.ndarray:
    """``value`` must be a NumPy array (not None, a list or a tensor)."""
    value = fetched(value)
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
    value = expect_array(name, value)
    if tuple(value.shape) != tuple(shape):
        _fail(f"{name} has the wrong shape.", tuple(shape), tuple(value.shape), hint)


def expect_dtype(name: str, value: Any, dtype: Any, hint: str = "") -> None:
    """``value`` must be an array of dtype ``dtype``."""
    value = expect_array(name, value)
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
    expected = np.asarray(fetched(expected))
    value = fetched(value)
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
    """``value`` must equal ``expected`` exactly (numbers, tuples, strings or arrays); for arrays
    the message names the first index that differs."""
    value, expected = fetched(value), fetched(expected)
    if isinstance(expected, np.ndarray) or isinstance(value, np.ndarray):
        value, expected = expect_array(name, value), np.asarray(expected)
        if value.shape != expected.shape:
            _fail(f"{name} has the wrong shape.", expected.shape, value.shape, hint)
        wrong = np.argwhere(value != expected)
        if len(wrong):
            first = tuple(int(i) for i in wrong[0])
            _fail(
                f"{name} differs first at index {first} ({len(wrong)} of {value.size} differ).",
                expected[first],
                value[first],
                hint,
            )
    elif value != expected:
        _fail(f"{name} is not what was expected.", expected, _describe(value), hint)


def expect_number(
    name: str,
    value: Any,
    *,
    integer: bool = False,
    low: float | None = None,
    high: float | None = None,
    hint: str = "",
) -> float:
    """``value`` must be a number (an integer where ``integer``: a Python or NumPy int, never a
    bool) and lie in ``[low, high]`` where those are given. Returns it as a Python number.

    For the answers of concept checks: the type and range a sensible answer has, without
    telling which value is right.
    """
    value = fetched(value)
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool | np.bool_) or not isinstance(value, kinds):
        what = "an int (a count)" if integer else "a number"
        _fail(f"{name} should be {what}.", what, _describe(value), hint)
    number = int(value) if integer else float(value)
    if not np.isfinite(number):
        _fail(f"{name} should be a finite number.", "a finite number", number, hint)
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = (
            f"between {low:g} and {high:g}"
            if low is not None and high is not None
            else (f"at least {low:g}" if low is not None else f"at most {high:g}")
        )
        _fail(f"{name} is out of range.", f"a value {bounds}", number, hint)
    return number


def expect_choice(name: str, value: Any, options: str, *, several: bool = False) -> Any:
    """A multiple-choice answer: one letter of ``options`` as a str, or, with ``several``, a set
    of them. Returns the answer in lower case (a frozenset with ``several``)."""
    value = fetched(value)
    letters = ", ".join(f'"{o}"' for o in options)
    if several:
        if not isinstance(value, set | frozenset) or not all(isinstance(v, str) for v in value):
            _fail(
                f"{name} should be a set of letters.",
                f"a set such as {{{letters.split(', ')[0]}}} of letters among {letters}",
                _describe(value),
                'Write the letters in braces: {"a", "e"}.',
            )
        answer = frozenset(v.strip().lower() for v in value)
        unknown = sorted(answer - set(options))
        if unknown:
            _fail(f"{name} holds letters that are not options.", letters, unknown, "")
        return answer
    if not isinstance(value, str) or value.strip().lower() not in options:
        _fail(f"{name} should be one letter.", f"one of {letters}", _describe(value), "")
    return value.strip().lower()


def reject_known_mistakes(
    name: str, value: Any, mistakes: dict[Any, str], *, expected: str = "", rtol: float = 1e-6
) -> None:
    """Fail with a specific hint when ``value`` is one of the common wrong answers ``mistakes``
    ({wrong answer: hint}): numbers match within ``rtol``, sets and strings exactly.

    A visible test can catch the misconceptions it knows this way without saying which answer
    is right (the hidden test checks that).
    """
    value = fetched(value)
    for wrong, hint in mistakes.items():
        if isinstance(wrong, int | float) and not isinstance(wrong, bool):
            if isinstance(value, bool | np.bool_) or not isinstance(
                value, int | float | np.integer | np.floating
            ):
                continue
            same = abs(float(value) - wrong) <= rtol * abs(wrong)
        elif isinstance(wrong, frozenset):
            same = isinstance(value, set | frozenset) and frozenset(value) == wrong
        else:
            same = type(value) is type(wrong) and value == wrong
        if same:
            shown = value.item() if isinstance(value, np.generic) else value
            _fail(
                f"{name} = {shown!r} is a common wrong answer.",
                expected or "another value",
                _describe(shown),
                hint,
            )


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
        analytic = np.asarray(fetched(analytic), dtype=np.float64)
        _fail(
            f"{name} disagrees with {against}{_worst_entry(analytic, reference)}.",
            f"relative error below {tolerance:.0e}",
            f"relative error {err:.1e}",
            " ".join(filter(None, [_constant_factor(analytic, reference), hint])),
        )


def _worst_entry(analytic: np.ndarray, reference: np.ndarray) -> str:
    """' (worst at index (i, j): expected r, got a)' for the entry that is furthest off."""
    if analytic.size == 0:
        return ""
    gap = np.abs(analytic - reference)
    worst = np.unravel_index(int(np.argmax(gap)), gap.shape) if gap.ndim else ()
    index = tuple(int(i) for i in worst)
    return f" (worst at index {index}: expected {reference[worst]:.6g}, got {analytic[worst]:.6g})"


#: Constant factors a gradient is commonly off by, and what each usually means.
_FACTORS = {
    -1.0: "the sign is flipped (a minus sign missing or extra)",
    2.0: "counted twice",
    0.5: "half of it is missing",
}


def _constant_factor(analytic: np.ndarray, reference: np.ndarray) -> str:
    """A sentence when ``analytic`` is ``reference`` times one constant (1/N, -1, 2...), or ''."""
    reference = np.asarray(reference, dtype=np.float64)
    scale = float(np.vdot(reference, reference))
    if scale == 0 or not np.all(np.isfinite(analytic)):
        return ""
    factor = float(np.vdot(reference, analytic)) / scale
    if factor == 0 or rel_error(analytic, factor * reference) > 1e-6:
        return ""
    for known, meaning in _FACTORS.items():
        if abs(factor - known) < 1e-6 * abs(known):
            return f"Every entry is {known:g} times the right one: {meaning}."
    inverse = 1 / factor
    if abs(inverse - round(inverse)) < 1e-6 * abs(inverse) and abs(round(inverse)) > 1:
        return (
            f"Every entry is 1/{round(inverse)} of the right one: a division by the batch size "
            "or by a count that does not belong there."
        )
    if abs(factor - round(factor)) < 1e-6 * abs(factor):
        return (
            f"Every entry is {round(factor)} times the right one: a missing division by the "
            "batch size, or a sum counted more than once."
        )
    return f"Every entry is {factor:.4g} times the right one: right direction, wrong scale."


def _libraries_used(fn: Any, seen: set[int] | None = None, depth: int = 0) -> dict[str, str]:
    """{library: a name it was reached by} for the globals ``fn``'s code uses, following the
    notebook's own helper functions it calls."""
    seen = set() if seen is None else seen
    code = getattr(fn, "__code__", None)
    if code is None or id(fn) in seen or depth > 6:
        return {}
    seen.add(id(fn))
    names, stack = set(), [code]
    while stack:
        current = stack.pop()
        names.update(current.co_names)
        stack.extend(c for c in current.co_consts if hasattr(c, "co_names"))
    scope = dict(getattr(fn, "__globals__", {}))
    for cell_name, cell in zip(
        code.co_freevars, getattr(fn, "__closure__", None) or (), strict=False
    ):
        try:
            scope[cell_name] = cell.cell_contents
        except ValueError:  # an empty closure cell
            pass
    found: dict[str, str] = {}
    for name in names:
        if name not in scope:
            continue
        value = scope[name]
        module = value.__name__ if isinstance(value, type(np)) else getattr(value, "__module__", "")
        root = str(module or "").split(".")[0]
        if root in NUMPY_ONLY:
            found.setdefault(root, name)
        elif callable(value) and getattr(value, "__globals__", None) is fn.__globals__:
            for lib, via in _libraries_used(value, seen, depth + 1).items():
                found.setdefault(lib, f"{name} -> {via}")
    return found


def expect_numpy_only(name: str, fn: Any) -> None:
    """``fn`` (a function or class of the notebook) must not use PyTorch or a similar library.

    A check for the student's own kernel, where PyTorch is installed: while a NumPy notebook is
    graded, those libraries are not available at all (lenet_kit.policy). In grading, ``fn`` is
    a stand-in and this check has nothing to read.
    """
    targets = [fn]
    if isinstance(fn, type):
        targets = [v for v in vars(fn).values() if callable(v)]
    for target in targets:
        used = _libraries_used(target)
        if used:
            lib, via = sorted(used.items())[0]
            _fail(
                f"{name} uses {lib} (through {via}).",
                "NumPy only",
                f"code that calls {lib}",
                "While this notebook is graded your code runs without PyTorch (the tests use it "
                "only as a reference, on the grader's side). Write the operation with NumPy.",
            )
