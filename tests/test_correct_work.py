"""Correct work written independently of the reference solutions scores full marks.

tests/correct_work/ holds, per graded assignment, correct answers in other styles (loops,
other vectorizations, float32 or float64, other helpers, extra keyword arguments, other valid
shuffles, the layouts of CS231n assignment 2 and DeepLearning.AI). Each assignment is graded on
first use (so ``-k NN_name`` grades only that one), all its submissions in one plain
``nbgrader autograde`` run in a scratch course root: every submission must get every point and
raise no flag beyond the ones it declares.

Test cells run in two places: in the trusted runner when graded, and next to the student's
objects when students run them in their own kernel. So every submission also runs as a student
runs it (here, in this process, test cells included), up to its last test before the training
that the accuracy test grades, and every test must pass there too.

A few wrong answers, for the test cells this corpus made change, check that the message says
what was checked, what was expected, what came back, and gives a hint.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import warnings
from pathlib import Path

import nbformat
import pytest

from autograder.nbgrader_cli import nbgrader
from autograder.notebooks import errors, grade_id, is_solution, is_test
from autograder.release import SOLUTIONS, assignments, generate_in_scratch, is_graded, notebook_path
from autograder.results import db_url, result
from autograder.synthetic import notebook_with, submit
from tests.correct_work import SUBMISSIONS

GRADED = [a for a in assignments() if is_graded(a)]
CASES = [(a, i) for a in GRADED for i in range(len(SUBMISSIONS.get(a, [])))]


def student(index: int) -> str:
    return f"correct{index}"


def case_id(case: tuple[str, int]) -> str:
    assignment, index = case
    return f"{assignment}-{index}"


# -- the corpus itself (fast) ------------------------------------------------------------------
def test_every_graded_assignment_has_correct_work():
    assert sorted(SUBMISSIONS) == GRADED


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_a_submission_replaces_solution_cells_only(case):
    assignment, index = case
    submission = SUBMISSIONS[assignment][index]
    nb = nbformat.read(notebook_path(SOLUTIONS, assignment), as_version=4)
    solution_ids = {grade_id(c) for c in nb.cells if is_solution(c) and not is_test(c)}
    assert set(submission.replacements) <= solution_ids, (
        f"{submission.name}: replaces cells that are not students' answers: "
        f"{sorted(set(submission.replacements) - solution_ids)}"
    )
    assert submission.style, f"{submission.name}: say what is different about its style"
    for gid, source in submission.replacements.items():
        compile(source.replace("%matplotlib inline", ""), f"{assignment}/{gid}", "exec")
        assert "### BEGIN SOLUTION" not in source, f"{gid}: a student's answer, not the reference"


# -- graded by plain nbgrader autograde --------------------------------------------------------
@pytest.fixture(scope="module")
def course_root(tmp_path_factory, mnist_cache) -> Path:
    return tmp_path_factory.mktemp("correct-work")


@pytest.fixture(scope="module")
def grade(course_root):
    """``grade(assignment)`` -> the course root, once every submission of it is autograded."""
    released: set[str] = set()
    done: set[str] = set()

    def _grade(assignment: str) -> Path:
        if assignment in done:
            return course_root
        if not (course_root / "solutions").exists():
            generate_in_scratch(course_root, [assignment])
        elif assignment not in released:
            nbgrader("generate_assignment", assignment, "--force", root=course_root)
        released.add(assignment)
        source = notebook_path(course_root / "solutions", assignment)
        for index, submission in enumerate(SUBMISSIONS[assignment]):
            nb = notebook_with(source, submission.replacements)
            submit(course_root, student(index), assignment, nb, source.name)
        nbgrader("autograde", assignment, "--force", root=course_root)
        done.add(assignment)
        return course_root

    return _grade


def autograded_folder(root: Path, who: str, assignment: str) -> Path:
    return root / "autograder" / "autograded" / who / assignment


def failures(root: Path, who: str, assignment: str) -> str:
    """The errors the graded notebook shows, test by test, for the assertion message."""
    (path,) = autograded_folder(root, who, assignment).glob("*.ipynb")
    nb = nbformat.read(path, as_version=4)
    return "\n".join(f"  {e.grade_id or e.index}: {e.ename}: {e.evalue}" for e in errors(nb))


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_correct_work_gets_full_marks_and_raises_no_flag(grade, case):
    assignment, index = case
    submission = SUBMISSIONS[assignment][index]
    root = grade(assignment)
    res = result(db_url(root), assignment, student(index))
    assert res is not None and res.max_score > 0, f"{submission.name} was not graded"
    lost = {cell: score for cell, score in res.cells.items() if score is None or score <= 0}
    assert res.score == res.max_score, (
        f"correct work ({submission.name}) got {res.score} of {res.max_score}; "
        f"tests that failed: {sorted(lost)}\n{failures(root, student(index), assignment)}"
    )
    flags = json.loads(
        (autograded_folder(root, student(index), assignment) / "flags.json").read_text()
    )
    kinds = {flag["kind"] for flag in flags}
    assert kinds == set(submission.flags), (
        f"correct work ({submission.name}) raised flags {flags}, expected kinds "
        f"{sorted(submission.flags)}"
    )


# -- in the student's own kernel -------------------------------------------------------------
def own_kernel_run(assignment: str, answers: dict[str, str], upto: str | None = None) -> dict:
    """Run ``assignment`` with ``answers`` as a student runs it in their own kernel (here, in
    this process: test cells then run next to the student's objects, not in the trusted
    runner), cell by cell up to test cell ``upto``, or up to the last test before the
    accuracy test (training is left to the graded run). Returns {test id: "" if it passed,
    else its error}; cells tagged skip-in-grading are skipped, as in grading."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from IPython.core.inputtransformer2 import TransformerManager

    nb = notebook_with(notebook_path(SOLUTIONS, assignment), answers)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    tests = [grade_id(c) for c in cells if is_test(c) and grade_id(c) != "test_accuracy"]
    last = upto or tests[-1]
    namespace: dict = {"__name__": "__main__"}
    transform = TransformerManager().transform_cell
    outcome: dict[str, str] = {}
    try:
        for cell in cells:
            if "skip-in-grading" in cell.metadata.get("tags", []):
                continue
            gid = grade_id(cell)
            source = re.sub(
                r"get_ipython\(\)\.run_line_magic\([^)]*\)\n", "", transform(cell.source)
            )
            try:  # what the cell prints, and library warnings, are a student's to read
                with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    exec(compile(source, f"<{gid}>", "exec"), namespace)
                error = ""
            except Exception as err:  # noqa: BLE001 - a failing cell is a result
                error = f"{type(err).__name__}: {err}"
            finally:
                plt.close("all")
            if is_test(cell):
                outcome[gid] = error
            elif error:
                outcome[f"cell {gid}"] = error
            if gid == last:
                return outcome
    finally:
        namespace.clear()
    raise LookupError(f"{assignment} has no test cell {last}")


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_correct_work_passes_in_the_students_own_kernel(case):
    assignment, index = case
    submission = SUBMISSIONS[assignment][index]
    outcome = own_kernel_run(assignment, submission.replacements)
    failed = {gid: error for gid, error in outcome.items() if error}
    assert failed == {}, f"correct work ({submission.name}) fails in its own kernel: {failed}"


# -- messages a student can act on -------------------------------------------------------------
def assert_actionable(message: str, *needles: str) -> None:
    """A lost point says what was checked, what was expected, what came back, and a hint."""
    assert message, "the wrong answer passed the test"
    for part in ("expected:", "returned:", "hint:", *needles):
        assert part in message, f"the message lacks {part!r}:\n{message}"


def with_change(submission, cell: str, old: str, new: str) -> dict[str, str]:
    """The submission's answers with one snippet of one cell changed (exactly once)."""
    source = submission.replacements[cell]
    assert source.count(old) == 1, f"{cell}: {old!r} should occur exactly once"
    return {**submission.replacements, cell: source.replace(old, new)}


@pytest.mark.slow
def test_an_overflowing_sigmoid_is_told_what_overflowed_and_how_to_avoid_it():
    answers = {
        "sigmoid_forward": (
            "def sigmoid_forward(x):\n    out = 1 / (1 + np.exp(-x))\n    return out, out\n"
        )
    }
    outcome = own_kernel_run("03_pooling_activations", answers, upto="test_sigmoid_forward")
    assert_actionable(outcome["test_sigmoid_forward"], "overflowed", "exp(-np.abs(x))")


@pytest.mark.slow
def test_a_sigmoid_wrong_for_negative_inputs_gets_the_formula_as_hint():
    answers = {
        "sigmoid_forward": (
            "def sigmoid_forward(x):\n"
            "    out = 1 / (1 + np.exp(-np.abs(x)))  # sigmoid(|x|): wrong for x < 0\n"
            "    return out, out\n"
        )
    }
    outcome = own_kernel_run("03_pooling_activations", answers, upto="test_sigmoid_forward")
    assert_actionable(outcome["test_sigmoid_forward"], "e / (1 + e) for x < 0")


@pytest.mark.slow
def test_lenet5_gradients_are_checked_by_finite_differences_in_the_students_kernel_too():
    # The check used to nudge the layer's own array through net.params and read the nudged
    # value back as the original: in a student's kernel, correct gradients were off by 2x.
    from tests.correct_work.c06_numpy_lenet import ONE_STUDENT

    good = own_kernel_run("06_numpy_lenet", ONE_STUDENT.replacements, upto="test_lenet5_gradients")
    assert good["test_lenet5_gradients"] == ""
    wrong = with_change(
        ONE_STUDENT, "your_layers", "return loss, dlogits / n", "return loss, dlogits"
    )
    bad = own_kernel_run("06_numpy_lenet", wrong, upto="test_lenet5_gradients")
    assert_actionable(bad["test_lenet5_gradients"], "grads[")


@pytest.mark.slow
def test_08_messages_for_a_device_a_training_step_and_a_checkpoint():
    from tests.correct_work.c08_gpu_training import DATALOADER

    never_raises = with_change(DATALOADER, "pick_device", "if not _available(device):", "if False:")
    outcome = own_kernel_run("08_gpu_training", never_raises, upto="test_pick_device")
    assert_actionable(outcome["test_pick_device"], "RuntimeError")

    no_zero_grad = with_change(
        DATALOADER, "train_epoch", "optimizer.zero_grad(set_to_none=True)", "pass"
    )
    outcome = own_kernel_run("08_gpu_training", no_zero_grad, upto="test_train_epoch")
    assert_actionable(outcome["test_train_epoch"], "zero_grad")

    no_variant = with_change(DATALOADER, "checkpoint", '"variant": model.variant,', "")
    no_variant["checkpoint"] = no_variant["checkpoint"].replace(
        'LeNet5(saved["variant"])', 'LeNet5(saved.get("variant", "classic"))'
    )
    outcome = own_kernel_run("08_gpu_training", no_variant, upto="test_checkpoint")
    assert_actionable(outcome["test_checkpoint"], '"variant"')
