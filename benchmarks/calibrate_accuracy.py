"""Calibrate a notebook's accuracy threshold: run its solution over several seeds, print the
accuracy its own hidden test measures.

    .venv/bin/python benchmarks/calibrate_accuracy.py 08_gpu_training --seeds 0 1 2 3 4
    .venv/bin/python benchmarks/calibrate_accuracy.py 06_numpy_lenet --seeds 0 1 2

For each seed the solution notebook's cells run in a fresh kernel, in order, up to its accuracy
test (the test cell whose grade_id contains "accuracy"), with the setup cell's ``SEED = ...``
line replaced by the seed. Then the test cell runs in full, hidden part included, and the
accuracy it computed is printed with the training time. The threshold is the notebook's entry
in lenet_kit.policy.ACCURACY_BARS (what its test and the grader read); the margin is the worst
seed's accuracy minus the threshold. Each seed runs in a scratch copy of the folder, one after
another, so the times are comparable; quote the load average printed with them.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import nbformat

from autograder.notebooks import execute, grade_id
from autograder.release import SOLUTIONS, assignments, notebook_path
from lenet_kit.policy import accuracy_bar

SEED_LINE = re.compile(r"^SEED = \d+$", re.MULTILINE)
#: Where the hidden accuracy tests leave the measured accuracy.
ACCURACY_NAMES = ("_acc", "test_accuracy", "accuracy")


def seeded_copy(path: Path, seed: int) -> tuple[nbformat.NotebookNode, float]:
    """The notebook cut after its accuracy test, run with ``seed``; and the test's threshold."""
    nb = nbformat.read(path, as_version=4)
    last = next((i for i, c in enumerate(nb.cells) if "accuracy" in (grade_id(c) or "")), None)
    if last is None:
        raise SystemExit(f"{path.name}: no accuracy test cell (grade_id containing 'accuracy')")
    required = accuracy_bar(path.parent.name)
    if required is None:
        raise SystemExit(f"{path.name}: lenet_kit.policy.ACCURACY_BARS has no bar for it")
    code = [c for c in nb.cells if c.cell_type == "code"]
    seeded = next((c for c in code if SEED_LINE.search(c.source)), None)
    if seeded is None:
        raise SystemExit(f"{path.name}: no 'SEED = <number>' line to replace")
    seeded.source = SEED_LINE.sub(f"SEED = {seed}", seeded.source, count=1)
    nb.cells = [c for c in nb.cells[: last + 1] if c.cell_type == "code"]
    names = ", ".join(repr(n) for n in ACCURACY_NAMES)
    report = f"print(next(globals()[n] for n in ({names},) if n in globals()))"
    nb.cells.append(nbformat.v4.new_code_cell(report))
    return nb, required


def run_seed(path: Path, seed: int, timeout: int) -> tuple[float, float, float]:
    """(accuracy, seconds, threshold) of the solution notebook run with ``seed``.

    It runs in a scratch copy of its folder: checkpoints it writes never land in solutions/.
    """
    nb, threshold = seeded_copy(path, seed)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / path.parent.name
        shutil.copytree(path.parent, folder)
        start = time.perf_counter()
        execute(nb, folder, timeout, allow_errors=True)
        seconds = time.perf_counter() - start
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    last = nb.cells[-1].get("outputs", [])
    text = "".join(o.get("text", "") for o in last if o.output_type == "stream").strip()
    if not text:
        detail = f"{errors[0].ename}: {errors[0].evalue}" if errors else "no output"
        raise SystemExit(f"seed {seed}: the notebook did not reach its accuracy test ({detail})")
    return float(text), seconds, threshold


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "assignment", help="an assignment folder of solutions/, e.g. 08_gpu_training"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args()
    if args.assignment not in assignments():
        raise SystemExit(f"no assignment {args.assignment!r} in solutions/: {assignments()}")
    path = notebook_path(SOLUTIONS, args.assignment)
    print(f"{args.assignment}: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    accuracies = []
    for seed in args.seeds:
        accuracy, seconds, threshold = run_seed(path, seed, args.timeout)
        accuracies.append(accuracy)
        print(
            f"seed {seed}: test accuracy {accuracy:.2%} ({seconds:.0f} s for the notebook)",
            flush=True,
        )
    worst = min(accuracies)
    median = statistics.median(accuracies)
    print(
        f"threshold {threshold:.2%}; accuracy min {worst:.2%}, median {median:.2%},"
        f" max {max(accuracies):.2%}; margin of the worst seed"
        f" {100 * (worst - threshold):+.2f} points; load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
