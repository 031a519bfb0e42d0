"""Read scores back from nbgrader's gradebook."""

from __future__ import annotations

from dataclasses import dataclass

from nbgrader.api import Gradebook, MissingEntry

from autograder.course import gradebook_url


@dataclass(frozen=True)
class Result:
    """One student's autograded assignment: total and per-test-cell scores."""

    student: str
    assignment: str
    score: float
    max_score: float
    cells: dict[str, float]


#: The SQLite gradebook URL of a course root (what tests and benchmarks read scores from).
db_url = gradebook_url


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
