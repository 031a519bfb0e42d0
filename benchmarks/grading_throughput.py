"""Throughput of batch grading (python -m autograder) against plain `nbgrader autograde`.

Builds a synthetic class in scratch course roots (full, partial, blank and broken submissions
of every graded assignment that exists) and grades it with plain nbgrader (one process, one
submission after another), with the batch on 1 worker and on 2 workers, alternating the order
between rounds. Prints submissions per minute, the 2-worker speed-up, the batch's overhead per
submission over plain nbgrader, and whether all three gave identical grades.

    .venv/bin/python benchmarks/grading_throughput.py [--students 20] [--rounds 1] [--assignment A]

Target: speed-up near the number of workers (on an otherwise idle machine with that many
cores), overhead at most 15% per submission.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autograder.batch import Options, course_at, run  # noqa: E402
from autograder.nbgrader_cli import nbgrader  # noqa: E402
from autograder.notebooks import is_test  # noqa: E402
from autograder.release import SOLUTIONS, assignments, generate_in_scratch  # noqa: E402
from autograder.results import db_url, result  # noqa: E402
from autograder.synthetic import notebook_with, submit  # noqa: E402
from tests.mistakes import MISTAKES  # noqa: E402


def graded_assignments() -> list[str]:
    out = []
    for a in assignments():
        nbs = sorted((SOLUTIONS / a).glob("*.ipynb"))
        if len(nbs) == 1 and any(is_test(c) for c in nbformat.read(nbs[0], as_version=4).cells):
            out.append(a)
    return out


def build_class(root: Path, assignment: str, students: int) -> list[str]:
    """Mix: 40% full, 30% with a known mistake, 15% blank, 15% broken (JSON, wrong file, exit)."""
    (sol,) = sorted((root / "solutions" / assignment).glob("*.ipynb"))
    (blank,) = sorted((root / "course" / assignment).glob("*.ipynb"))
    mistakes = MISTAKES.get(assignment, [])
    first_solution = next(
        c.metadata["nbgrader"]["grade_id"]
        for c in nbformat.read(sol, as_version=4).cells
        if c.get("metadata", {}).get("nbgrader", {}).get("solution")
    )
    names = []
    for i in range(students):
        name = f"s{i:03d}"
        kind = i % 20
        if kind < 8 or (kind < 14 and not mistakes):
            submit(root, name, assignment, sol)
        elif kind < 14:
            m = mistakes[kind % len(mistakes)]
            submit(root, name, assignment, notebook_with(sol, m.replacements), sol.name)
        elif kind < 17:
            submit(root, name, assignment, blank)
        elif kind == 17:
            folder = root / "autograder" / "submitted" / name / assignment
            folder.mkdir(parents=True, exist_ok=True)
            (folder / sol.name).write_text("{ not json")
        elif kind == 18:
            submit(root, name, assignment, sol, "another_assignment.ipynb")
        else:
            died = notebook_with(sol, {first_solution: "import os\nos._exit(0)\n"})
            submit(root, name, assignment, died, sol.name)
        names.append(name)
    return names


def grades(root: Path, assignment: str, names: list[str]) -> dict[str, float]:
    out = {}
    for n in names:
        r = result(db_url(root), assignment, n)
        out[n] = r.score if r else 0.0
    return out


def plain(root: Path, assignment: str) -> float:
    t = time.perf_counter()
    nbgrader("autograde", assignment, "--force", root=root, check=False)
    return time.perf_counter() - t


def batch(root: Path, assignment: str, workers: int) -> float:
    t = time.perf_counter()
    run(
        course_at(root),
        Options(
            assignments=[assignment], force=True, workers=workers, feedback=False, progress=False
        ),
    )
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--students", type=int, default=20)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--assignment", action="append", help="default: every graded assignment")
    args = p.parse_args()
    names_by = {}
    with tempfile.TemporaryDirectory(prefix="lenet-bench-") as tmp:
        base = Path(tmp) / "base"
        todo = args.assignment or graded_assignments()
        generate_in_scratch(base, todo)
        roots = {}
        for side in ("plain", "batch1", "batch2"):
            roots[side] = Path(tmp) / side
            shutil.copytree(base, roots[side])
            for a in todo:
                names_by[a] = build_class(roots[side], a, args.students)
        print("load average at start: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()), flush=True)
        times: dict[str, list[float]] = {"plain": [], "batch1": [], "batch2": []}
        order = ["plain", "batch1", "batch2"]
        for r in range(args.rounds):
            for side in order if r % 2 == 0 else order[::-1]:
                t = 0.0
                for a in todo:
                    if side == "plain":
                        t += plain(roots[side], a)
                    else:
                        t += batch(roots[side], a, 1 if side == "batch1" else 2)
                times[side].append(t)
                print(f"round {r + 1}: {side:7s} {t:7.1f} s", flush=True)
        differ = [
            f"{a}/{n}: " + ", ".join(f"{side} {g[side][n]:g}" for side in g)
            for a in todo
            for g in [{side: grades(roots[side], a, names_by[a]) for side in roots}]
            for n in names_by[a]
            if len({g[side][n] for side in g}) > 1
        ]
        same = not differ
        n = args.students * len(todo)
        best = {k: min(v) for k, v in times.items()}
        print(f"assignments: {', '.join(todo)}; submissions per run: {n}; rounds: {args.rounds}")
        for side, label in [
            ("plain", "plain nbgrader autograde"),
            ("batch1", "batch, 1 worker"),
            ("batch2", "batch, 2 workers"),
        ]:
            print(
                f"{label:26s} {best[side]:7.1f} s  {60 * n / best[side]:6.1f} submissions/min  "
                f"{best[side] / n:5.2f} s/submission"
            )
        print(f"speed-up 2 workers vs 1:   {best['batch1'] / best['batch2']:.2f}x")
        print(
            f"overhead of the batch (1 worker) over plain nbgrader: "
            f"{100 * (best['batch1'] / best['plain'] - 1):+.1f}% per submission"
        )
        print(f"grades identical (plain, 1 worker, 2 workers): {'yes' if same else 'NO'}")
        for line in differ:
            print(f"  differs: {line}")
        print("load average at end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
