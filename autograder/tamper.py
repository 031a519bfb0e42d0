"""Detect tampering in submissions: a static scan of students' code and a check of test cells.

Flags are dicts ``{"kind": str, "reason": str, "cell": str | None}``; each autograded
submission gets ``autograder/autograded/<student>/<assignment>/flags.json`` (a list, ``[]`` when
clean), read by the batch grader's report. Flags never change a score by themselves: the scores
come from the sandboxed, guarded execution; flags tell the instructor what to look at.

- :func:`scan_cell` reads a student cell's code (IPython syntax included) for constructs that
  rewrite later cells, monkeypatch what tests use, hide errors, delegate to reference code or
  hidden tests, run processes, or obfuscate any of that (dynamic code, introspection).
- :class:`CheckSubmittedCells` (an nbgrader sanitize preprocessor, before ``OverwriteCells``)
  compares test and instructor cells with the gradebook: edited, deleted, re-typed, reordered,
  or with changed metadata or points; it repairs the metadata so that grading goes on.
"""

from __future__ import annotations

import ast
import json
import re
import time
from pathlib import Path

from nbformat import NotebookNode
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors.base import NbGraderPreprocessor

from autograder.notebooks import grade_id, is_test, nbgrader_meta

FLAGS_FILE = "flags.json"
#: Where the sanitize phase hands its flags to the execution phase.
META_KEY = "lenet_flags"

# Attribute or name -> (kind, reason). Checked on every Name and Attribute in student code.
SUSPICIOUS = {
    "input_transformers_cleanup": ("rewrites-cells", "installs an input transformer"),
    "input_transformers_post": ("rewrites-cells", "installs an input transformer"),
    "input_transformer_manager": ("rewrites-cells", "changes IPython's input transformation"),
    "ast_transformers": ("rewrites-cells", "installs an AST transformer"),
    "set_custom_exc": ("rewrites-cells", "installs a custom exception handler"),
    "custom_exceptions": ("rewrites-cells", "installs a custom exception handler"),
    "CustomTB": ("rewrites-cells", "installs a custom exception handler"),
    "transform_cell": ("rewrites-cells", "changes how cells are transformed"),
    "run_cell": ("rewrites-cells", "changes how cells run"),
    "run_cell_async": ("rewrites-cells", "changes how cells run"),
    "showtraceback": ("hides-errors", "changes how errors are shown"),
    "_showtraceback": ("hides-errors", "changes how errors are shown"),
    "settrace": ("rewrites-cells", "installs a trace function"),
    "setprofile": ("rewrites-cells", "installs a profile function"),
    "excepthook": ("hides-errors", "changes the exception hook"),
    "displayhook": ("hides-errors", "changes the display hook"),
    "events": ("rewrites-cells", "uses IPython's event callbacks"),
    "builtins": ("changes-builtins", "uses the builtins module"),
    "__builtins__": ("changes-builtins", "uses __builtins__"),
    "stderr": ("hides-errors", "touches sys.stderr"),
    "__stderr__": ("hides-errors", "touches sys.__stderr__"),
    "redirect_stderr": ("hides-errors", "redirects stderr"),
    "_exit": ("hides-errors", "ends the kernel (os._exit)"),
    "abort": ("hides-errors", "ends the kernel (os.abort)"),
    "kill": ("hides-errors", "sends a signal (os.kill)"),
    "killpg": ("hides-errors", "sends a signal"),
    "signal": ("hides-errors", "changes signal handling"),
    "dup2": ("hides-errors", "redirects file descriptors"),
    "In": ("delegation", "reads the input history (In)"),
    "Out": ("delegation", "reads the output history (Out)"),
    "_ih": ("delegation", "reads the input history (_ih)"),
    "_oh": ("delegation", "reads the output history (_oh)"),
    "_dh": ("delegation", "reads IPython's history"),
    "history_manager": ("delegation", "reads the history manager"),
    "input_hist_raw": ("delegation", "reads the input history"),
    "input_hist_parsed": ("delegation", "reads the input history"),
    "_getframe": ("delegation", "inspects the caller's frame"),
    "currentframe": ("delegation", "inspects frames"),
    "f_back": ("delegation", "inspects the caller's frame"),
    "f_locals": ("delegation", "reads a frame's variables"),
    "f_globals": ("delegation", "reads a frame's globals"),
    "f_code": ("delegation", "reads a frame's code"),
    "tb_frame": ("delegation", "reads frames through a traceback"),
    "inspect": ("delegation", "uses inspect (frames, sources)"),
    "gc": ("delegation", "walks live objects (gc)"),
    "lenet_ref": ("delegation", "uses the reference solutions (lenet_ref)"),
    "autograder": ("delegation", "uses the grading tools"),
    "nbgrader": ("delegation", "uses nbgrader"),
    "exec": ("dynamic-code", "runs code built at run time (exec)"),
    "eval": ("dynamic-code", "runs code built at run time (eval)"),
    "compile": ("dynamic-code", "compiles code at run time"),
    "__import__": ("dynamic-code", "imports by name at run time"),
    "importlib": ("dynamic-code", "imports by name at run time"),
    "globals": ("dynamic-code", "reads or writes globals() by name"),
    "locals": ("dynamic-code", "reads locals() by name"),
    "vars": ("dynamic-code", "reads or writes a namespace by name (vars)"),
    "ctypes": ("dynamic-code", "uses ctypes"),
    "marshal": ("dynamic-code", "loads code objects (marshal)"),
    "pickle": ("dynamic-code", "unpickles (can run code)"),
    "base64": ("dynamic-code", "decodes hidden text (base64)"),
    "codecs": ("dynamic-code", "decodes hidden text (codecs)"),
    "modules": ("dynamic-code", "reaches modules through sys.modules"),
    "run_line_magic": ("process", "runs magics by name"),
    "FunctionType": ("dynamic-code", "builds functions from code objects"),
    "CodeType": ("dynamic-code", "builds code objects"),
    "subprocess": ("process", "starts processes"),
    "system": ("process", "runs shell commands"),
    "getoutput": ("process", "runs shell commands"),
    "popen": ("process", "runs shell commands"),
    "fork": ("process", "forks processes"),
    "forkpty": ("process", "forks processes"),
    "multiprocessing": ("process", "starts processes"),
    "pty": ("process", "starts processes"),
    "socket": ("process", "opens network sockets"),
    "urllib": ("process", "uses the network"),
    "requests": ("process", "uses the network"),
    "http": ("process", "uses the network"),
    "setrlimit": ("process", "changes resource limits"),
    "prlimit": ("process", "changes resource limits"),
    "sched_setaffinity": ("process", "changes CPU affinity"),
}
#: Attribute names that are only suspicious on one module (``model.modules()`` is fine);
#: None: only as a bare name (``torch.compile`` is fine, ``compile(...)`` is not).
QUALIFIED = {
    "modules": "sys", "system": "os", "kill": "os", "killpg": "os", "abort": "os",
    "popen": "os", "fork": "os", "compile": None, "exec": None, "eval": None,
    "signal": "signal", "run_line_magic": None, "http": None, "socket": None, "pty": None,
}  # fmt: skip
#: Dunder attributes with everyday uses; any other dunder access is flagged as introspection.
PLAIN_DUNDERS = {
    "__init__", "__call__", "__repr__", "__str__", "__len__", "__getitem__", "__setitem__",
    "__iter__", "__next__", "__name__", "__doc__", "__version__", "__eq__", "__hash__",
    "__enter__", "__exit__", "__add__", "__mul__", "__main__", "__file__", "__contains__",
}  # fmt: skip
#: Words in string constants that point at solutions, hidden tests or grading data on disk.
SUSPICIOUS_TEXT = re.compile(r"solutions|gradebook|\.ipynb|lenet_ref|autograder|/root|/home/")
#: Module roots whose attributes students must not assign (tests rely on them).
PROTECTED_ROOTS = {"numpy", "torch", "lenet_kit", "matplotlib", "sys", "os", "IPython", "math"}
#: Cell magics that run another language or write files.
RISKY_MAGICS = {"bash", "sh", "script", "system", "writefile", "file", "perl", "ruby", "python"}
#: Line magics a student may use.
SAFE_MAGICS = {"matplotlib", "time", "timeit", "load_ext", "autoreload", "config"}


def _python_source(source: str) -> str:
    """The cell as Python (magics and shell escapes turned into calls)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _flag(kind: str, reason: str, cell: str | None) -> dict:
    return {"kind": kind, "reason": reason, "cell": cell}


class _Scanner(ast.NodeVisitor):
    def __init__(self, cell: str | None, hidden_names: set[str]) -> None:
        self.cell = cell
        self.hidden_names = hidden_names
        self.modules: dict[str, str] = {}  # alias -> module
        self.flags: list[dict] = []
        self.bound: set[str] = set()
        self.loaded: set[str] = set()

    def add(self, kind: str, reason: str) -> None:
        flag = _flag(kind, reason, self.cell)
        if flag not in self.flags:
            self.flags.append(flag)

    def _check_word(self, word: str) -> None:
        if word in SUSPICIOUS:
            self.add(*SUSPICIOUS[word])

    def _root_module(self, node: ast.AST) -> str | None:
        while isinstance(node, ast.Attribute | ast.Subscript):
            node = node.value
        if isinstance(node, ast.Name):
            return self.modules.get(node.id)
        return None

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            for part in alias.name.split("."):
                self._check_word(part)
            self.modules[alias.asname or alias.name.split(".")[0]] = alias.name
            self.bound.add(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for part in (node.module or "").split("."):
            self._check_word(part)
        for alias in node.names:
            self._check_word(alias.name)
            self.modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            self.bound.add(alias.asname or alias.name)

    def visit_Name(self, node: ast.Name) -> None:
        self._check_word(node.id)
        if isinstance(node.ctx, ast.Load):
            self.loaded.add(node.id)
        else:
            self.bound.add(node.id)
        if re.fullmatch(r"_i+\d*|_\d+", node.id):
            self.add("delegation", f"reads IPython's history variable {node.id}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr not in QUALIFIED:
            self._check_word(node.attr)
        elif QUALIFIED[node.attr] and (self._root_module(node) or "") == QUALIFIED[node.attr]:
            self._check_word(node.attr)
        if node.attr.startswith("__") and node.attr.endswith("__"):
            if node.attr not in PLAIN_DUNDERS:
                self.add("dynamic-code", f"uses the special attribute {node.attr}")
        if isinstance(node.ctx, ast.Store | ast.Del):
            module = self._root_module(node)
            if module is not None:
                self.add("monkeypatch", f"assigns or deletes an attribute of module {module}")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name in {"setattr", "delattr"} and node.args:
            module = self._root_module(node.args[0])
            if module is not None:
                self.add("monkeypatch", f"{name} on module {module}")
        if name in {"getattr", "setattr", "delattr", "hasattr"} and len(node.args) > 1:
            if not isinstance(node.args[1], ast.Constant):
                self.add("dynamic-code", f"{name} with a computed attribute name")
        on_shell = isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call)
        if on_shell and getattr(func.value.func, "id", None) == "get_ipython":
            if name in {"system", "getoutput", "system_piped", "system_raw"}:
                self.add("process", "runs shell commands (!)")
        if name in {"exit", "quit"}:
            self.add("hides-errors", f"calls {name}()")
        if name in {"run_line_magic", "run_cell_magic"} and node.args:
            magic = node.args[0]
            magic = magic.value if isinstance(magic, ast.Constant) else None
            if name == "run_cell_magic" and magic in RISKY_MAGICS:
                self.add("process", f"runs the cell magic %%{magic}")
            elif name == "run_line_magic" and magic not in SAFE_MAGICS:
                self.add("process", f"runs the magic %{magic}")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and SUSPICIOUS_TEXT.search(node.value):
            self.add("delegation", f"mentions {SUSPICIOUS_TEXT.search(node.value).group()!r}")

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        caught = node.type
        names = {getattr(caught, "id", None)} if caught is not None else {None}
        if isinstance(caught, ast.Tuple):
            names = {getattr(e, "id", None) for e in caught.elts}
        if None in names and caught is None or "BaseException" in names:
            self.add("hides-errors", "catches every exception, KeyboardInterrupt included")
        if node.name:
            self.bound.add(node.name)
        self.generic_visit(node)

    def visit_Raise(self, node: ast.Raise) -> None:
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        if isinstance(exc, ast.Name) and exc.id in {"SystemExit", "KeyboardInterrupt"}:
            self.add("hides-errors", f"raises {exc.id}")
        self.generic_visit(node)

    def _bind_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        if not isinstance(node, ast.Lambda):
            self.bound.add(node.name)
        args = node.args
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if arg is not None:
                self.bound.add(arg.arg)
        self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _bind_function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.bound.add(node.name)
        self.generic_visit(node)

    def finish(self, bound_elsewhere: set[str]) -> list[dict]:
        for name in sorted(self.loaded & self.hidden_names - self.bound - bound_elsewhere):
            self.add("delegation", f"uses {name!r}, a name only hidden tests define")
        if any(m.split(".")[0] in PROTECTED_ROOTS for m in self.modules.values()):
            pass  # importing is fine; assigning into them is what visit_Attribute flags
        return self.flags


def bound_names(source: str) -> set[str]:
    """Names a cell binds at any level (assignments, imports, definitions, parameters)."""
    scanner = _Scanner(None, set())
    try:
        scanner.visit(ast.parse(_python_source(source)))
    except SyntaxError:
        return set()
    return scanner.bound


def scan_cell(
    source: str,
    cell: str | None = None,
    hidden_names: set[str] = frozenset(),
    bound_elsewhere: set[str] = frozenset(),
) -> list[dict]:
    """Flags for one student cell's code (``cell`` names it in the flags)."""
    try:
        tree = ast.parse(_python_source(source))
    except SyntaxError:
        return []  # it fails when it runs; nothing to hide
    scanner = _Scanner(cell, set(hidden_names))
    scanner.visit(tree)
    return scanner.finish(set(bound_elsewhere))


def hidden_test_code(source: str) -> str:
    """The hidden parts of a test cell (between the BEGIN/END HIDDEN TESTS markers)."""
    parts = re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", source, re.S)
    return "\n".join(parts)


def _label(cell: NotebookNode, index: int) -> str:
    return grade_id(cell) or f"cell {index}"


def is_instructor_cell(cell: NotebookNode) -> bool:
    """Cells the gradebook restores: tests and locked cells (not students' answers)."""
    meta = nbgrader_meta(cell)
    return cell.cell_type == "code" and bool(meta.get("grade") or meta.get("locked"))


def scan_notebook(nb: NotebookNode) -> list[dict]:
    """Static flags for every student code cell of a (sanitized) notebook."""
    hidden = "\n".join(hidden_test_code(c.source) for c in nb.cells if is_test(c))
    hidden_bound = bound_names(hidden)
    visible = [
        c.source.replace(hidden_test_code(c.source), "") if is_test(c) else c.source
        for c in nb.cells
        if c.cell_type == "code"
    ]
    visible_bound = set().union(*(bound_names(s) for s in visible)) if visible else set()
    hidden_only = hidden_bound - visible_bound
    flags = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and not is_instructor_cell(cell):
            own = bound_names(cell.source)
            flags += scan_cell(cell.source, _label(cell, index), hidden_only, visible_bound - own)
    return flags


def scan_extra_files(folder: Path) -> list[dict]:
    """Flags for submitted files that would change how Python or IPython start."""
    risky = re.compile(r".*\.(py|pth|pyc|so)$|ipython.*config.*|.*customize.*", re.I)
    return [
        _flag("extra-file", f"submitted file {p.relative_to(folder)} could shadow modules", None)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and risky.fullmatch(p.name)
    ]


class CheckSubmittedCells(NbGraderPreprocessor):
    """Flag and undo changes to test and instructor cells (run before ``OverwriteCells``).

    Source edits are undone by ``OverwriteCells`` and deleted test cells are put back by
    ``add_missing_cells``; this flags them. Changed grade metadata (``grade``, ``points``,
    ``locked``, ``solution``) would make nbgrader reject the whole submission with
    "Inconsistent checksums": it is restored here from the gradebook, and flagged.
    """

    def preprocess(self, nb: NotebookNode, resources: dict):
        info = resources["nbgrader"]
        flags = []
        with Gradebook(info["db_url"]) as gb:
            try:
                source_nb = gb.find_notebook(info["notebook"], info["assignment"])
            except MissingEntry:
                return nb, resources
            sources = {c.name: c for c in source_nb.source_cells}
            grades = {c.name: c for c in source_nb.grade_cells}
            solutions = {c.name for c in source_nb.solution_cells}
            order = [c.name for c in source_nb.source_cells]
            seen = []
            for cell in nb.cells:
                gid = grade_id(cell)
                meta = nbgrader_meta(cell)
                if gid is None:
                    continue
                if gid not in sources:
                    if meta.get("grade") or meta.get("locked"):
                        flags.append(_flag("metadata-changed", "unknown graded cell", gid))
                        cell.metadata.pop("nbgrader", None)
                    continue
                seen.append(gid)
                flags += self._check_cell(cell, sources[gid], grades.get(gid), gid in solutions)
            for gid in grades:
                if gid not in seen and sources[gid].cell_type == "code":
                    flags.append(_flag("deleted-test-cell", "the test cell was deleted", gid))
            expected = [g for g in order if g in seen]
            if seen != expected:
                flags.append(_flag("reordered-cells", "graded cells are out of order", None))
        nb.metadata[META_KEY] = flags + nb.metadata.get(META_KEY, [])
        return nb, resources

    @staticmethod
    def _check_cell(cell, source, grade, solution: bool) -> list[dict]:
        flags = []
        gid = source.name
        meta = cell.metadata.setdefault("nbgrader", {})
        if cell.cell_type != source.cell_type:
            flags.append(_flag("retyped-cell", f"was {source.cell_type}", gid))
        truth = {"grade": grade is not None, "solution": solution, "locked": source.locked}
        if grade is not None:
            truth["points"] = grade.max_score
        changed = [k for k, v in truth.items() if meta.get(k, False if k != "points" else 0) != v]
        if changed:
            flags.append(_flag("metadata-changed", f"changed {', '.join(changed)}", gid))
            meta.update(truth)
            if grade is None:
                meta.pop("points", None)
        if (source.locked or grade is not None) and not solution:
            if _visible(cell.source) != _visible(source.source):
                kind = "edited-test-cell" if grade is not None else "edited-locked-cell"
                flags.append(_flag(kind, "its code was changed (restored from the gradebook)", gid))
        return flags


def _visible(source: str) -> list[str]:
    """A test cell's lines without its hidden tests (the release shows only these)."""
    source = re.sub(r"### BEGIN HIDDEN TESTS\n.*?### END HIDDEN TESTS\n?", "", source, flags=re.S)
    return [line.rstrip() for line in source.strip().splitlines() if line.strip()]


def write_flags(folder: Path, flags: list[dict], started: float) -> Path:
    """Write (or, for a later notebook of the same run, extend) ``folder/flags.json``."""
    path = Path(folder) / FLAGS_FILE
    existing = []
    if path.exists() and path.stat().st_mtime >= started:
        existing = json.loads(path.read_text())
    merged = existing + [f for f in flags if f not in existing]
    path.write_text(json.dumps(merged, indent=1) + "\n")
    return path


#: When this grading process started (flags.json files older than this are from earlier runs).
PROCESS_START = time.time()
