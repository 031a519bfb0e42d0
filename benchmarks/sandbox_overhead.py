"""Grading-time overhead of the sandbox, per submission (01_mnist solution, real nbgrader runs).

    python benchmarks/sandbox_overhead.py [--reps 3]

Alternates, in one process: ``nbgrader autograde`` of one correct submission with the sandbox
and without it (``--SafeExecute.require_sandbox=False``; the trusted runner and scans run in
both), each in its own scratch course. Prints every run, the medians and their difference and ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from autograder.nbgrader_cli import nbgrader
from autograder.release import generate_in_scratch
from autograder.synthetic import submit

ASSIGNMENT = "01_mnist"
VARIANTS = {"sandbox": (), "no sandbox": ("--SafeExecute.require_sandbox=False",)}


def grade_once(root: Path, extra: tuple[str, ...]) -> float:
    start = time.perf_counter()
    nbgrader("autograde", ASSIGNMENT, "--force", *extra, root=root)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
        roots = {}
        for name in VARIANTS:
            root = Path(tmp) / name.replace(" ", "-")
            generate_in_scratch(root, [ASSIGNMENT])
            source = root / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
            submit(root, "student", ASSIGNMENT, source)
            roots[name] = root
        for rep in range(args.reps):
            for name, extra in VARIANTS.items():
                seconds = grade_once(roots[name], extra)
                times[name].append(seconds)
                print(f"rep {rep + 1}  {name:<10} {seconds:6.1f} s")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"median with sandbox:    {med['sandbox']:.1f} s per submission (nbgrader run)")
    print(f"median without sandbox: {med['no sandbox']:.1f} s per submission (nbgrader run)")
    print(
        f"sandbox overhead: {med['sandbox'] - med['no sandbox']:+.1f} s per submission "
        f"(ratio {med['sandbox'] / med['no sandbox']:.2f})"
    )


if __name__ == "__main__":
    main()
