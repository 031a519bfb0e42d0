"""Execution time of every solution notebook, top to bottom in a fresh kernel (target: 3 minutes).

    .venv/bin/python benchmarks/notebook_times.py                  # every notebook of solutions/
    .venv/bin/python benchmarks/notebook_times.py 06_numpy_lenet 08_gpu_training

Each notebook runs in a scratch copy of its folder, one after another, so that the times are
comparable; errors are reported (a solution notebook should have none). Quote the load
average printed at the start and the end: on a busy machine the times grow several-fold.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import nbformat

from autograder.notebooks import errors, execute
from autograder.release import SOLUTIONS, assignments, notebook_path

TARGET_SECONDS = 180


def run(assignment: str, scratch: Path, timeout: int) -> tuple[float, list]:
    folder = scratch / assignment
    shutil.copytree(SOLUTIONS / assignment, folder)
    nb = nbformat.read(notebook_path(scratch, assignment), as_version=4)
    start = time.perf_counter()
    execute(nb, folder, timeout, allow_errors=True)
    return time.perf_counter() - start, errors(nb)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("assignments", nargs="*", help="folders of solutions/ (default: all)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args()
    names = args.assignments or assignments()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
    slowest = 0.0
    with tempfile.TemporaryDirectory() as scratch:
        for name in names:
            seconds, errs = run(name, Path(scratch), args.timeout)
            slowest = max(slowest, seconds)
            status = "ok" if not errs else f"{len(errs)} error(s), first: {errs[0]}"
            print(f"{name:<24} {seconds:6.1f} s  {status}", flush=True)
    print(
        f"slowest {slowest:.0f} s (target {TARGET_SECONDS} s); "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )


if __name__ == "__main__":
    main()
