"""Grade a whole class: collect, autograde in parallel on Dask workers, feedback, export, report.

Each submission is graded by nbgrader's own ``Autograde`` on a worker, in a scratch course root
(see autograder/worker.py). With an SQLite gradebook the worker grades against a copy that
holds only the assignments and the coordinator merges the results into the course gradebook,
one submission at a time (SQLite allows one writer); with a database server (PostgreSQL) the
workers write the gradebook themselves, as several formgrader users may at the same time.

For each finished submission the coordinator, in this order, replaces the autograded folder,
writes the gradebook, and then writes a record (``autograder/reports/records/A/S.json`` with
the submission's SHA-256, status, reason and timing). A submission counts as graded only when
its record matches the submitted files and the gradebook has it, so a run that is interrupted
at any point resumes by regrading exactly what was not finished; nothing is duplicated because
nbgrader's gradebook updates the one row per student, assignment and cell.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from nbgrader.api import Gradebook

from autograder import lms, report
from autograder.cluster import default_workers
from autograder.collect import Submission, find_submissions
from autograder.course import config, config_at, gradebook_url, sqlite_path
from autograder.gradebook_sync import apply, prepare, snapshot, template
from autograder.nbgrader_cli import REPO, nbgrader, nbgrader_env
from autograder.worker import Job, Outcome, grade, read_tree, warm_up
from lenet_kit.yours import CARRY_CALL


class UnknownAssignment(ValueError):
    """Submissions exist for an assignment that was never released into the gradebook."""


@dataclass(frozen=True)
class Course:
    """Where one course keeps its folders and gradebook (the repository's, or a scratch root)."""

    root: Path
    db_url: str

    @property
    def _cfg(self):
        return config_at(self.root, self.db_url)

    def folder(self, name: str) -> Path:
        return self.root / getattr(self._cfg.CourseDirectory, f"{name}_directory")

    @property
    def reports(self) -> Path:
        return self.root / "autograder" / "reports"

    def record_path(self, student: str, assignment: str) -> Path:
        return self.reports / "records" / assignment / f"{student}.json"

    def nbgrader_flags(self) -> list[str]:
        """Flags that point a plain ``nbgrader`` command at this course."""
        if self.root == REPO and self.db_url == default_course().db_url:
            return []
        return [
            f"--CourseDirectory.root={self.root}",
            f"--CourseDirectory.db_url={self.db_url}",
            f"--Exchange.root={self.root / 'autograder' / 'exchange'}",
        ]

    @property
    def merges(self) -> bool:
        """True for SQLite: workers grade against scratch copies and the coordinator merges."""
        return sqlite_path(self.db_url) is not None


def _shown(db_url: str) -> str:
    """A gradebook URL without its password (for messages)."""
    from sqlalchemy.engine import make_url

    return make_url(db_url).render_as_string(hide_password=True)


def default_course() -> Course:
    """The repository's course, as nbgrader_config.py describes it."""
    cfg = config()
    return Course(Path(cfg.CourseDirectory.root), cfg.CourseDirectory.db_url)


def course_at(root: Path | None = None, db_url: str | None = None) -> Course:
    """The course at ``root`` (default: this repository); SQLite gradebook under it by default."""
    if root is None and db_url is None:
        return default_course()
    root = Path(root).resolve() if root else REPO
    if db_url is None:
        db_url = default_course().db_url if root == REPO else gradebook_url(root)
    return Course(root, db_url)


@dataclass
class Options:
    """What to grade and how (see ``python -m autograder --help``)."""

    assignments: list[str] | None = None
    students: list[str] | None = None
    force: bool = False
    workers: int | None = None
    scheduler: str | None = None
    cell_timeout: float | None = None
    time_limit: float | None = None
    feedback: bool = True
    progress: bool = True
    roster: Path | None = None  # an LMS roster export to import into the gradebook first


@dataclass
class Summary:
    """What a batch did; ``entries`` is the report's content."""

    graded: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    grading_seconds: float = 0.0
    workers: int = 0
    notes: list[str] = field(default_factory=list)
    report_md: Path | None = None
    report_json: Path | None = None
    grades_csv: Path | None = None
    lms_csv: Path | None = None
    added_assignments: list[str] = field(default_factory=list)
    entries: list[report.Entry] = field(default_factory=list)


def timeout_overrides(seconds: float) -> dict[str, dict[str, Any]]:
    """Config that sets the per-cell time limit on ``Execute`` and every executor configured
    in its place (the course may run a subclass, whose own settings would win)."""
    names = {"Execute"}
    for pp in config_at(REPO, "sqlite://").Autograde.get("autograde_preprocessors", []):
        name = pp if isinstance(pp, str) else pp.__name__
        if name.rsplit(".", 1)[-1].endswith("Execute"):
            names.add(name.rsplit(".", 1)[-1])
    return {name: {"timeout": seconds} for name in sorted(names)}


def read_record(course: Course, student: str, assignment: str) -> dict[str, Any] | None:
    path = course.record_path(student, assignment)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def in_gradebook(db_url: str) -> set[tuple[str, str]]:
    """(student, assignment) of every submission the gradebook holds."""
    with Gradebook(db_url) as gb:
        return {(sub.student.id, a.name) for a in gb.assignments for sub in a.submissions}


def is_done(course: Course, sub: Submission, digest: str, graded: set[tuple[str, str]]) -> bool:
    """Graded by an earlier batch from exactly these files, and complete on disk and in the DB."""
    rec = read_record(course, sub.student, sub.assignment)
    if rec is None or rec.get("digest") != digest:
        return False
    if (sub.student, sub.assignment) not in graded:
        return False
    folder = course.folder("autograded") / sub.student / sub.assignment
    return rec.get("status") == "failed" or any(folder.glob("*.ipynb"))


def carries_forward(course: Course, assignment: str) -> bool:
    """Whether ``assignment``'s notebook brings earlier answers in (lenet_kit.yours)."""
    folder = course.folder("source") / assignment
    return any(CARRY_CALL in p.read_text() for p in folder.glob("*.ipynb"))


def earlier_work(sub: Submission, everyone: list[Submission]) -> dict[str, dict[str, bytes]]:
    """The notebooks of ``sub``'s student's submissions of earlier assignments (by name)."""
    return {
        other.assignment: {p.name: p.read_bytes() for p in sorted(other.folder.glob("*.ipynb"))}
        for other in everyone
        if other.student == sub.student and other.assignment < sub.assignment
    }


def _digest_with(own: str, earlier: dict[str, dict[str, bytes]]) -> str:
    """``own`` digest, extended by the earlier notebooks a carrying-forward grade depends on."""
    if not earlier:
        return own
    h = hashlib.sha256(own.encode())
    for assignment, notebooks in sorted(earlier.items()):
        for name, data in sorted(notebooks.items()):
            h.update(f"\0{assignment}/{name}\0".encode() + data)
    return h.hexdigest()


def _source_files(course: Course, assignment: str) -> dict[str, bytes]:
    files, _ = read_tree(course.folder("source") / assignment, skip=(".ipynb_checkpoints",))
    return {k: v for k, v in files.items() if not k.endswith(".ipynb") and "__pycache__" not in k}


def store(
    course: Course, outcome: Outcome, digest: str, lms_facts: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Put one outcome into the course: autograded folder, gradebook, then the record.

    ``lms_facts`` (late, renamed, replaced tries) go into the record; a late or renamed
    submission is also flagged for review in the gradebook."""
    s, a = outcome.student, outcome.assignment
    record_path = course.record_path(s, a)
    record_path.unlink(missing_ok=True)
    dest = course.folder("autograded") / s / a
    incoming = dest.parent / f".{a}.incoming"
    shutil.rmtree(incoming, ignore_errors=True)
    for rel, data in outcome.files.items():
        (incoming / rel).parent.mkdir(parents=True, exist_ok=True)
        (incoming / rel).write_bytes(data)
    shutil.rmtree(dest, ignore_errors=True)
    if outcome.files:
        os.replace(incoming, dest)
    failed = outcome.status == "failed"
    if course.merges:
        apply(course.db_url, a, s, outcome.snapshot, failed=failed)
    elif failed:
        apply(course.db_url, a, s, snapshot(course.db_url, a, s), failed=True)
    rec = {
        "student": s,
        "assignment": a,
        "digest": digest,
        "status": outcome.status,
        "reason": outcome.reason,
        "seconds": round(outcome.seconds, 3),
        "worker": outcome.worker,
        "graded_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "warnings": outcome.warnings,
    }
    if lms_facts:
        rec["lms"] = lms_facts
        if lms_facts.get("late") or lms_facts.get("renamed"):
            lms.flag_in_gradebook(course.db_url, a, s)
    _write_json_atomically(record_path, rec)
    return rec


def _failed_outcome(job: Job, err: BaseException, seconds: float) -> Outcome:
    return Outcome(
        student=job.student,
        assignment=job.assignment,
        status="failed",
        reason=f"the grading worker failed: {type(err).__name__}: {err}"[:400],
        seconds=seconds,
        worker="?",
    )


def grade_all(
    course: Course,
    jobs: list[tuple[Job, str]],
    options: Options,
    facts: dict[tuple[str, str], dict[str, Any]] | None = None,
) -> tuple[list[Outcome], int]:
    """Grade ``jobs`` (job, digest) on Dask workers; store each outcome as it arrives.

    ``facts``: per (student, assignment), what the LMS said (see ``store``).

    Returns the outcomes and the number of workers that the cluster had.
    """
    from distributed import as_completed
    from tqdm.auto import tqdm

    from autograder.cluster import dask_client

    outcomes = []
    with tempfile.TemporaryDirectory(prefix="lenet-batch-") as tmp:
        tmpl = template(course.db_url, Path(tmp) / "template.db") if course.merges else None
        with dask_client(options.workers, options.scheduler) as client:
            workers = len(client.run(warm_up))
            shared = client.scatter(tmpl, broadcast=True) if tmpl is not None else None
            started = {}
            futures = {}
            for job, digest in jobs:
                fut = client.submit(
                    grade,
                    job,
                    shared,
                    pure=False,
                    key=f"grade-{job.assignment}-{job.student}-{time.time_ns()}",
                )
                futures[fut] = (job, digest)
                started[fut] = time.perf_counter()
            bar = tqdm(total=len(jobs), unit="sub", disable=not options.progress, smoothing=0)
            for fut in as_completed(futures):
                job, digest = futures[fut]
                try:
                    outcome = fut.result()
                except Exception as err:  # a worker that died repeatedly, or a bug: grade zero
                    outcome = _failed_outcome(job, err, time.perf_counter() - started[fut])
                store(course, outcome, digest, (facts or {}).get((job.student, job.assignment)))
                outcomes.append(outcome)
                bar.update()
                if options.progress:
                    bar.write(
                        f"{outcome.student}/{outcome.assignment}: {outcome.status} in "
                        f"{outcome.seconds:.1f} s"
                        + (f" ({outcome.reason})" if outcome.reason else "")
                    )
            bar.close()
    return outcomes, workers


def _feedback(course: Course, assignment: str, students: list[str]) -> str | None:
    """Regenerate feedback for ``students`` with nbgrader's ``GenerateFeedback`` and the course's
    config (hidden tests stripped); returns an error message or None."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    for s in students:
        shutil.rmtree(course.folder("feedback") / s / assignment, ignore_errors=True)
    cfg = config_at(course.root, course.db_url)
    coursedir = CourseDirectory(config=cfg)
    coursedir.assignment_id = assignment
    done = capture_log(GenerateFeedback(coursedir=coursedir, config=cfg))
    if not done["success"]:
        return f"generate_feedback {assignment} failed: {done.get('error', '')[-500:]}"
    return None


def export_csv(course: Course) -> Path:
    """The grade sheet, written by nbgrader's CSV export plugin (as ``nbgrader export`` does)."""
    from nbgrader.plugins import CsvExportPlugin

    path = course.reports / "grades.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = config_at(course.root, course.db_url)
    with Gradebook(course.db_url) as gb:
        CsvExportPlugin(config=cfg, to=str(path)).export(gb)
    return path


def add_to_gradebook(course: Course, names: list[str]) -> list[str]:
    """Record assignments the gradebook lacks, from their source folders, as ``nbgrader
    generate_assignment`` does (in a scratch root: the course's release folder is left as it
    is). Returns the names added; raises ``UnknownAssignment`` for names with no source."""
    source = course.folder("source")
    unknown = [n for n in names if not (source / n).is_dir()]
    if unknown:
        raise UnknownAssignment(
            f"submissions for {unknown}, which neither the gradebook ({_shown(course.db_url)}) "
            f"nor the source folder {source} has: check the assignment names in "
            f"{course.folder('submitted')}, or add the assignments' source folders"
        )
    cfg = config_at(course.root, course.db_url)
    with tempfile.TemporaryDirectory(prefix="lenet-add-") as tmp:
        for name in names:
            shutil.copytree(
                source / name,
                Path(tmp) / cfg.CourseDirectory.source_directory / name,
                ignore=shutil.ignore_patterns(".*", "__pycache__"),
            )
            nbgrader(
                "generate_assignment",
                name,
                f"--CourseDirectory.root={tmp}",
                f"--CourseDirectory.db_url={course.db_url}",
            )
    return list(names)


def _lms_facts(sub: Submission, renamed: dict[str, str]) -> dict[str, Any]:
    """What the LMS's file names said about a submission, and any notebook taken as renamed."""
    collected = lms.read_meta(sub.folder).get("lms", {})
    facts: dict[str, Any] = {}
    if collected.get("late"):
        facts["late"] = True
    if collected.get("replaced"):
        facts["replaced"] = list(collected["replaced"])
    if renamed:
        facts["renamed"] = dict(renamed)
    return facts


def run(course: Course, options: Options) -> Summary:
    """Grade what needs grading, then feedback, grade sheet and report (bad work never raises)."""
    start = time.perf_counter()
    os.environ["PATH"] = nbgrader_env()["PATH"]  # nbgrader runs `alembic` for a new gradebook
    summary = Summary(workers=options.workers or default_workers())
    everyone, summary.notes = find_submissions(course.folder("submitted"))
    subs = [
        s
        for s in everyone
        if (options.assignments is None or s.assignment in options.assignments)
        and (options.students is None or s.student in options.students)
    ]
    prepare(course.db_url, sorted({s.student for s in subs}))
    if options.roster is not None:
        entries = lms.import_roster(course.db_url, options.roster, course.reports / "roster.json")
        summary.notes.append(f"roster: {len(entries)} students from {options.roster}")
    with Gradebook(course.db_url) as gb:
        known = {a.name for a in gb.assignments}
    unknown = sorted({s.assignment for s in subs} - known)
    if unknown:  # a fresh clone: record them as generate_assignment would
        summary.added_assignments = add_to_gradebook(course, unknown)
        summary.notes.append(f"added to the gradebook from their sources: {unknown}")
    graded = in_gradebook(course.db_url)
    overrides = timeout_overrides(options.cell_timeout) if options.cell_timeout else {}
    sources: dict[str, dict[str, bytes]] = {}
    expected: dict[str, dict[str, set[str]]] = {}
    lms_facts: dict[tuple[str, str], dict[str, Any]] = {}
    jobs = []
    carrying = {a: carries_forward(course, a) for a in {s.assignment for s in subs}}
    for sub in subs:
        earlier = earlier_work(sub, everyone) if carrying[sub.assignment] else {}
        digest = _digest_with(sub.digest(), earlier)
        if not options.force and is_done(course, sub, digest, graded):
            summary.skipped.append((sub.student, sub.assignment))
            continue
        if sub.assignment not in sources:
            sources[sub.assignment] = _source_files(course, sub.assignment)
        files, notes = read_tree(sub.folder)
        summary.notes += [f"{sub.student}/{sub.assignment}: {n}" for n in notes]
        if sub.assignment not in expected:
            expected[sub.assignment] = lms.source_ids(course.folder("source") / sub.assignment)
        renamed = lms.find_renamed(files, expected[sub.assignment])
        for old, new in renamed.items():  # graded under the assignment's own name
            files[new] = files.pop(old)
        lms_facts[(sub.student, sub.assignment)] = _lms_facts(sub, renamed)
        job = Job(
            student=sub.student,
            assignment=sub.assignment,
            files=files,
            source_files=sources[sub.assignment],
            db_url=None if course.merges else course.db_url,
            config=overrides,
            time_limit=options.time_limit,
            earlier=earlier,
        )
        jobs.append((job, digest))
    if not options.scheduler:  # no idle worker processes to start
        summary.workers = min(summary.workers, max(len(jobs), 1))
    t0 = time.perf_counter()
    outcomes = []
    if jobs:
        outcomes, summary.workers = grade_all(
            course, jobs, replace(options, workers=summary.workers), lms_facts
        )
    summary.grading_seconds = time.perf_counter() - t0
    for o in outcomes:
        (summary.failed if o.status == "failed" else summary.graded).append(
            (o.student, o.assignment)
        )
    if options.feedback:
        for a in sorted({o.assignment for o in outcomes}):
            error = _feedback(course, a, [o.student for o in outcomes if o.assignment == a])
            if error:
                summary.notes.append(error)
    summary.grades_csv = export_csv(course)
    summary.lms_csv = lms.canvas_export(
        course.db_url,
        course.reports / "canvas_grades.csv",
        lms.saved_roster(course.reports / "roster.json"),
    )
    records = [  # the report covers the whole class, whatever this run graded
        read_record(course, s.student, s.assignment)
        or {"student": s.student, "assignment": s.assignment, "status": "not graded by a batch"}
        for s in everyone
    ]
    summary.entries = report.build(course.db_url, course.folder("autograded"), records)
    views = report.class_view(course.db_url, course.folder("autograded"), course.reports)
    summary.seconds = time.perf_counter() - start
    facts = {
        "submissions": len(everyone),
        "selected for this run": len(subs),
        "graded now": len(summary.graded),
        "failed now (scored zero)": len(summary.failed),
        "skipped (already graded)": len(summary.skipped),
        "workers": summary.workers if jobs else 0,
        "grading seconds": round(summary.grading_seconds, 1),
        "total seconds": round(summary.seconds, 1),
        "grade sheet": str(summary.grades_csv),
        "LMS import file (Canvas)": str(summary.lms_csv),
    }
    if summary.notes:
        facts["notes"] = "; ".join(summary.notes)
    summary.report_md, summary.report_json = report.write(
        course.reports, summary.entries, facts, views
    )
    return summary


def summary_json(summary: Summary) -> dict[str, Any]:
    """A JSON-able view of a summary (for scripts)."""
    out = asdict(summary)
    for key in ("report_md", "report_json", "grades_csv", "lms_csv"):
        out[key] = str(out[key]) if out[key] else None
    return out
