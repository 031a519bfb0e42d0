"""lenet_kit.checks: quiet on success; on failure a message with what, expected, returned, hint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lenet_kit.checks import (
    CheckFailed,
    expect_array,
    expect_choice,
    expect_close,
    expect_dtype,
    expect_equal,
    expect_gradient,
    expect_number,
    expect_shape,
    expect_unchanged,
    reject_known_mistakes,
)
from lenet_kit.gradcheck import numerical_gradient


def failure(check, *args, **kwargs) -> str:
    with pytest.raises(CheckFailed) as info:
        check(*args, **kwargs)
    assert isinstance(info.value, AssertionError)  # nbgrader and pytest treat it as a failed test
    return str(info.value)


def test_expect_array_names_what_came_back():
    message = failure(expect_array, "pad_to_32(x)", None)
    assert message.splitlines() == [
        "pad_to_32(x) should be a NumPy array.",
        "  expected: numpy.ndarray",
        "  returned: NoneType None",
        "  hint: Did you forget a `return` statement?",
    ]
    assert "returned: list [1, 2]" in failure(expect_array, "out", [1, 2])
    assert "Tensor" in failure(expect_array, "out", torch.zeros(2))


def test_expect_shape_and_dtype():
    expect_shape("out", np.zeros((2, 3)), (2, 3))
    message = failure(expect_shape, "out", np.zeros((3, 2)), (2, 3), hint="transpose?")
    assert "expected: (2, 3)" in message and "returned: (3, 2)" in message
    assert message.endswith("hint: transpose?")
    expect_dtype("out", np.zeros(2, np.float32), np.float32)
    message = failure(expect_dtype, "out", np.zeros(2), np.float32)
    assert "expected: float32" in message and "returned: float64" in message


def test_expect_close_reports_the_worst_element_and_how_many_are_wrong():
    expected = np.arange(12.0).reshape(3, 4)
    value = expected.copy()
    expect_close("x", value, expected)
    value[1, 2] += 0.5
    value[2, 3] += 2.0
    message = failure(expect_close, "x", value, expected)
    assert "wrong values at index (2, 3) (2 of 12 wrong)" in message
    assert "expected: 11.0" in message and "returned: 13.0" in message
    expect_close("x", value, expected, atol=2.0)  # the tolerance is honoured


def test_expect_close_on_numbers_shapes_and_non_finite_values():
    expect_close("a number", 0.1 + 0.2, 0.3)
    assert "returned: str '0.3'" in failure(expect_close, "a number", "0.3", 0.3)
    assert "should be a number" in failure(expect_close, "a number", None, 0.3)
    assert "wrong shape" in failure(expect_close, "x", np.zeros(3), np.zeros(4))
    message = failure(expect_close, "x", np.array([1.0, np.inf, np.nan]), np.ones(3))
    assert "NaN or infinity (first at index (1,))" in message and "overflow" in message


def test_expect_equal_and_unchanged():
    expect_equal("n", 61_706, 61_706)
    expect_equal("keys", ["a", "b"], ["a", "b"])
    message = failure(expect_equal, "n", 61_705, 61_706)
    assert "expected: 61706" in message and "returned: int 61705" in message
    message = failure(expect_equal, "a", np.array([[1, 2], [3, 4]]), np.array([[1, 2], [5, 4]]))
    assert "differs first at index (1, 0) (1 of 4 differ)" in message
    assert "expected: 5" in message and "returned: 3" in message
    assert "wrong shape" in failure(expect_equal, "a", np.zeros(3), np.zeros(4))
    before = np.arange(3.0)
    expect_unchanged("f", before, before.copy())
    assert "in place" in failure(expect_unchanged, "f", before, before + 1)


def test_expect_gradient_passes_a_right_gradient_and_fails_a_slightly_wrong_one():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((4, 5)), rng.standard_normal((5, 3))
    dout = rng.standard_normal((4, 3))
    numeric = numerical_gradient(lambda v: v @ w, x, dout)
    expect_gradient("dx", dout @ w.T, numeric)
    message = failure(expect_gradient, "dx", 1.01 * dout @ w.T, numeric, hint="dx = dout @ w.T")
    assert message.startswith("dx disagrees with finite differences (worst at index (")
    assert "expected: relative error below 1e-07" in message
    assert "1.01 times the right one" in message
    returned = float(message.split("returned: relative error ")[1].split()[0])
    assert 1e-3 < returned < 1e-2  # a 1% error, as lenet_kit.gradcheck documents
    assert "wrong shape" in failure(expect_gradient, "dx", (dout @ w.T).T, numeric)
    message = failure(
        expect_gradient, "dw", w + 1e-6, w, tolerance=1e-8, against="autograd", hint="layout"
    )
    assert (
        message.startswith("dw disagrees with autograd (worst at index")
        and "below 1e-08" in message
    )


def test_expect_gradient_names_the_worst_entry_and_constant_factor_errors():
    rng = np.random.default_rng(1)
    right = rng.standard_normal((8, 3))
    off = right.copy()
    off[5, 2] += 1.0
    message = failure(expect_gradient, "dw", off, right)
    assert f"worst at index (5, 2): expected {right[5, 2]:.6g}, got {off[5, 2]:.6g}" in message
    assert "times the right one" not in message  # one wrong entry is not a scale error
    assert "1/8 of the right one" in failure(expect_gradient, "dw", right / 8, right)
    assert "-1 times the right one: the sign" in failure(expect_gradient, "dw", -right, right)
    assert "32 times the right one: a missing division" in failure(
        expect_gradient, "dw", 32 * right, right
    )


def test_expect_number_checks_type_and_range_without_naming_an_answer():
    assert expect_number("n", np.int64(156), integer=True, low=1) == 156
    assert expect_number("x", 16, low=0) == 16.0
    message = failure(expect_number, "n", 156.0, integer=True)
    assert message.splitlines()[:3] == [
        "n should be an int (a count).",
        "  expected: an int (a count)",
        "  returned: float 156.0",
    ]
    assert "should be a number" in failure(expect_number, "x", "16")
    assert "should be a number" in failure(expect_number, "x", True)
    assert "finite" in failure(expect_number, "x", float("nan"))
    message = failure(expect_number, "rf", 40, integer=True, low=6, high=32, hint="at most 32")
    assert "expected: a value between 6 and 32" in message and "returned: 40" in message
    assert message.endswith("hint: at most 32")
    assert "at least 0" in failure(expect_number, "x", -1.0, low=0)


def test_expect_choice_normalises_letters_and_sets():
    assert expect_choice("answer", " B", "abcd") == "b"
    assert expect_choice("answer", {"a", "C"}, "abcde", several=True) == frozenset("ac")
    assert "one of" in failure(expect_choice, "answer", "z", "abcd")
    assert "one of" in failure(expect_choice, "answer", 2, "abcd")
    assert "set of letters" in failure(expect_choice, "answer", ["a"], "abc", several=True)
    message = failure(expect_choice, "answer", {"a", "x"}, "abc", several=True)
    assert "not options" in message and "['x']" in message


def test_reject_known_mistakes_gives_the_mistakes_hint_and_passes_other_values():
    mistakes = {150: "Each kernel has a bias too.", 0.25: "a slope, not a variance"}
    reject_known_mistakes("c1_params", 156, mistakes)
    reject_known_mistakes("c1_params", "150", mistakes)  # not a number: not this mistake
    message = failure(reject_known_mistakes, "c1_params", np.int64(150), mistakes)
    assert message.splitlines() == [
        "c1_params = 150 is a common wrong answer.",
        "  expected: another value",
        "  returned: int 150",
        "  hint: Each kernel has a bias too.",
    ]
    message = failure(reject_known_mistakes, "s", 0.25 + 1e-9, mistakes, expected="Var(w) * n")
    assert "expected: Var(w) * n" in message and "a slope, not a variance" in message
    letters = {frozenset("ad"): "pooling has no weights", "c": "no"}
    reject_known_mistakes("benefits", {"a", "b"}, letters)
    assert "no weights" in failure(reject_known_mistakes, "benefits", {"d", "a"}, letters)
    assert "hint: no" in failure(reject_known_mistakes, "letter", "c", letters)
    reject_known_mistakes("letter", np.array(["c"]), letters)  # an array is not the letter
