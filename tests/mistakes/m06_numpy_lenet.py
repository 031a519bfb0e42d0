"""Mistakes for 06_numpy_lenet: each is the solution's own cell with one plausible bug."""

import nbformat

from autograder.notebooks import grade_id
from autograder.release import SOLUTIONS
from tests.mistakes import Mistake

ASSIGNMENT = "06_numpy_lenet"


def _with_bug(cell_id: str, correct: str, buggy: str) -> dict[str, str]:
    """{cell_id: the solution cell's source with ``correct`` replaced by ``buggy``}."""
    nb = nbformat.read(SOLUTIONS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    (source,) = [cell.source for cell in nb.cells if grade_id(cell) == cell_id]
    if source.count(correct) != 1:
        raise ValueError(f"{ASSIGNMENT}/{cell_id}: expected {correct!r} exactly once")
    return {cell_id: source.replace(correct, buggy)}


MISTAKES = [
    # Fails fast: C5 receives (N, 16, 5, 5), so the first forward pass raises.
    Mistake(
        "forgets the flatten layer between S4 and C5",
        _with_bug("lenet5", '"flatten": Flatten(),\n', ""),
        frozenset(
            {"test_lenet5_structure", "test_lenet5_gradients", "test_train", "test_accuracy"}
        ),
    ),
    # Runs to the end without an error, but the model never changes: training learns nothing.
    Mistake(
        "rebinds the parameter (p = p - lr * v) instead of updating the model's array in place",
        _with_bug("sgd", "p -= self.lr * v", "p = p - self.lr * v"),
        frozenset({"test_sgd", "test_train", "test_accuracy"}),
    ),
]
