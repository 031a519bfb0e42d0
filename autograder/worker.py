"""Grade one submission in a scratch course root: the task that batch workers run.

A job carries everything it needs as bytes (the submitted files, the assignment's non-notebook
source files, a gradebook template), so a worker on another machine needs only this repository
installed, not the instructor's folders. nbgrader's own ``Autograde`` converter runs in the
worker process (imports stay warm between submissions) with the course's nbgrader_config.py;
only the folders and the gradebook point into the scratch root.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy.exc import SAWarning

from autograder.course import config, config_at, gradebook_url, sqlite_path
from autograder.gradebook_sync import Snapshot, snapshot
from autograder.nbgrader_cli import nbgrader_env

#: Files larger than this in an autograded folder are left out of the outcome (and reported).
MAX_FILE_BYTES = 20 * 2**20


@dataclass(frozen=True)
class Job:
    """One submission to grade.

    ``files``: the submitted folder, path relative to it -> content. ``source_files``: the
    assignment's non-notebook source files (nbgrader copies them next to the graded notebook).
    ``db_url``: a gradebook server the worker writes directly; None grades against a scratch
    SQLite copy of the template. ``config``: nbgrader config overrides, e.g.
    ``{"Execute": {"timeout": 5}}``. ``time_limit``: seconds for the whole submission.
    ``earlier``: the student's submitted notebooks of other assignments ({assignment: {name:
    content}}), for notebooks that carry earlier answers forward (lenet_kit.yours).
    """

    student: str
    assignment: str
    files: dict[str, bytes]
    source_files: dict[str, bytes] = field(default_factory=dict)
    db_url: str | None = None
    config: dict[str, dict[str, Any]] = field(default_factory=dict)
    time_limit: float | None = None
    earlier: dict[str, dict[str, bytes]] = field(default_factory=dict)


@dataclass
class Outcome:
    """What grading one submission produced.

    ``status``: "graded" (nbgrader finished) or "failed" (nbgrader gave up; ``reason`` says
    why). ``files``: the autograded folder, relative path -> content. ``snapshot``: the scratch
    gradebook's results (None when the worker wrote a server gradebook directly).
    """

    student: str
    assignment: str
    status: str
    reason: str | None
    seconds: float
    worker: str
    files: dict[str, bytes] = field(default_factory=dict)
    snapshot: Snapshot | None = None
    warnings: list[str] = field(default_factory=list)
    log: str = ""


def _write_tree(folder: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        target = (folder / rel).resolve()
        if not target.is_relative_to(folder.resolve()):
            raise ValueError(f"refusing to write {rel!r} outside {folder}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def read_tree(folder: Path, skip: tuple[str, ...] = ()) -> tuple[dict[str, bytes], list[str]]:
    """Every file under ``folder`` (relative path -> bytes) and notes on files left out."""
    files, notes = {}, []
    if not folder.is_dir():
        return files, notes
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = str(path.relative_to(folder))
        if any(part in skip for part in path.relative_to(folder).parts):
            continue
        if path.stat().st_size > MAX_FILE_BYTES:
            notes.append(f"left out {rel}: {path.stat().st_size} bytes")
            continue
        files[rel] = path.read_bytes()
    return files, notes


class _Watchdog:
    """Kill this process's child processes (the kernel) once ``seconds`` have passed."""

    def __init__(self, seconds: float | None):
        self.fired = False
        self._timer = threading.Timer(seconds, self._fire) if seconds else None

    def _fire(self) -> None:
        self.fired = True
        for child in psutil.Process().children(recursive=True):
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass

    def __enter__(self) -> _Watchdog:
        if self._timer:
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._timer:
            self._timer.cancel()


@contextlib.contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """In a Dask worker, send this process's stdout/stderr (and so the kernel's, which inherits
    them) to ``path`` while grading: the coordinator's terminal shows its own progress only."""
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        in_worker = False
    else:
        in_worker = True
    if not in_worker:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(path, "ab") as sink:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy_ in zip((1, 2), saved, strict=True):
            os.dup2(copy_, fd)
            os.close(copy_)


_REASONS = [
    (r"DeadKernelError|Kernel died", "the kernel died while running the notebook"),
    (r"NotJSONError|JSONDecodeError", "invalid notebook JSON"),
    (r"ValidationError|NBFormatError", "the notebook does not follow the Jupyter format"),
    (r"No notebooks found", "no notebook of this assignment in the submission"),
    (r"Inconsistent checksums", "test or solution cells were changed (checksums)"),
    (r"CellTimeoutError", "a cell exceeded the time limit"),
]
_GENERIC = ("NbGraderException", "There was an error processing", "Please see the")


def failure_reason(log: str, error: str) -> str:
    """A one-line reason for a failed nbgrader run, from its log and traceback."""
    text = f"{log}\n{error}"
    cause = _cause(text)
    for pattern, reason in _REASONS:
        if re.search(pattern, text):
            return f"{reason}: {cause}" if cause else reason
    return cause or "nbgrader failed without a message"


def _cause(text: str) -> str:
    """The most specific error line: the last exception raised, else nbgrader's last error."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not any(g in ln for g in _GENERIC)]
    raised = [ln for ln in lines if re.match(r"^[\w.]+(Error|Exception|Interrupt)\b", ln)]
    logged = [ln.removeprefix("[ERROR] ") for ln in lines if ln.startswith("[ERROR]")]
    found = raised or logged
    return found[-1][:300] if found else ""


def log_warnings(log: str) -> list[str]:
    """nbgrader's warnings about the submission (unknown notebooks, missing files, lateness)."""
    keep = ("Skipping unknown notebook", "No submitted file", "seconds late", "Inconsistent")
    return [ln.split("] ", 1)[-1][:300] for ln in log.splitlines() if any(k in ln for k in keep)]


def _run_autograde(root: Path, job: Job, db_url: str) -> dict[str, Any]:
    """nbgrader's own autograde of one submission, in this process (NbGraderAPI)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    cfg = config_at(root, db_url, job.config)
    api = NbGraderAPI(CourseDirectory(config=cfg), config=cfg)
    return api.autograde(job.assignment, job.student, force=True, create=True)


def grade(job: Job, template: bytes | None = None) -> Outcome:
    """Autograde ``job`` with nbgrader in a scratch course root; never raises for bad work."""
    start = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    os.environ["PATH"] = nbgrader_env()["PATH"]
    # nbgrader's add_submission trips SQLAlchemy's autoflush warning; it is harmless.
    warnings.filterwarnings("ignore", "Object of type", SAWarning)
    with tempfile.TemporaryDirectory(prefix="lenet-grade-") as tmp:
        root = Path(tmp)
        cfg = config_at(root, "sqlite://")
        submitted = root / cfg.CourseDirectory.submitted_directory / job.student / job.assignment
        _write_tree(submitted, job.files)
        for other, notebooks in job.earlier.items():
            _write_tree(submitted.parent / other, notebooks)
        _write_tree(root / cfg.CourseDirectory.source_directory / job.assignment, job.source_files)
        if job.db_url is None:
            if template is None:
                raise ValueError("a job without db_url needs the gradebook template bytes")
            db_url = gradebook_url(root)
            sqlite_path(db_url).write_bytes(template)
        else:
            db_url = job.db_url
        with _Watchdog(job.time_limit) as dog, _output_to(root / "kernel-output.log"):
            result = _run_autograde(root, job, db_url)
        log, error = result.get("log", ""), result.get("error", "")
        autograded = root / cfg.CourseDirectory.autograded_directory / job.student / job.assignment
        files, notes = read_tree(autograded)
        if dog.fired:
            status, reason = "failed", f"exceeded the time limit of {job.time_limit:g} s"
        elif result["success"]:
            status, reason = "graded", None
        else:
            status, reason = "failed", failure_reason(log, error)
            if "No notebooks found" in log + error:
                names = ", ".join(sorted(job.files)) or "nothing"
                reason = f"no notebook of {job.assignment} in the submission (it holds: {names})"
        return Outcome(
            student=job.student,
            assignment=job.assignment,
            status=status,
            reason=reason,
            seconds=time.perf_counter() - start,
            worker=worker,
            files=files,
            snapshot=snapshot(db_url, job.assignment, job.student) if job.db_url is None else None,
            warnings=log_warnings(log) + notes,
            log=(log + "\n" + error)[-6000:],
        )


def warm_up() -> str:
    """Import nbgrader and the kernel machinery once per worker process (before timing)."""
    import nbclient  # noqa: F401
    import nbgrader.converters  # noqa: F401

    config()
    return f"{socket.gethostname()}:{os.getpid()}"
