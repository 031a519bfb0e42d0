"""What the trusted test runner costs: grading time per submission, and one boundary crossing.

    .venv/bin/python benchmarks/trusted_overhead.py --rounds 3 --students 4
    .venv/bin/python benchmarks/trusted_overhead.py --assignment 05_backprop --crossings-only

Grades the same submissions (copies of an assignment's solution) with ``nbgrader autograde``
three ways, alternating round by round in one process so that load affects all alike:

- ``plain``: nbgrader's own Execute: tests run in the student's kernel, no sandbox;
- ``trusted``: the course's SafeExecute without the sandbox (LENET_GRADE_WITHOUT_SANDBOX=1):
  test cells in the trusted runner, the student's cells in their kernel;
- ``trusted+sandbox``: the course's real grading path (bubblewrap), where it can run.

It prints the median seconds per submission of each, and the ratios; then the cost of one
crossing: a (256, 6, 28, 28) float32 array (4.8 MB) sent to a student's kernel and back
(``echo(x)``), a name looked up, and a call with no data, each the median of 20, beside an
in-process ``copy()`` of the same array. Target: trusted at most 15% above plain.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder import sandbox  # noqa: E402
from autograder.nbgrader_cli import nbgrader  # noqa: E402
from autograder.release import generate_in_scratch, notebook_path  # noqa: E402
from autograder.results import db_url, result  # noqa: E402
from autograder.synthetic import submit  # noqa: E402

PLAIN = (
    "--Autograde.autograde_preprocessors=["
    "'nbgrader.preprocessors.Execute','nbgrader.preprocessors.IgnorePattern',"
    "'nbconvert.preprocessors.ClearMetadataPreprocessor','nbgrader.preprocessors.LimitOutput',"
    "'nbgrader.preprocessors.SaveAutoGrades','nbgrader.preprocessors.AssignLatePenalties',"
    "'nbgrader.preprocessors.CheckCellMetadata']"
)
MODES = {
    "plain": ((PLAIN, "--Execute.timeout=600"), {}),
    "trusted": ((), {sandbox.OPT_OUT_ENV: "1"}),
    "trusted+sandbox": ((), {}),
}


def grade_round(root: Path, assignment: str, mode: str, students: list[str]) -> float:
    args, env = MODES[mode]
    start = time.perf_counter()
    done = nbgrader("autograde", assignment, "--force", *args, root=root, check=False, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{mode}: nbgrader failed:\n{(done.stdout + done.stderr)[-3000:]}")
    for student in students:
        got = result(db_url(root), assignment, student)
        if got is None or got.score != got.max_score:
            raise SystemExit(f"{mode}: {student} scored {got and got.score} (expected full marks)")
    return seconds / len(students)


def crossings(repeats: int = 20) -> None:
    import numpy as np
    from jupyter_client.manager import KernelManager

    from lenet_kit.remote import StudentKernel

    km = KernelManager(kernel_name="python3")
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(60)
    setup = (
        "from lenet_kit.agent import install\ninstall()\nimport numpy as np\n"
        "a = np.zeros((256, 6, 28, 28), np.float32)\ndef echo(x):\n    return x\n"
        "def nothing():\n    return None\n"
    )
    kc.execute_interactive(setup, timeout=60)
    info = {
        k: (v.decode() if isinstance(v, bytes) else v) for k, v in km.get_connection_info().items()
    }
    student = StudentKernel(info, timeout=60)
    x = np.random.default_rng(0).standard_normal((256, 6, 28, 28)).astype(np.float32)
    echo, nothing = student.lookup("echo"), student.lookup("nothing")

    def median(fn) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    rows = {
        "echo(x): 4.8 MB there and back": median(lambda: echo(x)),
        "look up a (4.8 MB, fetched whole)": median(
            lambda: student.request("getitem", student.lookup("a"), Ellipsis)
        ),
        "call with no data (round trip)": median(nothing),
        "in-process x.copy(), for scale": median(x.copy),
    }
    print(f"\nOne crossing, median of {repeats}:")
    for name, seconds in rows.items():
        print(f"  {name:<36} {seconds * 1e3:8.2f} ms")
    student.close()
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assignment", default="01_mnist")
    parser.add_argument("--students", type=int, default=4, help="submissions graded per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--crossings-only", action="store_true")
    args = parser.parse_args()
    if not args.crossings_only:
        modes = [m for m in MODES if m != "trusted+sandbox" or sandbox.isolation_problem() is None]
        with tempfile.TemporaryDirectory(prefix="lenet-overhead-") as folder:
            root = Path(folder)
            generate_in_scratch(root, [args.assignment])
            solution = notebook_path(root / "solutions", args.assignment)
            students = [f"s{i}" for i in range(args.students)]
            for student in students:
                submit(root, student, args.assignment, solution)
            times: dict[str, list[float]] = {m: [] for m in modes}
            for r in range(args.rounds):
                for mode in modes if r % 2 == 0 else modes[::-1]:
                    times[mode].append(grade_round(root, args.assignment, mode, students))
        plain = statistics.median(times["plain"])
        print(f"{args.assignment}: {args.students} submissions x {args.rounds} rounds, "
              f"seconds per submission (median of rounds)")  # fmt: skip
        for mode, values in times.items():
            med = statistics.median(values)
            print(
                f"  {mode:<16} {med:7.2f} s   {med / plain:5.2f}x plain   rounds: "
                + ", ".join(f"{v:.2f}" for v in values)
            )
    crossings()


if __name__ == "__main__":
    main()
