"""``SplitExecute``: nbgrader's Execute with test cells run by the trusted runner.

Students' cells and the instructor's locked cells run in the notebook's kernel, as in plain
nbgrader; before them, a first cell starts the grading agent there (:mod:`lenet_kit.agent`,
which also blocks the assignment's forbidden modules, :mod:`lenet_kit.policy`). Test cells
never reach that kernel: :mod:`lenet_kit.runner`, a separate process that runs no student code,
runs them and reports whether each passed. This preprocessor then writes the test cell's
outputs from that report alone: its printed text, and an error output if it failed, so that
nbgrader's own scoring (``determine_grade``) gives full points exactly to the tests that
passed. Nothing the student's kernel prints can reach a test cell's outputs.

Used as is by ``nbgrader validate`` (and the Validate button), so that what a student checks
before submitting runs the way grading does; ``autograder.safe_execute.SafeExecute`` adds the
sandbox, resource limits and the instructor's flags for grading.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Float, Unicode

from lenet_kit import policy

#: Seconds the runner may take beyond a test's own time limit before it is restarted.
RUNNER_SLACK = 30.0
#: The key of the kernel's own CPU seconds in :attr:`SplitExecute.timings`.
KERNEL_CPU = "kernel CPU seconds"
#: Cells with this tag (demonstrations that use what the assignment's answers may not, such as
#: PyTorch in the NumPy notebooks) are not run in grading or validation; tests never are.
SKIP_TAG = "skip-in-grading"
SKIPPED_NOTE = (
    "(This cell is not run when the notebook is graded: it demonstrates something with a "
    "library your answers here may not use. Nothing graded depends on it.)\n"
)


def nbgrader_meta(cell: NotebookNode) -> dict:
    return dict(cell.get("metadata", {}).get("nbgrader", {}))


def is_test(cell: NotebookNode) -> bool:
    return cell.cell_type == "code" and bool(nbgrader_meta(cell).get("grade"))


def is_locked_code(cell: NotebookNode) -> bool:
    """An instructor's code cell that is not a test: setup, given code (read-only for students)."""
    meta = nbgrader_meta(cell)
    return cell.cell_type == "code" and bool(meta.get("locked")) and not meta.get("grade")


def label(cell: NotebookNode, index: int) -> str:
    return nbgrader_meta(cell).get("grade_id") or f"cell {index}"


def hidden_ranges(source: str, begin: str, end: str) -> list[tuple[int, int]]:
    """1-based inclusive line ranges of the hidden tests (delimiter lines included)."""
    ranges, start = [], None
    for number, line in enumerate(source.splitlines(), 1):
        if begin in line and start is None:
            start = number
        elif end in line and start is not None:
            ranges.append((start, number))
            start = None
    if start is not None:
        ranges.append((start, len(source.splitlines())))
    return ranges


def error_output(ename: str, evalue: str, traceback: list[str] | None = None) -> NotebookNode:
    return NotebookNode(
        output_type="error",
        ename=ename,
        evalue=evalue,
        traceback=traceback or [f"{ename}: {evalue}"],
    )


class RunnerUnavailable(RuntimeError):
    """The trusted runner process did not answer; the message says what it was doing."""


class RunnerProcess:
    """The trusted runner as a child process, started on first use and reused."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.folder = tempfile.mkdtemp(prefix="lenet-runner-")

    def _ensure(self) -> subprocess.Popen:
        if self.proc is None or self.proc.poll() is not None:
            env = {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"}
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "lenet_kit.runner"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
                cwd=self.folder,
                env=env,
            )
        return self.proc

    def call(self, wait: float, **msg: Any) -> dict:
        """Send one command and wait up to ``wait`` seconds for its answer."""
        proc = self._ensure()
        try:
            proc.stdin.write(json.dumps(msg) + "\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            self.kill()
            raise RunnerUnavailable(f"the test runner stopped ({exc})") from None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            if not sel.select(wait):
                self.kill()
                raise RunnerUnavailable(
                    f"the test runner gave no answer within {wait:.0f} s ({msg['cmd']})"
                )
        line = proc.stdout.readline()
        if not line:
            self.kill()
            raise RunnerUnavailable(f"the test runner exited during {msg['cmd']}")
        return json.loads(line)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def close(self, wait: float = 10.0) -> None:
        """End the runner (it exits when its input closes) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(wait)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        self.proc = None


_RUNNER: RunnerProcess | None = None


def shared_runner() -> RunnerProcess:
    """The runner of this process (one per grading process: imports stay warm between
    notebooks; each notebook gets a fresh namespace)."""
    global _RUNNER
    if _RUNNER is None:
        _RUNNER = RunnerProcess()
        atexit.register(_RUNNER.close)
    return _RUNNER


class SplitExecute(Execute):
    """Execute preprocessor that runs test cells in the trusted runner (see the module doc)."""

    assignment = Unicode(
        "", help="Assignment name for the module policy (default: from nbgrader, else the folder)."
    ).tag(config=True)
    ping_timeout = Float(15.0, help="Seconds a kernel may take to answer after an interrupt.").tag(
        config=True
    )
    render_figures = Bool(
        False, help="Render students' matplotlib figures into the graded notebook (slower)."
    ).tag(config=True)

    # -- the notebook --------------------------------------------------------------------------
    def preprocess(self, nb: NotebookNode, resources: dict):
        resources = resources or {}
        name = self.assignment or resources.get("nbgrader", {}).get("assignment")
        self.assignment_name = name or Path.cwd().name
        self.events: list[tuple[str, str, str | None]] = []  # (kind, reason, cell)
        self._started = time.perf_counter()
        #: Wall seconds spent per part of the notebook (kernel start, students' cells, tests...),
        #: and the kernel's own CPU seconds under :data:`KERNEL_CPU`.
        self.timings: dict[str, float] = {}
        self._dead: str | None = None
        self._runner = shared_runner()
        self._runner_ready: str | None = "the grading agent did not start in your kernel"
        self.error_on_timeout = {
            "ename": "CellTimeoutError",
            "evalue": f"this cell ran for longer than the limit of {self.timeout} s and was "
            "stopped",
            "traceback": [
                f"CellTimeoutError: this cell ran for longer than the limit of {self.timeout} s "
                "and was stopped; later cells may fail because of it"
            ],
        }
        from nbgrader.preprocessors import ClearHiddenTests

        clear = ClearHiddenTests(parent=self)  # nbgrader's own markers (its "delimeter" traits)
        self._hidden_delimiters = clear.begin_test_delimeter, clear.end_test_delimeter
        self._tests = [c.source for c in nb.cells if is_test(c)]
        self._locked = [c.source for c in nb.cells if is_locked_code(c)]
        blocked = policy.blocked_modules(self.assignment_name)
        boot = NotebookNode(
            cell_type="code",
            metadata={},
            outputs=[],
            execution_count=None,
            source=(
                # The agent imports NumPy before any cell of the notebook runs, so a notebook's
                # own OPENBLAS_NUM_THREADS (06 sets it) would come too late: one BLAS thread per
                # kernel unless the environment says otherwise, which parallel grading wants too.
                # The same for PyTorch's threads (OMP_NUM_THREADS, read when torch is imported):
                # a kernel training on 2 threads beside another grading took 5x as long.
                "import os as _os\n"
                '_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")\n'
                '_os.environ.setdefault("OMP_NUM_THREADS", "1")\n'
                "del _os\n"
                "from lenet_kit.agent import install as _lenet_install\n"
                f"_lenet_install({list(blocked)!r}, {policy.reason(self.assignment_name)!r}, "
                f"figures={bool(self.render_figures)})\n"
                "del _lenet_install"
            ),
        )
        nb.cells.insert(0, boot)
        self._last_index = len(nb.cells) - 1
        try:
            nb, resources = super().preprocess(nb, resources)
        finally:
            if nb.cells and nb.cells[0] is boot:
                nb.cells.pop(0)
            try:
                self._runner.call(30, cmd="stop")
            except RunnerUnavailable:
                pass
        return nb, resources

    def _start_runner(self) -> None:
        info = self.km.get_connection_info()
        info = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in info.items()}
        try:
            reply = self._runner.call(
                90, cmd="start", connection=info, tests=self._tests, locked=self._locked,
                timeout=float(self.timeout or 600),
            )  # fmt: skip
        except RunnerUnavailable as exc:
            self._runner_ready = str(exc)
            return
        self._runner_ready = None if reply.get("ok") else reply.get("error") or reply.get("crash")

    # -- cells ---------------------------------------------------------------------------------
    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        start = time.perf_counter()
        if index == 0:
            self.timings["kernel start"] = start - self._started
        try:
            return self._preprocess_cell(cell, resources, index)
        finally:
            if index == 0:
                kind = "grading agent and runner start"
            elif is_test(cell):
                kind = "test cells"
            elif is_locked_code(cell):
                kind = "locked cells (and their replay)"
            else:
                kind = "students' cells" if cell.cell_type == "code" else "markdown"
            self.timings[kind] = self.timings.get(kind, 0.0) + time.perf_counter() - start
            if index == self._last_index:
                self._record_kernel_cpu()

    def _record_kernel_cpu(self) -> None:
        """The kernel's CPU seconds, asked after the last cell while it still runs (as the
        kernel reports them: a benchmark figure, never part of a grade)."""
        if self._runner_ready is not None or self._dead is not None:
            return
        try:
            cpu = self._runner.call(15, cmd="usage").get("cpu")
        except RunnerUnavailable:
            return
        if cpu is not None:
            self.timings[KERNEL_CPU] = cpu

    def _preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        if index == 0:  # the agent's cell, then connect the runner to the kernel
            cell, resources = super().preprocess_cell(cell, resources, index)
            if not any(o.get("output_type") == "error" for o in cell.outputs):
                self._start_runner()
            return cell, resources
        if self._dead is not None:
            if cell.cell_type == "code":
                cell.outputs = [error_output("NotRun", f"not run: {self._dead}")]
            return cell, resources
        if is_test(cell):
            self._run_test(cell, index)
            return cell, resources
        if SKIP_TAG in cell.get("metadata", {}).get("tags", []):
            if cell.cell_type == "code":
                cell.outputs = [
                    NotebookNode(output_type="stream", name="stdout", text=SKIPPED_NOTE)
                ]
            return cell, resources
        self._cell_timed_out = False
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._kernel_died(cell, index, "the kernel stopped during this cell")
            return cell, resources
        except CellTimeoutError as exc:
            if "IOPub" in str(exc) and not self._cell_timed_out:  # it finished, output lost
                lost = (
                    "this cell finished, but the grader did not receive all of its output "
                    f"within {self.iopub_timeout} s"
                )
                cell.outputs.append(error_output("OutputLost", lost))
                return cell, resources
            cell.outputs.append(
                error_output(**{k: self.error_on_timeout[k] for k in ("ename", "evalue")})
            )
        if self._cell_timed_out:
            # The grader's own interrupt stopped the cell: when its IOPub "idle" arrived in time,
            # the outputs hold the kernel's KeyboardInterrupt; the error to show is the limit.
            outputs = [o for o in cell.get("outputs", []) if o.get("ename") != "KeyboardInterrupt"]
            if not any(o.get("ename") == "CellTimeoutError" for o in outputs):
                outputs.append(
                    error_output(**{k: self.error_on_timeout[k] for k in ("ename", "evalue")})
                )
            cell.outputs = outputs
        if any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", [])):
            self._timed_out(cell, index)
        elif is_locked_code(cell) and self._runner_ready is None:
            self._replay(cell, index)
        return cell, resources

    async def _async_handle_timeout(self, timeout, cell=None):
        self._cell_timed_out = True  # nbclient may then also miss the cell's IOPub "idle"
        return await super()._async_handle_timeout(timeout, cell)

    def _kernel_died(self, cell: NotebookNode, index: int, why: str) -> None:
        where = label(cell, index - 1)
        self._dead = (
            f"the kernel stopped in {where} (a memory, CPU-time or process limit, or code that "
            "ended the kernel), so this cell and the ones after it could not run"
        )
        cell.outputs.append(
            error_output("KernelDied", f"{why} (a limit was hit, or the code ended the kernel)")
        )
        self.events.append(("kernel-died", f"the kernel died in {where}", label(cell, index - 1)))

    def _timed_out(self, cell: NotebookNode, index: int) -> None:
        where = label(cell, index - 1)
        if self._kernel_answers():
            return
        self._dead = (
            f"{where} ran longer than the limit of {self.timeout} s and its kernel did not stop "
            "when interrupted"
        )
        self.events.append(("timeout", self._dead, where))
        run_sync(self.km._async_kill_kernel)()

    def _kernel_answers(self) -> bool:
        """Whether the kernel is idle again (after an interrupt) within ``ping_timeout``."""
        return bool(run_sync(self._async_kernel_answers)())

    async def _async_drain_iopub(self) -> None:
        import queue

        while True:
            try:
                await self.kc.iopub_channel.get_msg(timeout=0.01)
            except (queue.Empty, TimeoutError):
                return

    async def _async_kernel_answers(self) -> bool:
        import asyncio

        msg_id = self.kc.kernel_info()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ping_timeout
        while (remaining := deadline - loop.time()) > 0:
            try:
                msg = await self.kc.get_shell_msg(timeout=remaining)
            except Exception:  # queue.Empty on timeout
                return False
            if msg["parent_header"].get("msg_id") == msg_id:
                return True
        return False

    def _replay(self, cell: NotebookNode, index: int) -> None:
        try:
            reply = self._runner.call(
                120, cmd="replay", source=cell.source, cell=label(cell, index - 1)
            )
        except RunnerUnavailable as exc:
            self._runner_ready = str(exc)
            return
        for problem in reply.get("errors", []):
            self.log.warning("replaying locked cell %s: %s", label(cell, index - 1), problem)

    def _run_test(self, cell: NotebookNode, index: int) -> None:
        gid = label(cell, index - 1)
        cell.outputs = []
        self.code_cells_executed += 1
        cell.execution_count = self.code_cells_executed
        if self._runner_ready is not None:
            cell.outputs.append(
                error_output("GraderError", f"this test could not run: {self._runner_ready}")
            )
            return
        timeout = float(self.timeout or 600)
        hidden = hidden_ranges(cell.source, *self._hidden_delimiters)
        try:
            report = self._runner.call(
                timeout + RUNNER_SLACK, cmd="test", source=cell.source, cell=gid,
                timeout=timeout, hidden=hidden,
            )  # fmt: skip
        except RunnerUnavailable as exc:
            cell.outputs.append(error_output("GraderError", f"this test could not run: {exc}"))
            self._runner_ready = str(exc)
            return
        if "crash" in report:
            cell.outputs.append(
                error_output("GraderError", f"the test runner failed: {report['crash']}")
            )
            return
        self.test_outputs(cell, report)
        # Every answer to the runner was broadcast on IOPub to this client too: drop them, so
        # that the next cell's messages find room (a full queue drops messages, even "idle").
        run_sync(self._async_drain_iopub)()
        for kind, reason in report.get("events", []):
            self.events.append((kind, reason, gid))
        state = report.get("state")
        if state == "busy":
            run_sync(self.km.interrupt_kernel)()
            if not self._kernel_answers():
                self._dead = (
                    f"your code was still running when {gid} reached its time limit and did "
                    "not stop when interrupted"
                )
                self.events.append(("timeout", self._dead, gid))
                run_sync(self.km._async_kill_kernel)()
        elif state == "gone":
            self._dead = (
                f"the kernel stopped while {gid} ran (a limit was hit, or the code ended it)"
            )
            self.events.append(("kernel-died", self._dead, gid))

    @staticmethod
    def test_outputs(cell: NotebookNode, report: dict) -> None:
        """A test cell's outputs from the runner's report (nbgrader scores these)."""
        if report.get("stdout"):
            cell.outputs.append(
                NotebookNode(output_type="stream", name="stdout", text=report["stdout"])
            )
        if report.get("passed"):
            if report.get("result") is not None:
                cell.outputs.append(
                    NotebookNode(
                        output_type="execute_result",
                        execution_count=cell.execution_count,
                        metadata={},
                        data={"text/plain": repr(report["result"])},
                    )
                )
            return
        error = report.get("error") or {}
        cell.outputs.append(
            error_output(
                str(error.get("ename", "Error")),
                str(error.get("evalue", "")),
                [str(line) for line in error.get("traceback", [])],
            )
        )


def use_for_validation() -> None:
    """Make ``nbgrader validate`` (and the notebook toolbar's Validate button) run notebooks
    with :class:`SplitExecute`, so that what a student checks before submitting runs the way
    grading does (test cells in the trusted runner, the assignment's module policy in force).

    nbgrader's Validator lists its preprocessors in a class attribute that configuration cannot
    reach; a course's nbgrader_config.py calls this instead.
    """
    from nbgrader.validator import Validator

    trait = Validator.class_traits()["preprocessors"]
    (default,) = trait.default_args  # what traitlets copies for each new Validator
    trait.default_args = ([SplitExecute if p is Execute else p for p in default],)
