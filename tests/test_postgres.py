"""Batch grading into a PostgreSQL gradebook: two workers and a human grader write at once.

The workers belong to a Dask cluster that the batch reaches by its scheduler's address.

The test starts a real PostgreSQL server (Debian package ``postgresql``, from
system-packages.txt) in a temporary folder, as the ``postgres`` user when run as root (the
server refuses to run as root), on 127.0.0.1 and a free port, and stops it at the end.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
from distributed import LocalCluster

from autograder.batch import Options, course_at, in_gradebook, run
from autograder.nbgrader_cli import nbgrader
from autograder.results import result
from autograder.synthetic import notebook_with, submit
from tests.mistakes import MISTAKES

pytestmark = pytest.mark.slow

A = "01_mnist"


def server_binaries() -> Path | None:
    """The folder of initdb and pg_ctl (Debian keeps them off PATH), or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """A fresh PostgreSQL server with an empty ``gradebook`` database; its SQLAlchemy URL."""
    bindir = server_binaries()
    if bindir is None:
        msg = "PostgreSQL is not installed: run `make system-deps` (apt-get install postgresql)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    folder = Path(tempfile.mkdtemp(prefix="lenet-pg-"))  # short: it holds the unix socket
    as_owner: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root: run it as the package's user
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()

    def pg(*cmd: str) -> None:
        done = subprocess.run([*as_owner, *cmd], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{cmd[0]} failed: {done.stdout}{done.stderr}"

    pg(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "grader", "-E", "UTF8")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg(
        str(bindir / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(folder / "log"),
        "-w",
        "-o",
        options,
        "start",
    )
    try:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=port, user="grader", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE gradebook")
        yield f"postgresql+psycopg://grader@127.0.0.1:{port}/gradebook"
    finally:
        pg(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def course(tmp_path_factory, postgres_url, mnist_cache):
    """A scratch course whose gradebook is the PostgreSQL database, with 01_mnist released."""
    root = tmp_path_factory.mktemp("pg-course")
    shutil.copytree(course_at().folder("source") / A, root / "solutions" / A)
    c = course_at(root, postgres_url)
    nbgrader("generate_assignment", A, "--force", *c.nbgrader_flags())
    return c


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")  # nbgrader's add_submission
def test_two_workers_and_a_grader_write_the_postgres_gradebook_at_once(course):
    sol = course.root / "solutions" / A / f"{A}.ipynb"
    mistake = MISTAKES[A][0]
    submit(course.root, "alice", A, sol)
    submit(course.root, "bob", A, notebook_with(sol, mistake.replacements))
    submit(course.root, "carol", A, course.root / "course" / A / f"{A}.ipynb")
    bad = course.root / "autograder" / "submitted" / "dora" / A
    bad.mkdir(parents=True)
    (bad / f"{A}.ipynb").write_text("not a notebook")

    from nbgrader.api import Gradebook

    with Gradebook(course.db_url) as gb:  # a submission a TA grades by hand meanwhile
        gb.update_or_create_student("ta_graded")
        gb.update_or_create_submission(A, "ta_graded")
    stop, writes = threading.Event(), []

    def grader() -> None:
        while not stop.is_set():
            with Gradebook(course.db_url) as gb:
                grade = gb.find_grade("test_pad_to_32", A, A, "ta_graded")
                grade.manual_score = 2.0
                comment = gb.find_comment("pad_to_32", A, A, "ta_graded")
                comment.manual_comment = f"looked at it {len(writes)} times"
                gb.db.commit()
            writes.append(1)
            stop.wait(0.1)

    thread = threading.Thread(target=grader)
    # A cluster started apart from the batch, reached through its scheduler's address (as a
    # real cluster would be: `python -m autograder --scheduler tcp://host:8786`).
    with LocalCluster(
        n_workers=2, threads_per_worker=1, memory_limit=0, dashboard_address=None
    ) as cluster:
        thread.start()
        try:
            options = Options(scheduler=cluster.scheduler_address, progress=False, feedback=False)
            summary = run(course, options)
        finally:
            stop.set()
            thread.join()
    assert summary.workers == 2
    assert len(writes) > 5, "the grader did not write while the batch ran"
    assert sorted(summary.graded) == [("alice", A), ("bob", A), ("carol", A)]
    assert summary.failed == [("dora", A)]

    full = result(course.db_url, A, "alice")
    assert full.score == full.max_score == 10
    bob = result(course.db_url, A, "bob")
    assert {c for c, p in bob.cells.items() if p != full.cells[c]} == set(mistake.caught_by)
    assert result(course.db_url, A, "carol").score == 0
    assert result(course.db_url, A, "dora").score == 0
    ta = result(course.db_url, A, "ta_graded")
    assert ta.cells["test_pad_to_32"] == 2.0 and ta.score == 2.0
    assert in_gradebook(course.db_url) == {
        (s, A) for s in ["alice", "bob", "carol", "dora", "ta_graded"]
    }
    records = course.reports / "records" / A
    workers = {
        json.loads((records / f"{s}.json").read_text())["worker"] for s in "alice bob carol".split()
    }
    assert len(workers) == 2, f"expected both workers to grade, got {workers}"
    sheet = summary.grades_csv.read_text()
    assert "alice" in sheet and "ta_graded" in sheet
