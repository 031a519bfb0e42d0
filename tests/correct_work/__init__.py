"""Independent correct submissions per assignment: every one must score full marks.

Each module ``cNN_name.py`` here declares ``ASSIGNMENT`` and ``SUBMISSIONS``. A submission
replaces the source of solution cells (by grade_id) with correct answers written independently
of the reference solutions, in another style: plain loops where the exercise allows them,
another vectorization, float32 or float64 where the notebook does not fix the dtype, other
helper names and structure, extra keyword arguments, another valid shuffle, the layouts of
public course assignments (CS231n assignment 2, DeepLearning.AI "Convolution model step by
step"). Graded by plain ``nbgrader autograde`` (tests/test_correct_work.py), each must get every
point, and raise no flag beyond the ones it declares (``flags``: kinds the static scan reports
for code that is correct, for the instructor's information; they never cost points).

Where correct work lost points, the test was at fault, not the answer: the test cells in
solutions/ were fixed so that they test what the exercise is about. A notebook that fixes a
convention (max-pool ties go to the first maximum, no overflow in the sigmoid, log-sum-exp)
states it before the exercise, and a visible test shows it.
"""

from __future__ import annotations

import importlib
import pkgutil
import textwrap
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Submission:
    name: str
    style: str
    replacements: dict[str, str]
    #: Flag kinds the static scan reports for this (correct) code; [] for almost all.
    flags: frozenset[str] = field(default_factory=frozenset)


def code(source: str) -> str:
    """A cell's source from an indented triple-quoted string."""
    return textwrap.dedent(source).strip("\n") + "\n"


def _collect() -> dict[str, list[Submission]]:
    found: dict[str, list[Submission]] = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("c"):
            continue  # helpers (_shared) hold code that several notebooks paste
        module = importlib.import_module(f"{__name__}.{info.name}")
        found[module.ASSIGNMENT] = list(module.SUBMISSIONS)
    return found


SUBMISSIONS: dict[str, list[Submission]] = _collect()
