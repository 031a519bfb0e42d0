"""Mistakes for 07_torch_lenet: each is the solution's own cell with one plausible bug."""

import nbformat

from autograder.notebooks import grade_id
from autograder.release import SOLUTIONS
from tests.mistakes import Mistake

ASSIGNMENT = "07_torch_lenet"


def _with_bug(cell_id: str, correct: str, buggy: str) -> dict[str, str]:
    """{cell_id: the solution cell's source with ``correct`` replaced by ``buggy``}."""
    nb = nbformat.read(SOLUTIONS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    (source,) = [cell.source for cell in nb.cells if grade_id(cell) == cell_id]
    if source.count(correct) != 1:
        raise ValueError(f"{ASSIGNMENT}/{cell_id}: expected {correct!r} exactly once")
    return {cell_id: source.replace(correct, buggy)}


MISTAKES = [
    # Shapes and parameter counts are right; only the outputs of the classic variant differ.
    Mistake(
        "uses max pooling in both variants",
        _with_bug(
            "lenet5",
            'pool = nn.AvgPool2d if variant == "classic" else nn.MaxPool2d',
            "pool = nn.MaxPool2d",
        ),
        frozenset({"test_lenet5", "test_autograd_gradients"}),
    ),
    # Shapes fit, values are scrambled: the loaded network computes something else.
    Mistake(
        "reshapes the dense weights to (out, in) instead of transposing them",
        _with_bug(
            "exchange",
            "                array = array.T\n",
            "                array = array.reshape(array.shape[::-1])\n",
        ),
        frozenset({"test_exchange", "test_autograd_gradients"}),
    ),
    # Right on a fresh model; a second call returns the sum of both calls' gradients.
    Mistake(
        "forgets model.zero_grad(), so gradients accumulate across calls",
        _with_bug("autograd_gradients", "    model.zero_grad()\n", ""),
        frozenset({"test_autograd_gradients"}),
    ),
]
