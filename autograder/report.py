"""The batch report: per student and exercise, what failed and why, what was flagged, how long.

Scores come from the gradebook; the why from the autograded notebooks (error name and message
of each failing test cell); flags from ``autograded/<student>/<assignment>/flags.json`` (written
by the tamper checks); timings and broken-submission reasons from the batch's records.
Written as ``report.md`` and ``report.json`` under ``autograder/reports/``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbgrader.api import Gradebook, MissingEntry

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
    flags: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def read_flags(folder: Path) -> list[dict[str, Any]]:
    """The tamper checks' flags for one autograded folder ([] when there are none)."""
    path = folder / "flags.json"
    if not path.exists():
        return []
    try:
        flags = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        return [{"kind": "unreadable-flags", "reason": f"{path.name}: {err}", "cell": None}]
    if not isinstance(flags, list):
        return [{"kind": "unreadable-flags", "reason": "flags.json is not a list", "cell": None}]
    return [f if isinstance(f, dict) else {"kind": "flag", "reason": str(f)} for f in flags]


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
            )
        )
    return entries


def _points(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"


def markdown(entries: list[Entry], summary: dict[str, Any]) -> str:
    """The report as Markdown: a summary, a score table, then every problem per submission."""
    lines = ["# Grading report", ""]
    lines += [f"- {k.replace('_', ' ')}: {v}" for k, v in summary.items()]
    lines += [
        "",
        "| student | assignment | score | status | seconds | flags |",
        "|---|---|---|---|---|---|",
    ]
    for e in entries:
        lines.append(
            f"| {e.student} | {e.assignment} | {_points(e.score)} / {_points(e.max_score)} | "
            f"{e.status} | {'-' if e.seconds is None else f'{e.seconds:.1f}'} | {len(e.flags)} |"
        )
    for e in entries:
        if not (e.failed_cells or e.flags or e.reason or e.warnings or e.other_errors):
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
            cell = f" (cell `{flag.get('cell')}`)" if flag.get("cell") else ""
            lines.append(f"- **flag {flag.get('kind')}**{cell}: {flag.get('reason')}")
        lines += [f"- note: {w}" for w in e.warnings]
    return "\n".join(lines) + "\n"


def write(folder: Path, entries: list[Entry], summary: dict[str, Any]) -> tuple[Path, Path]:
    """Write report.md and report.json into ``folder``; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    summary = {"generated": time.strftime("%Y-%m-%d %H:%M:%S"), **summary}
    md, js = folder / "report.md", folder / "report.json"
    md.write_text(markdown(entries, summary))
    payload = {"summary": summary, "submissions": [asdict(e) for e in entries]}
    js.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    return md, js
