"""Move one submission's autograder results between nbgrader gradebooks.

SQLite allows one writer at a time, so parallel workers never write the course gradebook: each
grades in a scratch gradebook that holds only the assignments (``template``), and the
coordinator copies the results in with ``snapshot`` + ``apply``, one submission at a time.
``apply`` follows nbgrader's own ``SaveAutoGrades`` rules, so grades equal a plain
``nbgrader autograde`` run and manual grades already given are kept.
"""

from __future__ import annotations

import sqlite3
import warnings
from pathlib import Path
from typing import Any

from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy.exc import SAWarning

from autograder.course import SQLITE, sqlite_path

#: A JSON-able copy of one submission's autograder results:
#: {"timestamp": str|None, "notebooks": {nb: {"late_submission_penalty": float|None,
#:  "grades": {cell: auto_score|None}, "comments": {cell: auto_comment|None}}}}
Snapshot = dict[str, Any]


def template(db_url: str, dest: Path) -> bytes:
    """An SQLite gradebook with ``db_url``'s assignments and no students; returns its bytes.

    Workers grade against a copy of it, so no student's grades or names reach another's scratch
    folder. ``db_url`` must be SQLite (server databases are written by the workers directly).
    """
    source = sqlite_path(db_url)
    if source is None or not source.exists():
        raise FileNotFoundError(
            f"no SQLite gradebook at {db_url!r}: run `nbgrader generate_assignment` (make release) "
            "so that the assignments are in the gradebook before grading"
        )
    with sqlite3.connect(source) as src, sqlite3.connect(dest) as dst:
        src.backup(dst)
    url = f"{SQLITE}{dest}"
    with Gradebook(url) as gb:
        for assignment in gb.assignments:
            for sub in list(assignment.submissions):
                gb.remove_submission(assignment.name, sub.student.id)
        for student in list(gb.students):
            gb.remove_student(student.id)
    with sqlite3.connect(dest) as db:
        db.execute("VACUUM")
    return dest.read_bytes()


def snapshot(db_url: str, assignment: str, student: str) -> Snapshot | None:
    """The autograder's results for one submission, or None if it has none."""
    with Gradebook(db_url) as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            return None
        return {
            "timestamp": sub.timestamp.isoformat() if sub.timestamp else None,
            "notebooks": {
                nb.name: {
                    "late_submission_penalty": nb.late_submission_penalty,
                    "grades": {g.name: g.auto_score for g in nb.grades},
                    "comments": {c.name: c.auto_comment for c in nb.comments},
                }
                for nb in sub.notebooks
            },
        }


def prepare(db_url: str, students: list[str]) -> None:
    """Create the gradebook's tables (if new) and the students, before workers write at once."""
    with Gradebook(db_url) as gb:
        for student in students:
            gb.update_or_create_student(student)


def apply(db_url: str, assignment: str, student: str, snap: Snapshot | None, failed: bool) -> None:
    """Write a snapshot into ``db_url`` (None: the submission exists but nothing was graded).

    ``failed`` (nbgrader could not grade the submission): cells without a score get 0 and the
    notebooks are flagged for review in the formgrader. Manual scores are kept; as in nbgrader,
    a cell with a manual score or without an automatic one then needs manual grading.
    """
    with Gradebook(db_url) as gb, warnings.catch_warnings():
        # nbgrader's add_submission trips SQLAlchemy's autoflush warning; it is harmless.
        warnings.filterwarnings("ignore", "Object of type", SAWarning)
        gb.update_or_create_student(student)
        kwargs = {"timestamp": snap["timestamp"]} if snap and snap["timestamp"] else {}
        sub = gb.update_or_create_submission(assignment, student, **kwargs)
        notebooks = snap["notebooks"] if snap else {}
        for nb in sub.notebooks:
            data = notebooks.get(nb.name, {"grades": {}, "comments": {}})
            for grade in nb.grades:
                grade.auto_score = data["grades"].get(grade.name)
                if grade.auto_score is None and failed:
                    grade.auto_score = 0.0
                grade.needs_manual_grade = (
                    grade.manual_score is not None or grade.auto_score is None
                )
            for comment in nb.comments:
                comment.auto_comment = data["comments"].get(comment.name)
            nb.late_submission_penalty = data.get("late_submission_penalty")
            if failed:
                nb.flagged = True
        gb.db.commit()
