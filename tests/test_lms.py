"""The LMS round trip, as a new instructor meets it: one Canvas bulk download in, one upload out.

A held-out-style class arrives in one zip on a fresh clone (the gradebook has never heard of
01_mnist): a correct notebook, a first try with a mistake and its "-1" resubmission that fixed
it, a LATE one, a correct notebook saved as ``my_homework.ipynb``, invalid JSON, and a partly
wrong one; plus a roster export that also lists a student who never submitted. One command
grades it all; the gradebook, the report (with its class view) and the Canvas import file are
checked against what each student deserves.
"""

from __future__ import annotations

import csv
import json
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder import lms
from autograder.__main__ import main
from autograder.batch import course_at
from autograder.nbgrader_cli import REPO
from autograder.report import max_points
from autograder.results import result
from autograder.synthetic import notebook_with
from tests.mistakes import MISTAKES

A = "01_mnist"
SOLUTION = REPO / "solutions" / A / f"{A}.ipynb"


# --- file names, duplicates, renamed notebooks, rosters (no grading) ---------------------------


def test_canvas_names_say_student_lateness_and_try():
    f = lms.parse_name("submissions/bob_LATE_1002_2012_01_mnist-2.ipynb")
    assert f == lms.LmsFile(
        member="submissions/bob_LATE_1002_2012_01_mnist-2.ipynb",
        student="bob",
        file="01_mnist.ipynb",
        late=True,
        attempt=2,
        submission_id=2012,
    )
    first = lms.parse_name("alice_1001_2001_01_mnist.ipynb")
    assert (first.late, first.attempt, first.file) == (False, 0, "01_mnist.ipynb")
    assert lms.parse_name("README.txt") is None


def test_only_the_latest_try_is_kept_and_the_older_reported(tmp_path):
    archive = tmp_path / "download.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("bob_1002_2002_01_mnist.ipynb", "first")
        z.writestr("bob_1002_2012_01_mnist-1.ipynb", "second")
        z.writestr("alice_1001_2001_01_mnist.ipynb", "alice")
        z.writestr("notes.txt", "not a submission")
    collected, notes = lms.clean_archive(archive, tmp_path / "clean.zip")
    with zipfile.ZipFile(tmp_path / "clean.zip") as z:
        kept = {n: z.read(n).decode() for n in z.namelist()}
    assert kept == {
        "bob_1002_2012_01_mnist-1.ipynb": "second",
        "alice_1001_2001_01_mnist.ipynb": "alice",
        "notes.txt": "not a submission",
    }
    assert collected["bob"].replaced == ["bob_1002_2002_01_mnist.ipynb"]
    assert len(notes) == 1 and "bob_1002_2002_01_mnist.ipynb" in notes[0] and "-1" in notes[0]


def test_a_notebook_is_recognised_by_its_grade_ids_whatever_its_name():
    expected = lms.source_ids(REPO / "solutions" / A)
    mine = SOLUTION.read_bytes()
    other = (REPO / "solutions" / "02_convolution" / "02_convolution.ipynb").read_bytes()
    assert lms.find_renamed({"my_homework.ipynb": mine}, expected) == {
        "my_homework.ipynb": f"{A}.ipynb"
    }
    assert lms.find_renamed({"02_other.ipynb": other}, expected) == {}
    assert lms.find_renamed({f"{A}.ipynb": mine, "copy.ipynb": mine}, expected) == {}
    assert lms.find_renamed({"broken.ipynb": b"{not json"}, expected) == {}


def test_roster_exports_are_read_with_their_own_headers(tmp_path):
    canvas = tmp_path / "canvas.csv"
    canvas.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section\n"
        "    Points Possible,,,,\n"
        '"Martin, Alice",1001,alice,alice@example.edu,Lab A\n'
    )
    assert lms.read_roster(canvas) == [
        lms.RosterEntry("alice", "Alice", "Martin", "alice@example.edu", "Lab A", "1001")
    ]
    simple = tmp_path / "simple.csv"
    simple.write_text("id,name,email,section\nbob,Bob Nguyen,bob@example.edu,Lab B\n")
    assert lms.read_roster(simple) == [
        lms.RosterEntry("bob", "Bob", "Nguyen", "bob@example.edu", "Lab B", None)
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text("name,email\nBob,bob@example.edu\n")
    with pytest.raises(lms.RosterError, match="no student id column"):
        lms.read_roster(bad)
    twice = tmp_path / "twice.csv"
    twice.write_text("id,name\nbob,Bob\nbob,Bobby\n")
    with pytest.raises(lms.RosterError, match="line 3.*twice"):
        lms.read_roster(twice)


# --- one class, end to end ---------------------------------------------------------------------

ROSTER = [  # Student, ID (Canvas), SIS User ID, SIS Login ID, Section
    ("Martin, Alice", "1001", "alice", "alice@example.edu", "Lab A"),
    ("Nguyen, Bob", "1002", "bob", "bob@example.edu", "Lab A"),
    ("Diaz, Carol", "1003", "carol", "carol@example.edu", "Lab B"),
    ("Okafor, Dave", "1004", "dave", "dave@example.edu", "Lab B"),
    ("Ito, Eve", "1005", "eve", "eve@example.edu", "Lab A"),
    ("Rossi, Frank", "1006", "frank", "frank@example.edu", "Lab B"),
    ("Hopper, Grace", "1007", "grace", "grace@example.edu", "Lab A"),  # never submitted
]


slow = pytest.mark.slow  # the tests below grade a class (about a minute)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, mnist_cache):
    """A fresh course (sources only, empty gradebook), its class graded from one zip."""
    tmp = tmp_path_factory.mktemp("lms")
    root = tmp / "course"
    shutil.copytree(
        REPO / "solutions" / A,
        root / "solutions" / A,
        ignore=shutil.ignore_patterns(".*", "__pycache__"),
    )
    pad, scale = MISTAKES[A][0], MISTAKES[A][1]
    wrong = nbformat.writes(notebook_with(SOLUTION, pad.replacements))
    partly = nbformat.writes(notebook_with(SOLUTION, scale.replacements))
    archive = tmp / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(SOLUTION, f"alice_1001_2001_{A}.ipynb")
        z.writestr(f"bob_1002_2002_{A}.ipynb", wrong)  # first try, then the fix
        z.write(SOLUTION, f"bob_1002_2012_{A}-1.ipynb")
        z.write(SOLUTION, f"carol_LATE_1003_2003_{A}.ipynb")
        z.write(SOLUTION, "dave_1004_2004_my_homework.ipynb")
        z.writestr(f"eve_1005_2005_{A}.ipynb", '{"cells": [ {"cell_type": "code", "sour')
        z.writestr(f"frank_1006_2006_{A}.ipynb", partly)
    roster = tmp / "roster.csv"
    with roster.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section"])
        writer.writerows(ROSTER)
    argv = ["--root", str(root), "-j", "2", "--cell-timeout", "120", "--no-progress"]
    assert main([*argv, "--zip", str(archive), "-a", A, "--roster", str(roster)]) == 0
    return root, scale


def entries(root: Path) -> dict[str, dict]:
    data = json.loads((root / "autograder" / "reports" / "report.json").read_text())
    return {e["student"]: e for e in data["submissions"]}


@slow
def test_fresh_clone_gets_the_assignment_into_the_gradebook(graded):
    root, _ = graded
    with Gradebook(course_at(root).db_url) as gb:
        assert [a.name for a in gb.assignments] == [A]
        assert gb.find_assignment(A).max_score == 10


@slow
def test_every_student_gets_what_they_deserve(graded):
    root, scale = graded
    db = course_at(root).db_url
    score = {s: result(db, A, s) for s in ("alice", "bob", "carol", "dave", "eve", "frank")}
    assert {s: r.score for s, r in score.items()} == {
        "alice": 10,
        "bob": 10,  # the resubmission won
        "carol": 10,
        "dave": 10,  # graded although renamed
        "eve": 0,
        "frank": 10 - sum(max_points(db, A)[c] for c in scale.caught_by),
    }
    assert result(db, A, "grace") is None
    report = entries(root)
    assert report["eve"]["status"] == "failed" and "JSON" in report["eve"]["reason"]
    assert {f["cell"] for f in report["frank"]["failed_cells"]} == set(scale.caught_by)


@slow
def test_resubmission_late_and_renamed_reach_report_and_gradebook(graded):
    root, _ = graded
    report = entries(root)
    assert report["bob"]["lms"] == {"replaced": [f"bob_1002_2002_{A}.ipynb"]}
    assert report["carol"]["lms"] == {"late": True}
    assert report["dave"]["lms"] == {"renamed": {"my_homework.ipynb": f"{A}.ipynb"}}
    assert report["alice"]["lms"] == {}
    with Gradebook(course_at(root).db_url) as gb:
        flagged = {
            s: any(nb.flagged for nb in gb.find_submission(A, s).notebooks)
            for s in ("alice", "bob", "carol", "dave", "frank")
        }
    assert flagged == {"alice": False, "bob": False, "carol": True, "dave": True, "frank": False}
    md = (root / "autograder" / "reports" / "report.md").read_text()
    assert "**late**" in md and "**renamed**: `my_homework.ipynb` was graded as" in md
    assert f"bob_1002_2002_{A}.ipynb` was left out" in md


@slow
def test_roster_fills_the_gradebooks_students(graded):
    root, _ = graded
    with Gradebook(course_at(root).db_url) as gb:
        students = {s.id: (s.first_name, s.last_name, s.email, s.lms_user_id) for s in gb.students}
    assert students["alice"] == ("Alice", "Martin", "alice@example.edu", "1001")
    assert students["grace"] == ("Grace", "Hopper", "grace@example.edu", "1007")
    assert set(students) == {r[2] for r in ROSTER}


@slow
def test_canvas_import_file_has_one_row_per_student(graded):
    root, scale = graded
    path = root / "autograder" / "reports" / "canvas_grades.csv"
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", A]
    assert rows[1][0] == "Points Possible" and rows[1][-1] == "10"
    body = {r[2]: r for r in rows[2:]}
    assert body["alice"] == ["Martin, Alice", "1001", "alice", "alice@example.edu", "Lab A", "10"]
    assert body["eve"][-1] == "0"
    assert body["grace"][-1] == "", "no submission: an empty cell, not a zero"
    assert len(body) == len(ROSTER)


@slow
def test_class_view_shows_the_hardest_cell_and_its_messages(graded):
    root, scale = graded
    reports = root / "autograder" / "reports"
    data = json.loads((reports / "report.json").read_text())
    (view,) = data["class"]
    assert view["assignment"] == A and view["students"] == 6
    cells = {c["cell"]: c for c in view["cells"]}
    (caught,) = scale.caught_by
    assert cells[caught]["lost"] == 2  # frank's mistake and eve's broken notebook
    assert cells[caught]["share_lost"] == pytest.approx(2 / 6)
    messages = [m for m, _ in cells[caught]["messages"]]
    frank = next(f["why"] for f in entries(root)["frank"]["failed_cells"] if f["cell"] == caught)
    assert messages == [frank, "not graded: invalid notebook JSON"], messages
    assert cells["test_pad_to_32"]["messages"] == [["not graded: invalid notebook JSON", 1]]
    png = reports / view["histogram"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (reports / "report.md").read_text()
    assert f"## Class view: {A}" in md and f"]({view['histogram']})" in md
    # The same view on its own, from the gradebook alone (as on the hub).
    from autograder.report import main as report_main

    assert report_main(["--root", str(root)]) == 0
    assert f"`{caught}` | " in (reports / "class.md").read_text()
