"""Grade a class in one command: ``python -m autograder`` (or ``make grade``).

    python -m autograder                          # every submission in autograder/submitted/
    python -m autograder --zip canvas.zip -a 01_mnist   # LMS bulk download, via zip_collect
    python -m autograder -a 01_mnist --student alice --force   # regrade one submission
    python -m autograder --scheduler tcp://host:8786          # on an existing Dask cluster
    python -m autograder --roster roster.csv      # students (id, name, email, section) first

Already graded submissions (same files, in the gradebook) are skipped unless --force; an
interrupted run resumes. Assignments the gradebook lacks are added from their source folders.
Writes autograder/reports/{report.md,report.json,grades.csv,canvas_grades.csv} and the class
view's histograms (class-<assignment>.png).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.batch import Options, UnknownAssignment, course_at, run
from autograder.collect import zip_collect
from autograder.lms import RosterError
from autograder.nbgrader_cli import NbgraderFailed


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m autograder",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.split("\n")[1:]),
    )
    p.add_argument("-a", "--assignment", action="append", help="only this assignment (repeatable)")
    p.add_argument("-s", "--student", action="append", help="only this student (repeatable)")
    p.add_argument("--force", action="store_true", help="regrade even if already graded")
    p.add_argument("--zip", type=Path, help="an LMS bulk download to collect first (needs -a)")
    p.add_argument("-j", "--workers", type=int, help="parallel workers (default: the cores)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler to grade on")
    p.add_argument("--cell-timeout", type=float, help="seconds per cell (nbgrader Execute.timeout)")
    p.add_argument("--time-limit", type=float, help="seconds per submission before it is stopped")
    p.add_argument("--no-feedback", action="store_true", help="skip nbgrader generate_feedback")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--root", type=Path, help="course root (default: this repository)")
    p.add_argument("--db", help="gradebook URL (default: nbgrader_config.py's db_url)")
    p.add_argument(
        "--roster", type=Path, help="an LMS roster export (CSV: id, name, email, section) to import"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    course = course_at(args.root, args.db)
    if args.workers is not None and args.workers < 1:
        print(f"error: --workers must be at least 1, got {args.workers}", file=sys.stderr)
        return 2
    if args.zip:
        if not args.assignment or len(args.assignment) != 1:
            print(
                "error: --zip needs exactly one --assignment (the zip's assignment)",
                file=sys.stderr,
            )
            return 2
        try:
            notes = zip_collect(
                args.zip, args.assignment[0], course.root, tuple(course.nbgrader_flags())
            )
        except (FileNotFoundError, ValueError, NbgraderFailed) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        for note in notes:
            print(f"zip_collect: {note}")
    options = Options(
        assignments=args.assignment,
        students=args.student,
        force=args.force,
        workers=args.workers,
        scheduler=args.scheduler,
        cell_timeout=args.cell_timeout,
        time_limit=args.time_limit,
        feedback=not args.no_feedback,
        progress=not args.no_progress,
        roster=args.roster,
    )
    if args.roster is not None and not args.roster.is_file():
        print(f"error: no roster at {args.roster}: pass the LMS's roster export", file=sys.stderr)
        return 2
    try:
        summary = run(course, options)
    except (UnknownAssignment, RosterError, NbgraderFailed) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(
        f"graded {len(summary.graded)}, failed (scored zero) {len(summary.failed)}, "
        f"skipped {len(summary.skipped)} in {summary.seconds:.1f} s "
        f"({summary.workers} workers)"
    )
    for note in summary.notes:
        print(f"note: {note}")
    print(f"report: {summary.report_md}\ngrade sheet: {summary.grades_csv}")
    print(f"LMS import file (Canvas gradebook CSV): {summary.lms_csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
