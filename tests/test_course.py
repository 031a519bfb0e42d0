"""The course through real nbgrader runs: release, execution, and autograding.

One scratch course root is released once per session, and each graded assignment is
autograded once, on first use: the solution, the untouched release, and one submission per
plausible mistake (tests/mistakes/). Scores are read from nbgrader's own gradebook.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.nbgrader_cli import nbgrader
from autograder.notebooks import errors, executed_all, stderr_cells
from autograder.release import (
    COURSE,
    SOLUTIONS,
    assignments,
    differences,
    generate_in_scratch,
    is_graded,
    notebook_path,
)
from autograder.results import db_url, result
from autograder.synthetic import notebook_with, submit
from tests.mistakes import MISTAKES

ASSIGNMENTS = assignments()


#: Assignments with autograded test cells (demos and the start page have none).
GRADED = [a for a in ASSIGNMENTS if is_graded(a)]
MISTAKE_CASES = [(a, i) for a in GRADED for i in range(len(MISTAKES.get(a, [])))]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def course_root(tmp_path_factory, mnist_cache) -> Path:
    """A scratch course root in which nbgrader released every assignment."""
    root = tmp_path_factory.mktemp("course-root")
    generate_in_scratch(root, ASSIGNMENTS)
    return root


@pytest.fixture(scope="session")
def grade(course_root):
    """``grade(assignment)`` -> the course root, once that assignment is autograded.

    Each assignment is graded once per session, on first use (so ``-k NN_name`` grades only
    that one): the solution, the untouched release and one submission per declared mistake.
    """
    done: set[str] = set()

    def _grade(a: str) -> Path:
        if a not in done:
            source = notebook_path(course_root / "solutions", a)
            submit(course_root, "solution", a, source)
            submit(course_root, "blank", a, notebook_path(course_root / "course", a))
            for i, mistake in enumerate(MISTAKES.get(a, [])):
                bad = notebook_with(source, mistake.replacements)
                submit(course_root, f"mistake{i}", a, bad, source.name)
            nbgrader("autograde", a, "--force", root=course_root)
            done.add(a)
        return course_root

    return _grade


def autograded(root: Path, student: str, assignment: str) -> nbformat.NotebookNode:
    (path,) = (root / "autograder" / "autograded" / student / assignment).glob("*.ipynb")
    return nbformat.read(path, as_version=4)


def test_course_is_exactly_what_nbgrader_generates(course_root):
    committed = assignments(COURSE)
    assert committed == ASSIGNMENTS, "course/ and solutions/ hold different assignments"
    for a in ASSIGNMENTS:
        assert differences(course_root / "course" / a, COURSE / a) == [], (
            "course/ is out of date: run `make release` and commit course/"
        )


@pytest.mark.parametrize("assignment", GRADED)
def test_solution_gets_full_marks_and_runs_clean(grade, assignment):
    graded = grade(assignment)
    res = result(db_url(graded), assignment, "solution")
    assert res is not None and res.max_score > 0
    failed = {cell: score for cell, score in res.cells.items() if score is None or score <= 0}
    assert res.score == res.max_score, f"test cells that failed on the solution: {failed}"
    nb = autograded(graded, "solution", assignment)
    assert errors(nb) == []
    assert stderr_cells(nb) == [], "the solution writes to stderr (warnings fail nbgrader tests)"
    flags_file = graded / "autograder" / "autograded" / "solution" / assignment / "flags.json"
    assert json.loads(flags_file.read_text()) == [], "the correct solution raises tamper flags"


@pytest.mark.parametrize("assignment", GRADED)
def test_untouched_release_scores_zero_and_stops_only_at_exercises(grade, assignment):
    graded = grade(assignment)
    res = result(db_url(graded), assignment, "blank")
    assert res is not None and res.score == 0, res
    nb = autograded(graded, "blank", assignment)
    first = errors(nb)[0]
    assert first.ename == "NotImplementedError", (
        f"the release first fails in cell {first.index} ({first.grade_id}) with {first.ename}: "
        f"{first.evalue}; it should run cleanly up to the first unimplemented exercise"
    )
    assert executed_all(nb), "the kernel died before the end of the release notebook"


@pytest.mark.parametrize(("assignment", "index"), MISTAKE_CASES)
def test_a_plausible_mistake_loses_exactly_the_points_of_the_tests_that_catch_it(
    grade, assignment, index
):
    graded = grade(assignment)
    mistake = MISTAKES[assignment][index]
    res = result(db_url(graded), assignment, f"mistake{index}")
    full = result(db_url(graded), assignment, "solution").cells
    lost = {cell for cell, score in res.cells.items() if score != full[cell]}
    assert lost == set(mistake.caught_by), f"{mistake.name}: lost points on {sorted(lost)}"
    assert all(res.cells[cell] == 0 for cell in mistake.caught_by)
    expected = res.max_score - sum(full[c] for c in mistake.caught_by)
    assert res.score == pytest.approx(expected)


def test_feedback_never_shows_hidden_tests(grade):
    a = GRADED[0]
    graded = grade(a)
    nbgrader("generate_feedback", a, "--student", "blank", "--force", root=graded)
    (html,) = (graded / "autograder" / "feedback" / "blank" / a).glob("*.html")
    text = html.read_text()
    assert "BEGIN HIDDEN TESTS" not in text
    hidden = notebook_path(SOLUTIONS, a).read_text()
    assert "default_rng(1998)" in hidden, "the probe below must come from a hidden test"
    assert "default_rng(1998)" not in text
    shutil.rmtree(graded / "autograder" / "feedback")
