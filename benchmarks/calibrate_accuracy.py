"""Calibrate a notebook's accuracy threshold: run its solution over several seeds, print the
accuracy its own hidden test measures.

    .venv/bin/python benchmarks/calibrate_accuracy.py 08_gpu_training --seeds 0 1 2 3 4
    .venv/bin/python benchmarks/calibrate_accuracy.py 06_numpy_lenet --seeds 0 1 2

For each seed the solution notebook's cells run in a fresh kernel, in order, up to its accuracy
test (the test cell whose grade_id contains "accuracy"), with the setup cell's ``SEED = ...``
line replaced by the seed. Then the test cell runs in full, hidden part included, and the
accuracy it computed is printed with the training time. The threshold is read from that cell;
the margin is the worst seed's accuracy minus the threshold. Seeds run one after another, so
the times are comparable; quote the load average printed with them.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autograder.release import SOLUTIONS, assignments, notebook_path

SEED_LINE = re.compile(r"^SEED = \d+$", re.MULTILINE)
THRESHOLD = re.compile(r">= (0\.\d+)")
#: Where the hidden accuracy tests leave the measured accuracy.
ACCURACY_NAMES = ("_acc", "test_accuracy", "accuracy")


def accuracy_cell(nb: nbformat.NotebookNode) -> int:
    for index, cell in enumerate(nb.cells):
        if "accuracy" in cell.metadata.get("nbgrader", {}).get("grade_id", ""):
            return index
    raise SystemExit("this notebook has no accuracy test cell (grade_id containing 'accuracy')")


def seeded_copy(path: Path, seed: int) -> tuple[nbformat.NotebookNode, float]:
    """The notebook cut after its accuracy test, run with ``seed``; and the test's threshold."""
    nb = nbformat.read(path, as_version=4)
    last = accuracy_cell(nb)
    seeded = [
        i for i, c in enumerate(nb.cells) if c.cell_type == "code" and SEED_LINE.search(c.source)
    ]
    if not seeded:
        raise SystemExit(f"{path.name}: no 'SEED = <number>' line to replace")
    cell = nb.cells[seeded[0]]
    cell.source = SEED_LINE.sub(f"SEED = {seed}", cell.source, count=1)
    test = nb.cells[last]
    found = THRESHOLD.findall(test.source)
    if not found:
        raise SystemExit(f"{path.name}: no '>= 0.xx' threshold in the accuracy test")
    nb.cells = [c for c in nb.cells[: last + 1] if c.cell_type == "code"]
    names = ", ".join(repr(n) for n in ACCURACY_NAMES)
    report = f"print(next(globals()[n] for n in ({names},) if n in globals()))"
    nb.cells.append(nbformat.v4.new_code_cell(report))
    return nb, float(found[-1])


def run_seed(path: Path, seed: int, timeout: int) -> tuple[float, float, float]:
    """(accuracy, seconds, threshold) of the solution notebook run with ``seed``."""
    nb, threshold = seeded_copy(path, seed)
    start = time.perf_counter()
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
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
