"""Read scores back from nbgrader's gradebook."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry


@dataclass(frozen=True)
class Result:
    """One student's autograded assignment: total and per-test-cell scores."""

    student: str
    assignment: str
    score: float
    max_score: float
    cells: dict[str, float]


def db_url(root: str | Path) -> str:
    return f"sqlite:///{Path(root).resolve() / 'autograder' / 'gradebook.db'}"


def result(url: str, assignment: str, student: str) -> Result | None:
    """The gradebook's scores for one submission, or None if it was never graded."""
    with Gradebook(url) as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            return None
        cells = {
            grade.name: grade.score
            for nb in sub.notebooks
            for grade in nb.grades
            if grade.cell_type == "code"
        }
        return Result(student, assignment, sub.score, sub.max_score, cells)
