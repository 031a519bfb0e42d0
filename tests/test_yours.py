"""Carrying a student's earlier answers forward (lenet_kit.yours), on a laptop and in grading.

Unit tests build a course folder of small notebooks; the grading tests release a small
assignment that carries 02_convolution forward into a scratch course, submit students' own
02 notebooks (or none) and read the scores from nbgrader's gradebook after a plain
`nbgrader autograde` and after the batch grader.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from autograder.batch import Options, course_at, run
from autograder.nbgrader_cli import nbgrader
from autograder.release import generate, generate_in_scratch, notebook_path
from autograder.results import db_url, result
from autograder.synthetic import notebook_with, submit
from lenet_kit import yours

CONV = "02_convolution"
LATER = "99_carries_conv"


def _cell(source: str, gid: str, *, solution=False, locked=False, points=None):
    meta = {"grade_id": gid, "solution": solution, "locked": locked, "grade": points is not None}
    meta["schema_version"] = 3
    meta["task"] = False
    if points is not None:
        meta["points"] = points
    return new_code_cell(source, metadata={"nbgrader": meta})


def _notebook(*cells) -> nbformat.NotebookNode:
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def _write(folder: Path, name: str, nb: nbformat.NotebookNode) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{name}.ipynb")
    return folder / f"{name}.ipynb"


def _earlier(double: str = "2 * x") -> nbformat.NotebookNode:
    """An earlier notebook: a locked setup cell, two answer cells (one needing data), a test."""
    return _notebook(
        _cell("import math\nSCALE = 3\ndata = load_everything()", "setup", locked=True),
        _cell(
            f"def double(x):\n    return {double}\n\n\ndef _private():\n    pass",
            "a1",
            solution=True,
        ),
        _cell(
            "n_rows = len(data)\n\ndef scaled(x):\n    return SCALE * math.floor(x)",
            "a2",
            solution=True,
        ),
        _cell("assert double(1) == 2", "t", locked=True, points=1),
    )


def test_carry_forward_defines_the_answers_functions_with_their_own_imports(
    tmp_path, monkeypatch, capsys
):
    _write(tmp_path / "01_first", "01_first", _earlier())
    here = tmp_path / "06_later"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.delenv(yours.EARLIER_ENV, raising=False)
    scope: dict = {}
    carried = yours.carry_forward("01_first", into=scope)
    assert sorted(carried) == ["double", "scaled"]
    assert scope["double"](4) == 8
    assert scope["scaled"](2.7) == 6  # the setup cell's import and constant came along
    out = capsys.readouterr().out
    assert "01_first: double, scaled" in out and "1 answer cell(s) skipped" in out


def test_a_missing_notebook_is_reported_and_names_limit_what_is_defined(
    tmp_path, monkeypatch, capsys
):
    _write(tmp_path / "01_first", "01_first", _earlier())
    (tmp_path / "06_later").mkdir()
    monkeypatch.chdir(tmp_path / "06_later")
    monkeypatch.delenv(yours.EARLIER_ENV, raising=False)
    scope: dict = {}
    yours.carry_forward("01_first", "02_absent", names=["double", "halve"], into=scope)
    assert list(scope) == ["double"]
    out = capsys.readouterr().out
    assert "02_absent: notebook not found" in out and "Paste its functions" in out
    assert "not found in your notebooks: halve" in out
    assert "01_first: double (and 1 more, not needed here)" in out


def test_the_graders_folder_comes_before_the_course_folder(tmp_path, monkeypatch):
    _write(tmp_path / "course" / "01_first", "01_first", _earlier("2 * x"))
    _write(tmp_path / "submitted", "01_first", _earlier("x + x + 1"))
    (tmp_path / "course" / "06_later").mkdir()
    monkeypatch.chdir(tmp_path / "course" / "06_later")
    monkeypatch.setenv(yours.EARLIER_ENV, str(tmp_path / "submitted"))
    assert yours.carry_forward("01_first", into={})["double"](1) == 3


def test_the_trusted_runner_never_runs_earlier_work(tmp_path, monkeypatch):
    _write(tmp_path / "01_first", "01_first", _earlier())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(yours.TRUSTED_ENV, "1")
    with pytest.raises(RuntimeError, match="never run"):
        yours.load("01_first")


# -- grading ---------------------------------------------------------------------------------
TEST_SOURCE = """import numpy as np

x = np.arange(9.0).reshape(1, 1, 3, 3)
w = np.ones((1, 1, 2, 2))
out, _ = conv2d_forward(x, w, np.zeros(1))
assert np.allclose(out, [[[[8, 12], [20, 24]]]]), f"expected [[8, 12], [20, 24]], got {out}"
"""


@pytest.fixture(scope="module")
def carrying_course(tmp_path_factory, mnist_cache) -> Path:
    """A scratch course with 02_convolution and an assignment that carries it forward."""
    root = tmp_path_factory.mktemp("carry-course")
    setup = "import numpy as np\nfrom lenet_kit.yours import carry_forward\n\n"
    setup += f'carry_forward("{CONV}", names=["conv2d_forward"])'
    later = _notebook(
        _cell(setup, "carry", locked=True), _cell(TEST_SOURCE, "test_conv", locked=True, points=2)
    )
    generate_in_scratch(root, [CONV])
    _write(root / "solutions" / LATER, LATER, later)
    generate(root, [LATER])
    conv = notebook_path(root / "solutions", CONV)
    broken = "def conv2d_forward(x, w, b, stride=1, pad=0):\n    return x, None"
    for student, earlier in [
        ("ann", conv),
        ("eve", notebook_with(conv, {"conv2d_forward": broken})),
    ]:
        submit(root, student, CONV, earlier, conv.name)
    for student in ["ann", "eve", "bob"]:  # bob did not submit 02
        submit(root, student, LATER, root / "course" / LATER / f"{LATER}.ipynb")
    return root


def _score(root: Path, student: str) -> float:
    return result(db_url(root), LATER, student).score


def test_nbgrader_autograde_carries_each_students_own_earlier_submission(carrying_course):
    nbgrader("autograde", LATER, "--force", root=carrying_course)
    assert _score(carrying_course, "ann") == 2
    assert _score(carrying_course, "eve") == 0  # her own broken convolution, not ours
    assert _score(carrying_course, "bob") == 0
    graded = carrying_course / "autograder" / "autograded" / "bob" / LATER / f"{LATER}.ipynb"
    shown = nbformat.read(graded, as_version=4).cells[0].outputs
    assert any(f"{CONV}: notebook not found" in o.get("text", "") for o in shown)


def test_the_batch_grader_hands_each_worker_the_students_earlier_work(carrying_course):
    course = course_at(carrying_course)
    summary = run(course, Options(assignments=[LATER], force=True, workers=1, feedback=False))
    assert not summary.failed
    assert [_score(carrying_course, s) for s in ("ann", "eve", "bob")] == [2, 0, 0]
    # a resubmitted earlier notebook changes what a carrying-forward grade depends on
    conv = notebook_path(carrying_course / "solutions", CONV)
    submit(carrying_course, "eve", CONV, conv, conv.name)
    again = run(course, Options(assignments=[LATER], workers=1, feedback=False))
    assert ("eve", LATER) in again.graded and ("ann", LATER) in again.skipped
    assert _score(carrying_course, "eve") == 2
