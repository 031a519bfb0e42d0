"""Grading a class end to end: `python -m autograder` on a synthetic class in a scratch course.

One class of submissions (three from an LMS-style zip, the rest placed in submitted/) mixes full,
partial and broken work: a plausible mistake, a notebook of another assignment, invalid JSON,
deleted and reordered cells, a kernel that dies through os._exit, and a cell that runs past a
lowered time limit. Grades are read back from nbgrader's gradebook and the exported CSV and
compared with what each submission deserves. A second copy of the course is graded with one
worker, killed mid-way and resumed: it must reach exactly the grades of the parallel run.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import psutil
import pytest

from autograder.__main__ import main
from autograder.batch import Options, course_at, in_gradebook, run
from autograder.collect import zip_collect
from autograder.nbgrader_cli import REPO, nbgrader_env
from autograder.notebooks import grade_id
from autograder.release import generate_in_scratch
from autograder.report import max_points
from autograder.results import result
from autograder.synthetic import notebook_with, submit
from tests.mistakes import MISTAKES

pytestmark = pytest.mark.slow

A = "01_mnist"
CELL_TIMEOUT = "20"  # seconds: far above any cell of the solution, far below the sleeper's sleep


def solution_path(root: Path) -> Path:
    return root / "solutions" / A / f"{A}.ipynb"


def cell_source(nb: nbformat.NotebookNode, gid: str) -> str:
    (cell,) = [c for c in nb.cells if grade_id(c) == gid]
    return cell.source


def edited(root: Path) -> nbformat.NotebookNode:
    """Test cell test_pad_to_32 deleted (nbgrader restores it), the padding_fraction answer
    deleted (its test fails), test_scale_lecun moved to the end (it still passes there)."""
    nb = nbformat.read(solution_path(root), as_version=4)
    moved = [c for c in nb.cells if grade_id(c) == "test_scale_lecun"]
    nb.cells = [
        c
        for c in nb.cells
        if grade_id(c) not in {"test_pad_to_32", "padding_fraction", "test_scale_lecun"}
    ]
    nb.cells += moved
    return nb


Expected = dict[str, list[dict[str, float] | None]]


def build_class(root: Path, tmp: Path) -> tuple[Path, Expected]:
    """Submissions under ``root`` and an LMS zip; returns the zip and, per student, the per-cell
    scores it deserves (None: everything zero and the submission reported as failed).

    A cell past the time limit has more than one defensible outcome: nbgrader interrupts it and
    runs on; a stricter executor stops the notebook there (later tests score zero), or gives
    up on the submission (zero, with the time limit as the reason).
    """
    sol = solution_path(root)
    source = nbformat.read(sol, as_version=4)
    full = max_points(f"sqlite:///{root / 'autograder' / 'gradebook.db'}", A)
    assert sum(full.values()) == 10, full
    mistake = MISTAKES[A][0]
    zero = dict.fromkeys(full, 0.0)
    expected: Expected = {
        "alice": [dict(full)],
        "bob": [{**full, **dict.fromkeys(mistake.caught_by, 0.0)}],
        "carol": [None],
        "badjson": [None],
        "edited": [{**full, "test_padding_fraction": 0.0}],
        "dies": [zero],
        "sleeper": [
            {**full, "test_standardize": 0.0},
            {**zero, "test_most_common_digit": 1.0, "test_pad_to_32": 3.0, "test_scale_lecun": 3.0},
            None,
        ],
    }
    archive = tmp / "canvas_download.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(sol, f"alice_1001_2001_{A}.ipynb")
        z.writestr(
            f"bob_LATE_1002_2002_{A}-1.ipynb",
            nbformat.writes(notebook_with(sol, mistake.replacements)),
        )
        # the wrong file uploaded: another assignment's notebook (a renamed notebook of this
        # assignment would be graded: tests/test_lms.py)
        z.write(root / "solutions" / "02_convolution" / "02_convolution.ipynb",
                "carol_1003_2003_02_other.ipynb")  # fmt: skip
    bad = root / "autograder" / "submitted" / "badjson" / A
    bad.mkdir(parents=True)
    (bad / f"{A}.ipynb").write_text('{"cells": [ {"cell_type": "code", "sour')
    submit(root, "edited", A, edited(root))
    submit(root, "dies", A, notebook_with(sol, {"most_common_digit": "import os\nos._exit(0)\n"}))
    sleepy = "import time\ntime.sleep(600)\n" + cell_source(source, "standardize")
    submit(root, "sleeper", A, notebook_with(sol, {"standardize": sleepy}))
    return archive, expected


@pytest.fixture(scope="module")
def courses(tmp_path_factory, mnist_cache):
    """Two identical scratch courses with the class submitted: one parallel, one interrupted."""
    tmp = tmp_path_factory.mktemp("batch")
    first = tmp / "parallel"
    generate_in_scratch(first, [A])
    archive, expected = build_class(first, tmp)
    second = tmp / "interrupted"
    shutil.copytree(first, second)
    return first, second, archive, expected


@pytest.fixture(scope="module")
def parallel(courses):
    """The class graded with two workers, the zip collected through nbgrader zip_collect."""
    first, _, archive, _ = courses
    argv = ["--root", str(first), "-j", "2", "--cell-timeout", CELL_TIMEOUT, "--no-progress"]
    assert main([*argv, "--zip", str(archive), "-a", A]) == 0
    return first


def cells(root: Path, student: str) -> dict[str, float]:
    res = result(course_at(root).db_url, A, student)
    assert res is not None, f"{student} has no submission in the gradebook"
    return res.cells


def report_entries(root: Path) -> dict[str, dict]:
    data = json.loads((root / "autograder" / "reports" / "report.json").read_text())
    return {e["student"]: e for e in data["submissions"]}


def test_zip_collect_places_lms_files_by_student(parallel):
    sub = parallel / "autograder" / "submitted"
    assert (sub / "alice" / A / f"{A}.ipynb").is_file()
    assert (sub / "bob" / A / f"{A}.ipynb").is_file(), "Canvas's -1 resubmission suffix is dropped"
    assert (sub / "carol" / A / "02_other.ipynb").is_file()


def test_every_submission_gets_exactly_the_grades_it_deserves(courses, parallel):
    _, _, _, expected = courses
    status = {s: e["status"] for s, e in report_entries(parallel).items()}
    for student, options in expected.items():
        got = cells(parallel, student)
        allowed = [w or dict.fromkeys(got, 0.0) for w in options]
        assert got in allowed, (student, got)
        if status[student] == "failed" and student != "dies":
            assert None in options, f"{student} was not expected to fail"
    with open(parallel / "autograder" / "reports" / "grades.csv") as f:
        sheet = {row["student_id"]: float(row["score"]) for row in csv.DictReader(f)}
    assert sheet == {s: sum(cells(parallel, s).values()) for s in expected}


def test_report_says_why_each_broken_submission_lost_its_points(courses, parallel):
    _, _, _, expected = courses
    entries = report_entries(parallel)
    assert set(entries) == set(expected)
    for student, options in expected.items():
        e = entries[student]
        if options == [None]:
            assert e["status"] == "failed" and e["reason"], (student, e)
        elif None not in options and student != "dies":  # a dead kernel may fail the run
            assert e["status"] == "graded", (student, e["reason"])
        assert e["seconds"] is not None and e["seconds"] > 0
    assert "no notebook of 01_mnist" in entries["carol"]["reason"]
    assert "02_other.ipynb" in entries["carol"]["reason"]
    assert "JSON" in entries["badjson"]["reason"]
    sleeper = entries["sleeper"]
    said = json.dumps([sleeper["reason"], sleeper["other_errors"], sleeper["failed_cells"]])
    assert "time" in said.lower() and sleeper["failed_cells"], sleeper
    assert all(f["why"] for f in sleeper["failed_cells"])
    dies = entries["dies"]
    explained = [dies["reason"], *[f["why"] for f in dies["failed_cells"]]]
    assert all(explained[1:]) and any(x and ("died" in x or "kernel" in x) for x in explained), dies
    bob = {f["cell"] for f in entries["bob"]["failed_cells"]}
    assert bob == set(MISTAKES[A][0].caught_by)
    md = (parallel / "autograder" / "reports" / "report.md").read_text()
    assert "## carol / 01_mnist: 0 / 10" in md and "invalid notebook JSON" in md


def test_feedback_is_generated_and_hides_hidden_tests(parallel):
    html = list((parallel / "autograder" / "feedback" / "alice" / A).glob("*.html"))
    assert html, "no feedback for alice"
    text = html[0].read_text()
    assert "BEGIN HIDDEN TESTS" not in text and "default_rng(1998)" not in text


def test_rerun_skips_graded_work_and_reports_flags(courses, parallel):
    _, _, _, expected = courses
    flags_file = parallel / "autograder" / "autograded" / "edited" / A / "flags.json"
    flags = json.loads(flags_file.read_text()) if flags_file.exists() else []
    mark = {"kind": "test-flag", "reason": "written by test_batch", "cell": "test_pad_to_32"}
    flags_file.write_text(json.dumps([*flags, mark]))
    before = {s: cells(parallel, s) for s in expected}
    summary = run(course_at(parallel), Options(progress=False))
    assert sorted(summary.skipped) == sorted((s, A) for s in expected)
    assert summary.graded == [] and summary.failed == []
    assert {s: cells(parallel, s) for s in expected} == before
    assert mark in report_entries(parallel)["edited"]["flags"]
    assert (
        "written by test_batch" in (parallel / "autograder" / "reports" / "report.md").read_text()
    )
    # One student on request: only that one is graded again, with the same result.
    summary = run(course_at(parallel), Options(students=["carol"], force=True, progress=False))
    assert summary.failed == [("carol", A)] and summary.skipped == [] and summary.graded == []
    assert set(report_entries(parallel)) == set(expected), "the report covers the whole class"
    assert {s: cells(parallel, s) for s in expected} == before


def _kill_tree(pid: int) -> None:
    """SIGKILL a process we started and every process below it (workers, kernels)."""
    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    procs = [parent, *parent.children(recursive=True)]
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=30)


def test_interrupted_sequential_run_resumes_to_the_parallel_grades(courses, parallel):
    _, second, archive, expected = courses
    argv = ["--root", str(second), "-j", "1", "--cell-timeout", CELL_TIMEOUT, "--no-progress"]
    course = course_at(second)
    zip_collect(archive, A, course.root, tuple(course.nbgrader_flags()))
    records = second / "autograder" / "reports" / "records" / A
    scratch = second.parent / "killed-run-tmp"  # what the killed run leaves behind lands here
    scratch.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "autograder", *argv, "--no-feedback"],
        cwd=REPO,
        env=nbgrader_env({"TMPDIR": str(scratch)}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while len(list(records.glob("*.json"))) < 2 and proc.poll() is None:
            assert time.monotonic() < deadline, "the batch graded nothing in 5 minutes"
            time.sleep(0.2)
        assert proc.poll() is None, "the batch finished before it could be interrupted"
    finally:
        _kill_tree(proc.pid)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    done_before = {p.stem for p in records.glob("*.json")}
    assert 2 <= len(done_before) < len(expected)
    summary = run(
        course_at(second), Options(workers=1, cell_timeout=float(CELL_TIMEOUT), progress=False)
    )
    assert {s for s, _ in summary.skipped} == done_before
    assert {s for s, _ in summary.graded + summary.failed} == set(expected) - done_before
    assert {s: cells(second, s) for s in expected} == {s: cells(parallel, s) for s in expected}
    assert in_gradebook(course_at(second).db_url) == {(s, A) for s in expected}
