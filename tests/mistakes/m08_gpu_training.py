"""Mistakes for 08_gpu_training: each is the solution's own cell with one plausible bug.

Both leave the trained model alone, so each costs exactly its own test and fails in seconds.
"""

import nbformat

from autograder.notebooks import grade_id
from autograder.release import SOLUTIONS
from tests.mistakes import Mistake

ASSIGNMENT = "08_gpu_training"


def _with_bug(cell_id: str, correct: str, buggy: str) -> dict[str, str]:
    """{cell_id: the solution cell's source with ``correct`` replaced by ``buggy``}."""
    nb = nbformat.read(SOLUTIONS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    (source,) = [cell.source for cell in nb.cells if grade_id(cell) == cell_id]
    if source.count(correct) != 1:
        raise ValueError(f"{ASSIGNMENT}/{cell_id}: expected {correct!r} exactly once")
    return {cell_id: source.replace(correct, buggy)}


MISTAKES = [
    # Right when every batch is full; too low when the last batch is smaller.
    Mistake(
        "divides by (number of batches x batch size), as if every batch were full",
        _with_bug(
            "evaluate",
            "return correct.item() / len(x)",
            "return correct.item() / (-(-len(x) // batch_size) * batch_size)",
        ),
        frozenset({"test_evaluate"}),
    ),
    # Builds the right architecture but keeps its fresh random weights.
    Mistake(
        "load_checkpoint rebuilds the model but never loads the saved weights",
        _with_bug("checkpoint", '    model.load_state_dict(saved["state_dict"])\n', ""),
        frozenset({"test_checkpoint"}),
    ),
]
