"""Notebooks in git are clean, and ungraded ones (the start page) run top to bottom, headless.

Graded notebooks are executed by nbgrader in tests/test_course.py, the demos in
tests/test_demos.py (they need a trained checkpoint); every other notebook of course/ without
test cells is executed here, in a scratch copy of its folder.
"""

from __future__ import annotations

import ast
import re
import shutil

import nbformat
import pytest

from autograder.notebooks import errors, execute, executed_all, points_by_test, stderr_cells
from autograder.release import COURSE, SOLUTIONS, assignments, is_graded, notebook_path

UNGRADED = [a for a in assignments() if not is_graded(a) and a != "demos"]


def test_the_start_page_is_ungraded():
    assert "00_start_here" in UNGRADED


@pytest.mark.slow
@pytest.mark.parametrize("assignment", UNGRADED)
def test_ungraded_release_notebook_runs_clean(assignment, tmp_path, mnist_cache):
    folder = tmp_path / assignment
    shutil.copytree(COURSE / assignment, folder)
    path = notebook_path(tmp_path, assignment)
    nb = nbformat.read(path, as_version=4)
    execute(nb, folder, timeout=300)
    assert errors(nb) == [], errors(nb)
    assert stderr_cells(nb) == [], [nb.cells[i].outputs for i in stderr_cells(nb)]
    assert executed_all(nb)
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{assignment}: no figure drawn"


@pytest.mark.parametrize("folder", [SOLUTIONS, COURSE], ids=lambda f: f.name)
def test_notebooks_in_git_have_no_outputs(folder):
    dirty = [
        f"{path.relative_to(folder)} cell {i}"
        for path in sorted(folder.glob("*/*.ipynb"))
        for i, cell in enumerate(nbformat.read(path, as_version=4).cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert dirty == [], "clear these outputs (Kernel > Restart and Clear Outputs) before committing"


def stated_points(nb: nbformat.NotebookNode) -> tuple[int, bool]:
    """The points a notebook's opening cell announces, and whether they are bonus points."""
    match = re.search(r"\*\*Points:\*\* (\d+)( \*\*bonus\*\*)?", nb.cells[0].source)
    assert match, "the opening cell should state '**Points:** N'"
    return int(match.group(1)), bool(match.group(2))


def test_points_add_up_to_what_the_notebooks_state_and_the_course_to_100():
    course = 0
    for assignment in assignments():
        if not is_graded(assignment):
            continue
        nb = nbformat.read(notebook_path(SOLUTIONS, assignment), as_version=4)
        points = sum(points_by_test(nb).values())
        stated, bonus = stated_points(nb)
        assert points == stated, f"{assignment}: its test cells give {points}, it states {stated}"
        course += 0 if bonus else points
    assert course == 100


def test_notebook_code_view_holds_every_code_cell_and_parses():
    from tools.notebook_code import notebook_as_code

    for path in sorted(SOLUTIONS.glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        code = notebook_as_code(nb)
        ast.parse(code, str(path))  # magics are commented out: the view is plain Python
        cells = [c for c in nb.cells if c.cell_type == "code"]
        assert code.count("# %% [") == len(cells), path
        for cell in cells:
            for line in cell.source.splitlines():
                if not line.lstrip().startswith(("%", "!")):
                    assert line in code, f"{path}: {line!r} is missing from the code view"
