"""What grading a course costs: CPU and wall seconds per student, per notebook, and per class.

    .venv/bin/python benchmarks/course_grading_cost.py
    .venv/bin/python benchmarks/course_grading_cost.py --assignments 01_mnist --no-class

1. **One student, the whole course.** Each graded notebook's solution, graded by ``nbgrader
   autograde`` through the real path (sandbox, trusted runner: the course's nbgrader_config.py)
   and by plain nbgrader on the same notebook (nbgrader's own Execute, tests in the student's
   kernel, no sandbox). CPU seconds are the nbgrader process's and all its children's
   (``getrusage(RUSAGE_CHILDREN)``: the runner, plain nbgrader's kernel), plus, for the sandboxed
   kernel, the CPU seconds it reports after its last cell (a kernel killed with its PID namespace
   is never waited for, so RUSAGE_CHILDREN misses it); wall seconds are the command's.
   Where the time goes comes from each submission's timings.json (kernel start, the grading
   agent and runner, locked cells, students' cells, test cells); nbgrader's own start-up and
   gradebook work are the rest. Target: <= 90 CPU-s per student for the course.
2. **A class.** N copies of one light assignment's solution graded by ``python -m autograder``
   on k Dask workers, N in --class-sizes and k in --workers: wall and CPU seconds, seconds per
   submission, and the parallel efficiency T(1 worker) / (k T(k workers)).
3. **A projection** for a class of --project students on a cluster of W workers, as a formula
   from the measured per-student CPU seconds and the measured efficiency.

The machine is shared: quote the load average printed at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder.nbgrader_cli import nbgrader  # noqa: E402
from autograder.release import assignments, generate_in_scratch, is_graded, notebook_path  # noqa: E402
from autograder.results import db_url, result  # noqa: E402
from autograder.synthetic import submit  # noqa: E402
from lenet_kit.split_execute import KERNEL_CPU  # noqa: E402

PLAIN = (
    "--Autograde.autograde_preprocessors=["
    "'nbgrader.preprocessors.Execute','nbgrader.preprocessors.IgnorePattern',"
    "'nbconvert.preprocessors.ClearMetadataPreprocessor','nbgrader.preprocessors.LimitOutput',"
    "'nbgrader.preprocessors.SaveAutoGrades','nbgrader.preprocessors.AssignLatePenalties',"
    "'nbgrader.preprocessors.CheckCellMetadata']"
)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured(fn) -> tuple[float, float]:
    """(CPU seconds of the child processes fn ran, wall seconds)."""
    cpu, wall = children_cpu(), time.perf_counter()
    fn()
    return children_cpu() - cpu, time.perf_counter() - wall


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def grade_one(root: Path, assignment: str, student: str, plain: bool) -> tuple[float, float]:
    args = (PLAIN, "--Execute.timeout=600") if plain else ()

    def run():
        done = nbgrader("autograde", assignment, "--force", "--student", student, *args,
                        root=root, check=False)  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(
                f"{assignment}: nbgrader failed:\n{(done.stdout + done.stderr)[-3000:]}"
            )
        got = result(db_url(root), assignment, student)
        if got is None or got.score != got.max_score:
            raise SystemExit(f"{assignment} ({student}): {got and got.cells} (expected full marks)")

    return measured(run)


def course_per_student(graded: list[str], plain: bool) -> None:
    print(f"\n== 1. One student's correct work, every graded notebook (load {load()})")
    plain_head = f"{'plain CPU':>11}{'plain wall':>11}" if plain else ""
    print(f"{'notebook':<24}{'CPU s':>8}{'wall s':>8}" + plain_head
          + "   where the trusted run's notebook time went (s)")  # fmt: skip
    totals = [0.0, 0.0, 0.0, 0.0]
    with tempfile.TemporaryDirectory(prefix="lenet-cost-") as folder:
        root = Path(folder)
        generate_in_scratch(root, graded)
        for a in graded:
            submit(root, "trusted", a, notebook_path(root / "solutions", a))
            submit(root, "plain", a, notebook_path(root / "solutions", a))
        for a in graded:
            cpu, wall = grade_one(root, a, "trusted", plain=False)
            timings = json.loads(
                (root / "autograder" / "autograded" / "trusted" / a / "timings.json").read_text()
            )
            kernel_cpu = timings.pop(KERNEL_CPU, None)
            if kernel_cpu is None:
                raise SystemExit(f"{a}: timings.json has no {KERNEL_CPU!r}: {timings}")
            cpu += kernel_cpu
            pcpu, pwall = grade_one(root, a, "plain", plain=True) if plain else (0.0, 0.0)
            where = ", ".join(
                f"{k} {v:.1f}"
                for k, v in sorted(timings.items(), key=lambda kv: -kv[1])
                if v >= 0.1
            )
            row = f"{a:<24}{cpu:>8.1f}{wall:>8.1f}" + (
                f"{pcpu:>11.1f}{pwall:>11.1f}" if plain else ""
            )
            print(row + "   " + where)
            for i, v in enumerate((cpu, wall, pcpu, pwall)):
                totals[i] += v
    row = f"{'total':<24}{totals[0]:>8.1f}{totals[1]:>8.1f}"
    if plain:
        ratio = totals[0] / totals[2]
        row += f"{totals[2]:>11.1f}{totals[3]:>11.1f}   trusted / plain CPU: {ratio:.2f}x"
    print(row + f"   (target <= 90 CPU-s per student; load {load()})")
    return totals[0]


def grade_class(assignment: str, students: int, workers: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="lenet-class-") as folder:
        root = Path(folder)
        generate_in_scratch(root, [assignment])
        solution = notebook_path(root / "solutions", assignment)
        for i in range(students):
            submit(root, f"s{i:03d}", assignment, solution)
        cmd = [sys.executable, "-m", "autograder", "-a", assignment, "-j", str(workers),
               "--root", str(root), "--no-progress", "--no-feedback"]  # fmt: skip

        def run():
            import subprocess

            done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"batch grading failed:\n{(done.stdout + done.stderr)[-3000:]}")

        cpu, wall = measured(run)
        for student in range(students):
            timings = root / "autograder" / "autograded" / f"s{student:03d}" / assignment
            cpu += json.loads((timings / "timings.json").read_text()).get(KERNEL_CPU, 0.0)
        return cpu, wall


def class_scaling(assignment: str, sizes: list[int], workers: list[int], project: int) -> None:
    print(f"\n== 2. A class of {assignment} on Dask workers (load {load()})")
    head = ("students", 8), ("workers", 8), ("wall s", 9), ("CPU s", 9), ("s/submission", 14)
    print("".join(f"{name:>{width}}" for name, width in head) + f"{'efficiency':>12}")
    walls: dict[tuple[int, int], float] = {}
    cpus: dict[tuple[int, int], float] = {}
    for n in sizes:
        for k in workers:
            cpu, wall = grade_class(assignment, n, k)
            walls[n, k], cpus[n, k] = wall, cpu
            base = walls.get((n, min(workers)))
            eff = base / (k / min(workers) * wall) if base else 1.0
            print(f"{n:>8}{k:>8}{wall:>9.1f}{cpu:>9.1f}{wall / n:>14.2f}{eff:>12.2f}")
    n, k = max(sizes), max(workers)
    eff = walls[n, min(workers)] / (k / min(workers) * walls[n, k])
    per_sub = cpus[n, k] / n
    print(f"\n== 3. Projection for {project} students: T(W workers) ~ {project} x c / (W x e)")
    print(
        f"   c = {per_sub:.1f} CPU-s per {assignment} submission (measured, {n} students), "
        f"e = {eff:.2f} (measured parallel efficiency, {k} workers here)"
    )
    for w in (8, 32, 100):
        print(
            f"   W = {w:>3}: ~{project * per_sub / (w * eff) / 60:.1f} min for {assignment}; "
            "the whole course: multiply by the course's CPU-s per student / c"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assignments", nargs="*", help="default: every graded notebook")
    parser.add_argument("--no-plain", action="store_true", help="skip plain nbgrader")
    parser.add_argument("--no-class", action="store_true", help="skip the class-level part")
    parser.add_argument("--class-assignment", default="01_mnist")
    parser.add_argument("--class-sizes", default="5,20")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--project", type=int, default=300)
    args = parser.parse_args()
    graded = args.assignments or [a for a in assignments() if is_graded(a)]
    course_per_student(graded, plain=not args.no_plain)
    if not args.no_class:
        sizes = [int(n) for n in args.class_sizes.split(",")]
        workers = [int(k) for k in args.workers.split(",")]
        class_scaling(args.class_assignment, sizes, workers, args.project)


if __name__ == "__main__":
    main()
