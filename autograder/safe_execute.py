"""``SafeExecute``: nbgrader's Execute, run in the sandbox, with the guard and post-checks.

Wired in by nbgrader_config.py in place of ``nbgrader.preprocessors.Execute``. Per notebook:

1. refuse unless the sandbox works (or the instructor opted out: flag ``no-isolation``);
2. scan students' code statically (:mod:`autograder.tamper`);
3. run the notebook in a sandboxed kernel (:mod:`autograder.sandbox`) with the guard as its
   first cell (:mod:`autograder.kernel_guard`) and a marker, ``enter`` and ``leave`` around
   every test cell; output per cell and per notebook is capped;
4. afterwards: a test cell without its ``leave`` token, or not run because the kernel died or
   hung, gets an error output (so nbgrader scores it 0); sources are restored exactly;
   a student cell that prints a test accuracy the grader's own accuracy test did not find is
   flagged ``accuracy-claim`` (:func:`autograder.tamper.accuracy_claims`); every flag goes to
   ``flags.json`` next to the autograded notebook (never into students' feedback:
   nbgrader_config.py lists it in ``CourseDirectory.ignore``).
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, List, Unicode

from autograder import sandbox, tamper
from autograder.kernel_guard import guard_cell_source, guard_name
from autograder.notebooks import grade_id, is_test

TOKEN_LINE = re.compile(r"\n?\[lenet-guard ([0-9a-f]+)\]\n?")
LIMIT_ERRORS = re.compile(
    r"MemoryError|File too large|No space left|Resource temporarily unavailable|Too many open"
    r"|Cannot allocate memory"
)
REPORT = re.compile(r"\[lenet-guard-report (.*)\]")


def _gid(cell: NotebookNode, index: int) -> str:
    return grade_id(cell) or f"cell {index}"


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(
        output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]
    )


class SafeExecute(Execute):
    """Execute preprocessor that grades in a sandbox and guards against tampering."""

    require_sandbox = Bool(
        True,
        help=f"Refuse to grade where the sandbox cannot run (set False, or {sandbox.OPT_OUT_ENV}"
        "=1, to grade without isolation; submissions are then flagged no-isolation).",
    ).tag(config=True)
    protect = List(
        Unicode(),
        [
            "builtins",
            "numpy",
            "numpy.testing",
            "lenet_kit.checks",
            "lenet_kit.data",
            "lenet_kit.grading",
        ],
        help="Modules whose attributes, and the classes they hold, are restored before every "
        "test cell.",
    ).tag(config=True)
    protect_torch = List(
        Unicode(),
        ["torch", "torch.testing", "torch.nn", "torch.nn.functional"],
        help="Also protected when the notebook uses torch (importing it costs ~1 s).",
    ).tag(config=True)
    max_output_per_cell = Integer(2_000_000, help="bytes of output kept per cell").tag(config=True)
    max_output_total = Integer(20_000_000, help="bytes of output kept per notebook").tag(
        config=True
    )
    neutralize_kinds = List(
        Unicode(),
        ["rewrites-cells", "changes-builtins", "monkeypatch", "delegation", "dynamic-code"],
        help="Static flags of these kinds keep the flagged student cell from running (it raises "
        "instead), so whatever it would have done earns nothing; [] runs every cell.",
    ).tag(config=True)
    address_space = Integer(sandbox.Limits.address_space).tag(config=True)
    cpu_seconds = Integer(sandbox.Limits.cpu_seconds).tag(config=True)
    processes = Integer(sandbox.Limits.processes).tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", sandbox.SandboxedKernelManager)
        super().__init__(*args, **kwargs)

    # -- nbgrader entry point ------------------------------------------------------------
    def preprocess(self, nb: NotebookNode, resources: dict):
        folder = Path(resources.get("metadata", {}).get("path") or ".")
        flags = list(nb.metadata.pop(tamper.META_KEY, []))
        problem = sandbox.require_isolation() if self.require_sandbox else "disabled by config"
        self._isolated = problem is None
        if problem is not None:
            flags.append(tamper._flag("no-isolation", f"graded without a sandbox: {problem}", None))
        flags += tamper.scan_notebook(nb) + tamper.scan_extra_files(folder)
        self._nonce = secrets.token_hex(8)
        self._tokens: dict[int, str] = {}
        self._flags = flags
        self._dead: str | None = None
        self._run_dir = sandbox.RunDir(folder) if self._isolated else None
        self.kernel_manager_class = (
            sandbox.SandboxedKernelManager if self._isolated else sandbox.AsyncKernelManager
        )
        originals = [cell.source for cell in nb.cells]
        self._neutralize(nb, flags)
        uses_torch = any("torch" in cell.source for cell in nb.cells)
        protect = list(self.protect) + (list(self.protect_torch) if uses_torch else [])
        guard = NotebookNode(
            cell_type="code",
            metadata={},
            outputs=[],
            execution_count=None,
            source=guard_cell_source(self._nonce, protect),
        )
        report = NotebookNode(
            cell_type="code",
            metadata={},
            outputs=[],
            execution_count=None,
            source=f"# lenet-guard:{self._nonce}:report:\n"
            f"print({guard_name(self._nonce)}.report())",
        )
        self._mark_cells(nb)
        nb.cells.insert(0, guard)
        nb.cells.append(report)
        try:
            nb, resources = super().preprocess(nb, resources)
        finally:
            if self._run_dir is not None:
                self._run_dir.cleanup()
        nb.cells.pop(0)
        report = nb.cells.pop()
        for cell, source in zip(nb.cells, originals, strict=True):
            cell.source = source
        self._check_guard(guard, report)
        self._check_tokens(nb)
        self._check_limits(nb)
        self._flags += [f for f in tamper.accuracy_claims(nb) if f not in self._flags]
        tamper.write_flags(folder, self._flags, tamper.PROCESS_START)
        return nb, resources

    def _neutralize(self, nb: NotebookNode, flags: list[dict]) -> None:
        reasons: dict[str, list[str]] = {}
        for flag in flags:
            if flag["kind"] in self.neutralize_kinds and flag["cell"] is not None:
                reasons.setdefault(flag["cell"], []).append(flag["reason"])
        for index, cell in enumerate(nb.cells):
            why = reasons.get(grade_id(cell) or f"cell {index}")
            if why and cell.cell_type == "code" and not tamper.is_instructor_cell(cell):
                message = (
                    f"not run by the grader: this cell {'; '.join(why)} "
                    "(your instructor has the details)"
                )
                cell.source = f"raise RuntimeError({message!r})"

    def _mark_cells(self, nb: NotebookNode) -> None:
        name = guard_name(self._nonce)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or not tamper.is_instructor_cell(cell):
                continue
            gid = grade_id(cell) or f"cell{index}"
            if is_test(cell):
                token = secrets.token_hex(12)
                self._tokens[index + 1] = token  # +1: the guard cell goes first
                cell.source = (
                    f"# lenet-guard:{self._nonce}:test:{gid}\n{name}.enter({gid!r})\n"
                    f"{cell.source}\n{name}.leave({gid!r}, {token!r});"
                )
            else:
                cell.source = f"# lenet-guard:{self._nonce}:locked:{gid}\n{cell.source}"

    # -- kernel ----------------------------------------------------------------------------
    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if isinstance(km, sandbox.SandboxedKernelManager):
            km.run_dir = self._run_dir
            km.mnist = sandbox.readable_mnist()
            km.limits = sandbox.Limits(
                address_space=self.address_space,
                cpu_seconds=self.cpu_seconds,
                processes=self.processes,
            )
        return km

    def preprocess_cell(self, cell, resources, index):
        if self._dead is not None:
            if cell.cell_type == "code":
                cell.outputs = [_error("NotRun", f"not run: {self._dead}")]
            return cell, resources
        self._cell_bytes = 0
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._dead = f"the kernel died in cell {index - 1}"
            cell.outputs.append(
                _error(
                    "KernelDied",
                    "the kernel stopped during this cell (a memory, CPU-time or process limit, "
                    "or the code ended the kernel itself); later cells were not run",
                )
            )
            self._flags.append(tamper._flag("kernel-died", self._dead, grade_id(cell)))
            return cell, resources
        except CellTimeoutError as exc:  # e.g. no output for iopub_timeout while the kernel churns
            cell.outputs.append(_error("CellTimeoutError", str(exc).split("\n")[0]))
        if any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", [])):
            self._dead = f"cell {index - 1} exceeded the time limit of {self.timeout} s"
            self._flags.append(tamper._flag("timeout", self._dead, grade_id(cell)))
            run_sync(self.km._async_kill_kernel)()  # it ignored the interrupt: still busy
        return cell, resources

    def output(self, outs, msg, display_id, cell_index):
        if cell_index == len(self.nb.cells) - 1:  # the guard's report is never capped
            return super().output(outs, msg, display_id, cell_index)
        size = len(json.dumps(msg.get("content", {})))
        self._cell_bytes = getattr(self, "_cell_bytes", 0) + size
        self._total_bytes = getattr(self, "_total_bytes", 0) + size
        limit = None
        if self._cell_bytes > self.max_output_per_cell:
            limit = f"more than {self.max_output_per_cell} bytes of output in one cell"
        elif self._total_bytes > self.max_output_total:
            limit = f"more than {self.max_output_total} bytes of output in the notebook"
        if limit is None:
            return super().output(outs, msg, display_id, cell_index)
        if not any(o.get("ename") == "OutputLimitExceeded" for o in outs):
            outs.append(_error("OutputLimitExceeded", f"{limit}; the rest was dropped"))
            cell = self.nb.cells[cell_index]
            self._flags.append(tamper._flag("output-limit", limit, grade_id(cell)))
        return None

    # -- after execution -------------------------------------------------------------------
    def _check_guard(self, guard: NotebookNode, report: NotebookNode) -> None:
        if any(o.get("output_type") == "error" for o in guard.outputs):
            self._flags.append(tamper._flag("guard-missing", "the guard failed to start", None))
        text = "".join(o.get("text", "") for o in report.outputs if o.get("name") == "stdout")
        found = REPORT.search(text)
        if found is None:
            if self._dead is None:
                self._flags.append(
                    tamper._flag("guard-missing", "the guard's report did not arrive", None)
                )
            return
        for flag in json.loads(found.group(1)):
            flag["reason"] = f"at run time: {flag['reason']}"
            if flag not in self._flags:
                self._flags.append(flag)

    def _check_limits(self, nb: NotebookNode) -> None:
        for index, cell in enumerate(nb.cells):
            for out in cell.get("outputs", []):
                text = f"{out.get('ename', '')}: {out.get('evalue', '')}"
                if out.get("output_type") == "error" and LIMIT_ERRORS.search(text):
                    self._flags.append(
                        tamper._flag(
                            "resource-limit", f"hit a limit: {text[:200]}", _gid(cell, index)
                        )
                    )

    def _check_tokens(self, nb: NotebookNode) -> None:
        for index, token in self._tokens.items():
            cell = nb.cells[index - 1]
            seen = False
            for out in list(cell.get("outputs", [])):
                if out.get("output_type") == "stream" and out.get("name") == "stdout":
                    text = out.get("text", "")
                    if f"[lenet-guard {token}]" in text:
                        seen = True
                    out["text"] = TOKEN_LINE.sub("\n", text).rstrip("\n") + "\n"
                    if not out["text"].strip():
                        cell.outputs.remove(out)
            failed = any(
                o.get("output_type") == "error" or o.get("name") == "stderr" for o in cell.outputs
            )
            if not seen and not failed:
                cell.outputs.append(
                    _error("TestIncomplete", "this test did not run to its end: no points")
                )
                self._flags.append(
                    tamper._flag(
                        "test-incomplete",
                        "the test cell reported no error but did not finish",
                        grade_id(cell),
                    )
                )
