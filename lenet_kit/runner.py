"""The trusted test runner: runs a notebook's test cells outside the student's kernel.

Grading (``nbgrader autograde``) and validation run the students' cells in their kernel and
hand every test cell to this process instead. No student code ever runs here: the names a test
uses from the notebook are looked up in the student's kernel as data or stand-ins
(:mod:`lenet_kit.remote`); the test's own code, the reference values it carries, and the
decision whether it passed stay here. The grader writes the test cell's outputs from this
process's report, never from anything the student's kernel printed.

The instructor's locked cells run in the student's kernel (students' code needs them) and are
also *replayed* here, statement by statement, where the tests depend on them: imports,
definitions and assignments of names the tests use, and method calls on such names
(``torch.manual_seed(7)``). A replayed statement never reaches the student's kernel; one that
needs a student's name is skipped, so what tests take from locked cells is the grader's own.

Protocol (stdin/stdout, one JSON object per line; the executor in
:mod:`lenet_kit.split_execute` drives it):

- ``{"cmd": "start", "connection": {...}, "tests": [...], "locked": [...]}``: connect to a
  kernel, fresh namespace; ``tests`` and ``locked`` are the sources of all of the notebook's
  test and locked cells (from them follows what replays must provide);
- ``{"cmd": "replay", "source": ..., "cell": id}``: replay a locked cell;
- ``{"cmd": "test", "source": ..., "cell": id, "timeout": s, "hidden": [[a, b], ...]}``: run a
  test cell; the reply says ``passed``, the stdout, the error (name, message, traceback without
  hidden code), a number for partial credit, ``events`` for flags and the kernel's ``state``;
- ``{"cmd": "ping", "timeout": s}``, ``{"cmd": "usage"}`` (the kernel's CPU seconds, as it
  reports them: for benchmarks, never for grades), ``{"cmd": "stop"}``.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import json
import linecache
import os
import sys
import traceback
from typing import Any

from lenet_kit import remote, testing

#: Statements replayed if they touch a needed name (see :func:`needed_names`).
COMPOUND = (ast.For, ast.While, ast.With, ast.If, ast.Try, ast.AsyncFor, ast.AsyncWith)


def python_source(source: str) -> str:
    """A cell's code as plain Python (IPython magics become calls, as in a kernel)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _root(node: ast.AST) -> str | None:
    """The name an attribute, item or call chain starts from (``a`` in ``a.b[0].c()``)."""
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call | ast.Starred):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def loaded_names(tree: ast.AST) -> set[str]:
    """Every name read anywhere in ``tree`` (function bodies included)."""
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def touched_names(stmt: ast.stmt) -> set[str]:
    """Names a top-level statement binds, assigns into, or calls a method of."""
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {stmt.name}
    if isinstance(stmt, ast.Import | ast.ImportFrom):
        return {(a.asname or a.name).split(".")[0] for a in stmt.names if a.name != "*"}
    if isinstance(stmt, ast.Expr):
        call = stmt.value
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
            root = _root(call.func)
            return {root} if root and root != "get_ipython" else set()
        return set()
    names: set[str] = set()
    nodes = [stmt] if not isinstance(stmt, COMPOUND) else list(ast.walk(stmt))
    for node in nodes:
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
            for target in targets:
                for part in ast.walk(target):
                    if isinstance(part, ast.Name):
                        names.add(part.id)
                names.discard(None)
                root = _root(target)
                if root:
                    names.add(root)
        elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
            names |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            names |= {n.id for n in ast.walk(node.optional_vars) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Expr) and node is not stmt:
            names |= touched_names(node)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Import | ast.ImportFrom):
            names |= touched_names(node)
    return names


def needed_names(test_sources: list[str], locked_sources: list[str] = ()) -> set[str]:
    """Names the tests read, closed over what the locked statements binding them read."""
    needed: set[str] = set()
    for source in test_sources:
        with contextlib.suppress(SyntaxError):
            needed |= loaded_names(ast.parse(python_source(source)))
    statements = []
    for source in locked_sources:
        with contextlib.suppress(SyntaxError):
            statements += ast.parse(python_source(source)).body
    grew = True
    while grew:
        grew = False
        for stmt in statements:
            if touched_names(stmt) & needed:
                more = loaded_names(stmt) - needed
                if more:
                    needed |= more
                    grew = True
    return needed


def hidden_of(lineno: int, hidden: list[tuple[int, int]]) -> bool:
    return any(low <= lineno <= high for low, high in hidden)


class Runner:
    """Runs one notebook's test cells at a time against one student kernel."""

    def __init__(self) -> None:
        self.kernel: remote.StudentKernel | None = None
        self.ns = remote.TestNamespace()
        self.needed: set[str] = set()

    # -- commands ------------------------------------------------------------------------------
    def start(
        self, connection: dict, tests: list[str], locked: list[str] = (), timeout: float = 60.0
    ) -> dict:
        self.stop()
        self.ns = remote.TestNamespace()
        self.needed = needed_names(list(tests), list(locked))
        try:
            self.kernel = remote.StudentKernel(connection, timeout=timeout)
        except remote.StudentCodeError as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": True}

    def stop(self) -> dict:
        if self.kernel is not None:
            self.kernel.close()
        self.kernel = None
        self.ns.kernel = None
        testing.kernel = None
        return {"ok": True}

    def ping(self, timeout: float = 10.0) -> dict:
        alive = self.kernel is not None and self.kernel.ping(timeout)
        return {"ok": alive, "state": self.kernel.state if self.kernel else "gone"}

    def usage(self, timeout: float = 10.0) -> dict:
        cpu = self.kernel.cpu_seconds(timeout) if self.kernel is not None else None
        return {"ok": cpu is not None, "cpu": cpu}

    def replay(self, source: str, cell: str = "") -> dict:
        """Run the statements of a locked cell that the tests depend on (see the module doc)."""
        try:
            tree = ast.parse(python_source(source))
        except SyntaxError as exc:
            return {"ok": False, "replayed": 0, "errors": [f"syntax error: {exc}"]}
        self.ns.kernel = None  # a replay never reaches the student's kernel
        done, errors = 0, []
        filename = f"<locked {cell}>"
        for stmt in tree.body:
            if not touched_names(stmt) & self.needed:
                continue
            code = compile(ast.Module(body=[stmt], type_ignores=[]), filename, "exec")
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                    exec(code, self.ns)
                done += 1
            except NameError:
                continue  # it needs a student's name: the tests take that from the student
            except Exception as exc:  # an instructor's statement that fails here: report it
                errors.append(f"line {stmt.lineno}: {type(exc).__name__}: {exc}")
        return {"ok": not errors, "replayed": done, "errors": errors}

    def test(self, source: str, cell: str, timeout: float, hidden: list) -> dict:
        """Run one test cell; the report decides its grade."""
        hidden = [(int(a), int(b)) for a, b in hidden]
        filename = f"<test {cell}>"
        code_text = python_source(source)
        lines = code_text.splitlines(keepends=True)
        linecache.cache[filename] = (len(code_text), None, lines, filename)
        out = io.StringIO()
        report: dict[str, Any] = {"passed": False, "stdout": "", "error": None, "result": None}
        kernel = self.kernel
        self.ns.cache = {}
        self.ns.kernel = kernel
        testing.kernel, testing.hidden_lines, testing.cell_file = kernel, hidden, filename
        if kernel is not None:
            kernel.events, kernel.relay, kernel.relayed = [], [], 0
        try:
            tree = ast.parse(code_text, filename)
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = ast.Expression(body=tree.body.pop().value)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                with kernel.deadline(timeout) if kernel else contextlib.nullcontext():
                    exec(compile(tree, filename, "exec"), self.ns)
                    if last is not None:
                        value = eval(compile(last, filename, "eval"), self.ns)
                        if type(value) in (int, float):
                            report["result"] = value
            report["passed"] = True
        except BaseException as exc:  # noqa: BLE001 - a failed test is a report, not a crash
            if isinstance(exc, KeyboardInterrupt | SystemExit) and kernel is None:
                raise
            report["error"] = self.describe(exc, filename, hidden, lines)
        finally:
            self.ns.kernel = None
            testing.kernel, testing.hidden_lines = None, []
        report["stdout"] = out.getvalue()
        report["events"] = list(kernel.events) if kernel else []
        report["state"] = kernel.state if kernel else "gone"
        return report

    # -- errors --------------------------------------------------------------------------------
    @staticmethod
    def describe(exc: BaseException, filename: str, hidden: list, lines: list[str]) -> dict:
        """An error as a notebook shows it; hidden tests' code never appears in it."""
        student = getattr(exc, "student_error", None)
        ename = student["type"] if student else type(exc).__name__
        evalue = str(exc) if not isinstance(exc, KeyError) else str(exc.args[0] if exc.args else "")
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
        in_hidden = bool(frames) and hidden_of(frames[-1].lineno, hidden)
        text = ["Traceback (most recent call last):"]
        for frame in frames:
            if hidden_of(frame.lineno, hidden):
                text.append(f"  line {frame.lineno} (a hidden test: its code is not shown)")
            else:
                code = lines[frame.lineno - 1].rstrip() if frame.lineno <= len(lines) else ""
                text.append(f"  line {frame.lineno}:\n    {code.strip()}")
        if student and student.get("traceback"):
            text.append(f"while running your code ({student['what']}), which raised:")
            text.append("    " + student["traceback"].rstrip().replace("\n", "\n    "))
        text.append(f"{ename}: {evalue}")
        return {"ename": ename, "evalue": evalue, "traceback": text, "hidden": in_hidden}


def serve(stdin=None, stdout=None) -> None:
    """Answer commands on ``stdin`` (JSON lines) until it closes."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    runner = Runner()
    for line in stdin:
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
            cmd = msg.pop("cmd")
            if cmd not in ("start", "replay", "test", "ping", "usage", "stop"):
                raise ValueError(f"unknown command {cmd!r}")
            reply = getattr(runner, cmd)(**msg)
        except Exception as exc:  # the executor gets the reason; the runner keeps serving
            reply = {"ok": False, "crash": f"{type(exc).__name__}: {exc}"}
        stdout.write(json.dumps(reply) + "\n")
        stdout.flush()
    runner.stop()


def main() -> None:
    from lenet_kit.yours import TRUSTED_ENV

    os.environ[TRUSTED_ENV] = "1"  # lenet_kit.yours refuses to run students' code here
    # Protocol on a private copy of stdout; anything else that writes to fd 1 (a library's C
    # code) lands in stderr instead of corrupting the protocol.
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", buffering=0), write_through=True)
    builtins.input = lambda *a: (_ for _ in ()).throw(RuntimeError("tests cannot read input"))
    serve(sys.stdin, protocol)


if __name__ == "__main__":
    main()
