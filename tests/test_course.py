"""The course through real nbgrader runs: release, execution, and autograding.

One scratch course root is released once per session. Each graded assignment is autograded
once, in its own copy of that root (its own gradebook): the solution, the untouched release, and
one submission per plausible mistake (tests/mistakes/). The first test that needs a grade starts
all the gradings this session's tests ask for, two at a time (a notebook's kernel computes on about
one core) in course order, so that no test waits for much more than one grading. Scores are read
from nbgrader's own gradebook.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
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


def _submit_all(root: Path, assignment: str) -> None:
    """Place the solution, the untouched release and every declared mistake of ``assignment``."""
    source = notebook_path(root / "solutions", assignment)
    submit(root, "solution", assignment, source)
    submit(root, "blank", assignment, notebook_path(root / "course", assignment))
    for i, mistake in enumerate(MISTAKES.get(assignment, [])):
        bad = notebook_with(source, mistake.replacements)
        submit(root, f"mistake{i}", assignment, bad, source.name)


def _graded_copy(course_root: Path, copy: Path, assignment: str) -> Path:
    """``copy``: the course root with ``assignment`` autograded in it.

    The submissions of the assignments before it are placed too (not graded), as a student's
    earlier work would be: notebooks that carry earlier answers forward look for them.
    """
    shutil.copytree(course_root, copy)
    for earlier in GRADED[: GRADED.index(assignment) + 1]:
        _submit_all(copy, earlier)
    nbgrader("autograde", assignment, "--force", root=copy)
    return copy


def _asked_for(session: pytest.Session) -> list[str]:
    """The assignments the selected tests of this module grade, in course order."""
    asked = set()
    for item in session.items:
        module = getattr(getattr(item, "module", None), "__name__", None)
        spec = getattr(item, "callspec", None)
        if module == __name__ and "grade" in item.fixturenames and spec is not None:
            asked.add(spec.params.get("assignment"))
    return [a for a in GRADED if a in asked]


@pytest.fixture(scope="session")
def grade(request, course_root, tmp_path_factory) -> Iterator:
    """``grade(assignment)`` -> a course root in which that assignment is autograded.

    Each assignment is graded once per session (so ``-k NN_name`` grades only that one); a
    grading that failed fails the tests of that assignment only.
    """
    futures: dict[str, Future[Path]] = {}
    with ThreadPoolExecutor(2) as pool:

        def start(a: str) -> None:
            copy = tmp_path_factory.mktemp(f"graded-{a}") / "root"
            futures[a] = pool.submit(_graded_copy, course_root, copy, a)

        def _grade(a: str) -> Path:
            if not futures:  # the first call: start what the selected tests will ask for
                for asked in _asked_for(request.session):
                    start(asked)
            if a not in futures:  # asked for without a parameter (the feedback test)
                start(a)
            return futures[a].result()

        yield _grade


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
