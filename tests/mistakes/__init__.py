"""Plausible student mistakes per assignment, and the test cells that must catch each one.

Each module ``mNN_name.py`` here declares ``ASSIGNMENT`` and ``MISTAKES``. A mistake replaces the
source of solution cells (by grade_id); grading a submission with it must give zero on exactly
the listed test cells and full points everywhere else (tests/test_course.py checks this).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass


@dataclass(frozen=True)
class Mistake:
    name: str
    replacements: dict[str, str]
    caught_by: frozenset[str]


def with_bug(assignment: str, cell_id: str, correct: str, buggy: str) -> dict[str, str]:
    """{cell_id: the solution cell's source with the one ``correct`` snippet made ``buggy``}."""
    import nbformat

    from autograder.notebooks import grade_id
    from autograder.release import SOLUTIONS

    nb = nbformat.read(SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
    (source,) = [cell.source for cell in nb.cells if grade_id(cell) == cell_id]
    if source.count(correct) != 1:
        raise ValueError(f"{assignment}/{cell_id}: expected {correct!r} exactly once")
    return {cell_id: source.replace(correct, buggy)}


def _collect() -> dict[str, list[Mistake]]:
    found: dict[str, list[Mistake]] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found[module.ASSIGNMENT] = list(module.MISTAKES)
    return found


MISTAKES: dict[str, list[Mistake]] = _collect()
