"""Mistakes for 09_experiments: each is the solution's own cell with one plausible bug."""

import nbformat

from autograder.notebooks import grade_id
from autograder.release import SOLUTIONS
from tests.mistakes import Mistake

ASSIGNMENT = "09_experiments"


def _with_bug(cell_id: str, correct: str, buggy: str) -> dict[str, str]:
    """{cell_id: the solution cell's source with ``correct`` replaced by ``buggy``}."""
    nb = nbformat.read(SOLUTIONS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    (source,) = [cell.source for cell in nb.cells if grade_id(cell) == cell_id]
    if source.count(correct) != 1:
        raise ValueError(f"{ASSIGNMENT}/{cell_id}: expected {correct!r} exactly once")
    return {cell_id: source.replace(correct, buggy)}


MISTAKES = [
    # Counts the kernels right but forgets the one bias per output map (1,500 instead of 1,516).
    Mistake(
        "forgets the biases in c3_parameters",
        _with_bug(
            "c3_parameters",
            "return pairs * kernel_size * kernel_size + len(table)",
            "return pairs * kernel_size * kernel_size",
        ),
        frozenset({"test_c3_parameters"}),
    ),
    # np.roll wraps the pixels that leave one edge around to the other instead of filling zeros;
    # on MNIST digits with blank borders the visible checks still pass.
    Mistake(
        "shifts with np.roll, so pixels wrap around instead of zeros moving in",
        _with_bug(
            "random_shift",
            "out[i] = padded[i, top : top + h, left : left + w]",
            "out[i] = np.roll(images[i], (dy, dx), axis=(0, 1))",
        ),
        frozenset({"test_random_shift", "test_random_shift_rule"}),
    ),
]
