"""The batch report: per student and exercise, what failed and why, what was flagged, how long.

Scores come from the gradebook; the why from the autograded notebooks (error name and message
of each failing test cell); flags from ``autograded/<student>/<assignment>/flags.json`` (written
by the tamper checks); timings and broken-submission reasons from the batch's records; what
the LMS said (late, renamed, older tries replaced) from the records too.
Written as ``report.md`` and ``report.json`` under ``autograder/reports/``.

The class view (``class_view``) is what an instructor acts on: per assignment a histogram of
scores (a PNG beside the report) and, per test cell, the share of students who lost its points
and the three most common messages. It reads only the gradebook and the autograded notebooks,
so it works the same whoever graded (the batch grader, or the formgrader on the hub):

    python -m autograder.report                 # this repository's course
    python -m autograder.report --root COURSE   # e.g. the hub's course root
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbgrader.api import Gradebook, MissingEntry

from autograder.flags import Flag, read_flags
from autograder.notebooks import grade_id, is_test
from autograder.results import result


@dataclass
class CellFailure:
    """A test cell that did not earn its points, and why."""

    cell: str
    points: float | None
    max_points: float
    why: str


@dataclass
class Entry:
    """One submission in the report."""

    student: str
    assignment: str
    status: str
    score: float | None
    max_score: float | None
    seconds: float | None = None
    worker: str | None = None
    reason: str | None = None
    failed_cells: list[CellFailure] = field(default_factory=list)
    other_errors: dict[str, str] = field(default_factory=dict)
    flags: list[Flag] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    lms: dict[str, Any] = field(default_factory=dict)  # late, renamed, replaced (older tries)


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def why_cells_failed(folder: Path, tests: bool = True) -> dict[str, str]:
    """For each test cell of the autograded notebooks in ``folder``: its error, or stderr.

    With ``tests=False``: the errors of the other code cells (by grade_id, or ``cell N``), such
    as a solution cell that timed out and so left a later test without its function.
    """
    out: dict[str, str] = {}
    for path in sorted(folder.glob("*.ipynb")):
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as err:  # an unreadable autograded notebook must not stop the report
            out[f"{path.name}"] = f"autograded notebook unreadable: {err}"
            continue
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or is_test(cell) != tests:
                continue
            name = grade_id(cell) or f"cell {index}"
            outputs = cell.get("outputs", [])
            errs = [o for o in outputs if o.get("output_type") == "error"]
            stderr = [o for o in outputs if o.get("name") == "stderr"]
            if errs:
                out[name] = _first_line(f"{errs[0].get('ename')}: {errs[0].get('evalue')}")
            elif tests and stderr:
                out[name] = "wrote to stderr: " + _first_line(stderr[0].get("text", ""))
            elif tests and cell.get("execution_count") is None:
                out[name] = "did not run (the kernel stopped before this cell)"
    return out


def max_points(db_url: str, assignment: str) -> dict[str, float]:
    """Points of every graded cell of ``assignment`` in the gradebook."""
    with Gradebook(db_url) as gb:
        try:
            a = gb.find_assignment(assignment)
        except MissingEntry:
            return {}
        return {cell.name: cell.max_score for nb in a.notebooks for cell in nb.grade_cells}


def build(db_url: str, autograded: Path, records: list[dict[str, Any]]) -> list[Entry]:
    """One entry per record, with scores from ``db_url`` and reasons from ``autograded``."""
    entries = []
    maxima: dict[str, dict[str, float]] = {}
    for rec in records:
        s, a = rec["student"], rec["assignment"]
        if a not in maxima:
            maxima[a] = max_points(db_url, a)
        res = result(db_url, a, s)
        folder = autograded / s / a
        why = why_cells_failed(folder) if folder.is_dir() else {}
        failed = []
        if res is not None:
            for cell, points in sorted(res.cells.items()):
                top = maxima[a].get(cell, 0.0)
                if points is None or points < top:
                    reason = why.get(cell) or rec.get("reason") or "no error (partial credit)"
                    failed.append(CellFailure(cell, points, top, reason))
        entries.append(
            Entry(
                student=s,
                assignment=a,
                status=rec["status"],
                score=res.score if res else None,
                max_score=res.max_score if res else None,
                seconds=rec.get("seconds"),
                worker=rec.get("worker"),
                reason=rec.get("reason"),
                failed_cells=failed,
                other_errors=why_cells_failed(folder, tests=False) if folder.is_dir() else {},
                flags=read_flags(folder),
                warnings=list(rec.get("warnings", [])),
                lms=dict(rec.get("lms") or {}),
            )
        )
    return entries


def _points(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"


def markdown(
    entries: list[Entry], summary: dict[str, Any], views: list[ClassView] | None = None
) -> str:
    """The report as Markdown: a summary, a score table, the class view, then every problem
    per submission."""
    lines = ["# Grading report", ""]
    lines += [f"- {k.replace('_', ' ')}: {v}" for k, v in summary.items()]
    lines += [
        "",
        "| student | assignment | score | status | seconds | flags | LMS |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        lines.append(
            f"| {e.student} | {e.assignment} | {_points(e.score)} / {_points(e.max_score)} | "
            f"{e.status} | {'-' if e.seconds is None else f'{e.seconds:.1f}'} | {len(e.flags)} "
            f"| {', '.join(k for k in ('late', 'renamed', 'replaced') if e.lms.get(k)) or '-'} |"
        )
    for view in views or []:
        lines += ["", *class_markdown(view)]
    for e in entries:
        if not (e.failed_cells or e.flags or e.reason or e.warnings or e.other_errors or e.lms):
            continue
        lines += [
            "",
            f"## {e.student} / {e.assignment}: {_points(e.score)} / {_points(e.max_score)}",
        ]
        if e.reason:
            lines.append(f"- **not graded normally**: {e.reason}")
        for f in e.failed_cells:
            lines.append(f"- `{f.cell}` {_points(f.points)} / {_points(f.max_points)}: {f.why}")
        for cell, why in e.other_errors.items():
            lines.append(f"- error in `{cell}` (not a test): {why}")
        for flag in e.flags:
            cell = f" (cell `{flag.cell}`)" if flag.cell else ""
            lines.append(f"- **flag {flag.kind}**{cell}: {flag.reason}")
        lines += [f"- note: {w}" for w in e.warnings]
        if e.lms.get("late"):
            lines.append("- **late**: the LMS marked this submission LATE")
        for old, new in e.lms.get("renamed", {}).items():
            lines.append(f"- **renamed**: `{old}` was graded as `{new}` (its cells' grade ids)")
        for old in e.lms.get("replaced", []):
            lines.append(f"- replaced: the older try `{old}` was left out for the latest one")
    return "\n".join(lines) + "\n"


def write(
    folder: Path,
    entries: list[Entry],
    summary: dict[str, Any],
    views: list[ClassView] | None = None,
) -> tuple[Path, Path]:
    """Write report.md and report.json into ``folder``; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    summary = {"generated": time.strftime("%Y-%m-%d %H:%M:%S"), **summary}
    md, js = folder / "report.md", folder / "report.json"
    md.write_text(markdown(entries, summary, views))
    payload = {
        "summary": summary,
        "class": [asdict(v) for v in views or []],
        "submissions": [asdict(e) for e in entries],
    }
    js.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    return md, js


# --- the class view --------------------------------------------------------------------------


@dataclass
class CellView:
    """How the class did on one test cell."""

    cell: str
    max_points: float
    students: int  # submissions graded
    lost: int  # submissions that did not earn all its points
    share_lost: float
    messages: list[tuple[str, int]]  # the three most common reasons, with how many had each


@dataclass
class ClassView:
    """How the class did on one assignment."""

    assignment: str
    students: int
    max_score: float
    mean: float | None
    median: float | None
    scores: list[float]
    histogram: str | None  # the PNG's file name, beside the report
    cells: list[CellView]

    @property
    def hardest(self) -> CellView | None:
        return max(self.cells, key=lambda c: (c.share_lost, -c.max_points), default=None)


def histogram(scores: list[float], max_score: float, title: str, path: Path) -> Path:
    """A histogram of scores from 0 to ``max_score``, saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.2), dpi=100)
    ax = fig.subplots()
    top = max(max_score, max(scores, default=0.0), 1.0)
    step = 1.0 if top <= 40 else top / 40
    bins = [i * step - step / 2 for i in range(int(top / step) + 2)]
    ax.hist(scores, bins=bins, color="#4c72b0", edgecolor="white")
    ax.set_xlim(-step, top + step)
    ax.set_xlabel(f"score (out of {max_score:g})")
    ax.set_ylabel("students")
    ax.set_title(title)
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def _failure(folder: Path, student: str, assignment: str) -> str:
    """Why a submission has no autograded notebook: its batch record's reason, shortened."""
    try:
        reason = json.loads((folder / "records" / assignment / f"{student}.json").read_text())
        reason = reason.get("reason") or ""
    except (OSError, ValueError, AttributeError):
        reason = ""
    return "not graded: " + (reason.split(":", 1)[0] if reason else "no autograded notebook")


def class_view(
    db_url: str, autograded: Path, folder: Path, assignments: list[str] | None = None
) -> list[ClassView]:
    """The class view of every graded assignment in the gradebook (histograms into ``folder``).

    A submission counts once it has a score in the gradebook; a test cell counts as lost when
    its score is below its points (or missing). Messages come from the autograded notebooks
    (for a submission that has none, the batch record's reason)."""
    import statistics
    from collections import Counter

    views = []
    with Gradebook(db_url) as gb:
        graded = []
        for a in sorted(gb.assignments, key=lambda a: a.name):
            if assignments is not None and a.name not in assignments:
                continue
            cells = {
                c.name: c.max_score
                for nb in a.notebooks
                for c in nb.grade_cells
                if c.cell_type == "code"
            }
            subs = []
            for sub in a.submissions:
                points = {
                    g.name: g.score for nb in sub.notebooks for g in nb.grades if g.name in cells
                }
                if any(g.auto_score is not None or g.manual_score is not None
                       for nb in sub.notebooks for g in nb.grades):  # fmt: skip
                    subs.append((sub.student.id, sub.score, points))
            graded.append((a.name, a.max_score, cells, subs))
    for name, max_score, cells, subs in graded:
        if not subs:
            continue
        why, broken = {}, {}
        for s, _, _ in subs:
            graded_here = autograded / s / name
            why[s] = why_cells_failed(graded_here) if graded_here.is_dir() else {}
            if not any(graded_here.glob("*.ipynb")):
                broken[s] = _failure(folder, s, name)
        cell_views = []
        for cell, top in cells.items():
            losers = [s for s, _, pts in subs if pts.get(cell) is None or pts[cell] < top]
            counts = Counter(
                why[s].get(cell) or broken.get(s) or "no error (partial credit)" for s in losers
            )
            cell_views.append(
                CellView(
                    cell=cell,
                    max_points=top,
                    students=len(subs),
                    lost=len(losers),
                    share_lost=len(losers) / len(subs),
                    # ties: a real message before "not graded" (no misconception there)
                    messages=sorted(
                        counts.items(), key=lambda kv: (-kv[1], kv[0].startswith("not graded"))
                    )[:3],
                )
            )
        cell_views.sort(key=lambda c: (-c.share_lost, c.cell))
        scores = [score for _, score, _ in subs]
        png = histogram(
            scores, max_score, f"{name}: {len(scores)} students", folder / f"class-{name}.png"
        )
        views.append(
            ClassView(
                assignment=name,
                students=len(subs),
                max_score=max_score,
                mean=statistics.fmean(scores),
                median=statistics.median(scores),
                scores=sorted(scores),
                histogram=png.name,
                cells=cell_views,
            )
        )
    return views


def class_markdown(view: ClassView) -> list[str]:
    """The class view of one assignment as Markdown lines (the histogram as an image)."""
    lines = [
        f"## Class view: {view.assignment}",
        "",
        f"{view.students} students; mean {view.mean:.2f}, median {view.median:g} "
        f"of {view.max_score:g} points.",
        "",
    ]
    if view.histogram:
        lines += [f"![Scores of {view.assignment}]({view.histogram})", ""]
    hardest = view.hardest
    if hardest and hardest.lost:
        top = hardest.messages[0][0] if hardest.messages else "-"
        lines += [
            f"Hardest: `{hardest.cell}`, lost by {hardest.share_lost:.0%}; most common: {top}",
            "",
        ]
    lines += ["| test cell | points | lost by | most common messages |", "|---|---|---|---|"]
    for c in view.cells:
        said = "<br>".join(f"{n}× {m.replace('|', '/')}" for m, n in c.messages) or "-"
        lost = f"{c.lost}/{c.students} ({c.share_lost:.0%})"
        lines.append(f"| `{c.cell}` | {c.max_points:g} | {lost} | {said} |")
    return lines


def write_class_view(folder: Path, views: list[ClassView]) -> tuple[Path, Path]:
    """Write class.md and class.json (the class view alone) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    md, js = folder / "class.md", folder / "class.json"
    lines = ["# Class view", ""]
    for view in views:
        lines += [*class_markdown(view), ""]
    if not views:
        lines.append("No graded submissions in the gradebook yet.")
    md.write_text("\n".join(lines) + "\n")
    js.write_text(json.dumps([asdict(v) for v in views], indent=1) + "\n")
    return md, js


def main(argv: list[str] | None = None) -> int:
    """``python -m autograder.report``: the class view from a course's gradebook."""
    import argparse

    from autograder.batch import course_at

    p = argparse.ArgumentParser(prog="python -m autograder.report", description=main.__doc__)
    p.add_argument("--root", type=Path, help="course root (default: this repository)")
    p.add_argument("--db", help="gradebook URL (default: the course's)")
    p.add_argument("-a", "--assignment", action="append", help="only this assignment")
    args = p.parse_args(argv)
    course = course_at(args.root, args.db)
    views = class_view(course.db_url, course.folder("autograded"), course.reports, args.assignment)
    md, _ = write_class_view(course.reports, views)
    for view in views:
        hardest = view.hardest
        print(
            f"{view.assignment}: {view.students} students, mean {view.mean:.2f} / "
            f"{view.max_score:g}"
            + (f"; hardest {hardest.cell} (lost by {hardest.share_lost:.0%})" if hardest else "")
        )
    print(f"class view: {md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
