"""``SafeExecute``: grading with test cells on the trusted side and students' code in a sandbox.

Wired in by nbgrader_config.py in place of ``nbgrader.preprocessors.Execute``, so plain
``nbgrader autograde``, the batch grader and the formgrader all grade this way. It is
:class:`lenet_kit.split_execute.SplitExecute` (test cells run by the trusted runner, which no
student code reaches; their outputs, and so their scores, come from its reports) plus:

1. the students' kernel runs in the bubblewrap sandbox (:mod:`autograder.sandbox`) as an
   unprivileged user, without network, with resource limits, and without the files of the
   modules the assignment forbids (:mod:`lenet_kit.policy`: torch in the NumPy notebooks);
   grading refuses where no sandbox can run, unless the instructor opted out (flag
   ``no-isolation``);
2. output per cell and per notebook is capped;
3. flags for the instructor (:mod:`autograder.flags`), in ``flags.json`` next to the autograded
   notebook: what the sanitize step found in test and locked cells, the static scan of
   students' code (information only: flagged cells still run), what the runner saw (a refused
   return type, output displayed during a test), forbidden imports, limits hit, a dead or hung
   kernel, and printed accuracies the grader's own accuracy test contradicts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from nbformat import NotebookNode
from traitlets import Bool, Integer

from autograder import sandbox, tamper
from autograder.flags import PROCESS_START, Flag, write_flags
from autograder.notebooks import grade_id
from lenet_kit import policy
from lenet_kit.split_execute import SplitExecute, error_output
from lenet_kit.yours import CARRY_CALL, EARLIER_ENV, notebook_in

LIMIT_ERRORS = re.compile(
    r"MemoryError|File too large|No space left|Resource temporarily unavailable|Too many open"
    r"|Cannot allocate memory"
)
#: Seconds per part of the notebook (kernel start, students' cells, test cells...), for the
#: instructor and benchmarks/course_grading_cost.py; kept out of feedback like flags.json.
TIMINGS_FILE = "timings.json"
BLOCKED_IMPORT = re.compile(r"No module named '([\w.]+)' here: while")


def _gid(cell: NotebookNode, index: int) -> str:
    return grade_id(cell) or f"cell {index}"


def _copy_notebooks(notebooks: dict[str, Path], folder: Path) -> None:
    """``folder/<assignment>.ipynb`` for each of ``notebooks``."""
    folder.mkdir(exist_ok=True)
    for assignment, path in notebooks.items():
        shutil.copyfile(path, folder / f"{assignment}.ipynb")


class SafeExecute(SplitExecute):
    """SplitExecute in a sandbox, with output caps and flags (see the module docstring)."""

    require_sandbox = Bool(
        True,
        help=f"Refuse to grade where the sandbox cannot run (set False, or {sandbox.OPT_OUT_ENV}"
        "=1, to grade without isolation; submissions are then flagged no-isolation).",
    ).tag(config=True)
    max_output_per_cell = Integer(2_000_000, help="bytes of output kept per cell").tag(config=True)
    max_output_total = Integer(20_000_000, help="bytes of output kept per notebook").tag(
        config=True
    )
    address_space = Integer(sandbox.Limits.address_space).tag(config=True)
    cpu_seconds = Integer(sandbox.Limits.cpu_seconds).tag(config=True)
    processes = Integer(sandbox.Limits.processes).tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", sandbox.SandboxedKernelManager)
        super().__init__(*args, **kwargs)

    # -- nbgrader entry point ------------------------------------------------------------------
    def preprocess(self, nb: NotebookNode, resources: dict):
        folder = Path(resources.get("metadata", {}).get("path") or ".")
        flags = [Flag.from_dict(f) for f in nb.metadata.pop(tamper.META_KEY, [])]
        problem = sandbox.require_isolation() if self.require_sandbox else "disabled by config"
        self._isolated = problem is None
        if problem is not None:
            flags.append(Flag("no-isolation", f"graded without a sandbox: {problem}"))
        flags += tamper.scan_notebook(nb) + tamper.scan_extra_files(folder)
        self._cell_bytes = self._total_bytes = 0
        self._limit_flags: list[Flag] = []
        name = self.assignment or resources.get("nbgrader", {}).get("assignment")
        self._blocked = policy.blocked_modules(name or folder.name)
        self._run_dir = sandbox.RunDir(folder) if self._isolated else None
        earlier = self._earlier_work(nb, resources)
        previous = os.environ.get(EARLIER_ENV)
        if earlier and self._run_dir is not None:  # bound read-only into the sandbox
            _copy_notebooks(earlier, self._run_dir.earlier)
        elif earlier:  # no sandbox: the kernel inherits the variable
            os.environ[EARLIER_ENV] = tempfile.mkdtemp(prefix="lenet-earlier-")
            _copy_notebooks(earlier, Path(os.environ[EARLIER_ENV]))
        self.kernel_manager_class = (
            sandbox.SandboxedKernelManager if self._isolated else sandbox.AsyncKernelManager
        )
        try:
            nb, resources = super().preprocess(nb, resources)
        finally:
            if self._run_dir is not None:
                self._run_dir.cleanup()
            if earlier and self._run_dir is None:
                shutil.rmtree(os.environ[EARLIER_ENV], ignore_errors=True)
                if previous is None:
                    os.environ.pop(EARLIER_ENV, None)
                else:
                    os.environ[EARLIER_ENV] = previous
        flags += [Flag(kind, reason, cell) for kind, reason, cell in self.events]
        flags += self._limit_flags + self._check_limits(nb) + self._blocked_imports(nb)
        flags += [f for f in tamper.accuracy_claims(nb, name) if f not in flags]
        write_flags(folder, flags, PROCESS_START)
        timings = {k: round(v, 3) for k, v in self.timings.items()}
        (folder / TIMINGS_FILE).write_text(json.dumps(timings, indent=1) + "\n")
        return nb, resources

    def _earlier_work(self, nb: NotebookNode, resources: dict) -> dict[str, Path]:
        """The student's submitted notebooks of earlier assignments (by name): {assignment:
        notebook}; none unless this notebook carries earlier work forward."""
        from nbgrader.coursedir import CourseDirectory

        info = resources.get("nbgrader", {})
        student, current = info.get("student"), info.get("assignment")
        if not student or not any(CARRY_CALL in c.source for c in nb.cells):
            return {}
        coursedir = CourseDirectory(config=self.config)
        mine = Path(coursedir.format_path(coursedir.submitted_directory, student, "."))
        found = {}
        for folder in sorted(p for p in mine.iterdir() if p.is_dir()) if mine.is_dir() else []:
            notebook = notebook_in(folder, folder.name)
            if current and folder.name < current and notebook is not None:
                found[folder.name] = notebook
        return found

    # -- kernel --------------------------------------------------------------------------------
    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if isinstance(km, sandbox.SandboxedKernelManager):
            km.run_dir = self._run_dir
            km.mnist = sandbox.readable_mnist()
            km.hidden_modules = self._blocked
            km.limits = sandbox.Limits(
                address_space=self.address_space,
                cpu_seconds=self.cpu_seconds,
                processes=self.processes,
            )
        return km

    def preprocess_cell(self, cell, resources, index):
        self._cell_bytes = 0
        return super().preprocess_cell(cell, resources, index)

    def output(self, outs, msg, display_id, cell_index):
        size = len(json.dumps(msg.get("content", {})))
        self._cell_bytes += size
        self._total_bytes += size
        limit = None
        if self._cell_bytes > self.max_output_per_cell:
            limit = f"more than {self.max_output_per_cell} bytes of output in one cell"
        elif self._total_bytes > self.max_output_total:
            limit = f"more than {self.max_output_total} bytes of output in the notebook"
        if limit is None:
            return super().output(outs, msg, display_id, cell_index)
        if not any(o.get("ename") == "OutputLimitExceeded" for o in outs):
            outs.append(error_output("OutputLimitExceeded", f"{limit}; the rest was dropped"))
            cell = self.nb.cells[cell_index]
            self._limit_flags.append(Flag("output-limit", limit, _gid(cell, cell_index)))
        return None

    # -- after execution -----------------------------------------------------------------------
    @staticmethod
    def _errors(nb: NotebookNode):
        for index, cell in enumerate(nb.cells):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    yield index, cell, f"{out.get('ename', '')}: {out.get('evalue', '')}"

    def _check_limits(self, nb: NotebookNode) -> list[Flag]:
        return [
            Flag("resource-limit", f"hit a limit: {text[:200]}", _gid(cell, index))
            for index, cell, text in self._errors(nb)
            if LIMIT_ERRORS.search(text)
        ]

    def _blocked_imports(self, nb: NotebookNode) -> list[Flag]:
        flags = []
        for index, cell, text in self._errors(nb):
            found = BLOCKED_IMPORT.search(text)
            if found:
                reason = f"imports {found.group(1)}, which this assignment does not allow"
                flags.append(Flag("policy", reason, _gid(cell, index)))
        return flags
