"""Tell the instructor what a submission tried: a static scan of students' code, a check of
test cells, and printed accuracy claims the grader's own test contradicts.

None of this is a defence: grades come from the trusted test runner (:mod:`lenet_kit.runner`),
which no student code can reach, so a cell the scan flags still runs and earns what it earns.
The findings are :class:`autograder.flags.Flag` s in each submission's ``flags.json``, for the
instructor to review; students never see them.

- :func:`scan_cell` reads a student cell's code (IPython syntax included) for constructs that
  rewrite later cells, monkeypatch what tests use, hide errors, delegate to reference code or
  hidden tests, run processes, or obfuscate any of that (dynamic code, introspection). A name
  is judged by what it means there (:func:`scan_notebook` follows imports from cell to cell):
  ``signal.signal`` after ``import signal`` is flagged, a student's variable ``signal`` or
  ``model.eval()`` is not.
- :func:`accuracy_claims` reads an executed notebook for printed test accuracies that the
  grader's own accuracy test contradicts.
- :class:`CheckSubmittedCells` (an nbgrader sanitize preprocessor, before ``OverwriteCells``)
  compares test and instructor cells with the gradebook: edited, deleted, re-typed, reordered,
  or with changed metadata or points; it repairs the metadata so that grading goes on.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from nbformat import NotebookNode
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors.base import NbGraderPreprocessor

from autograder import course
from autograder.flags import Flag
from autograder.notebooks import grade_id, is_test, nbgrader_meta
from lenet_kit import policy

#: Where the sanitize phase hands its flags to the execution phase.
META_KEY = "lenet_flags"

#: Modules whose every use is suspicious: importing them, or any name that resolves to them.
MODULES = {
    "builtins": ("changes-builtins", "uses the builtins module"),
    "signal": ("hides-errors", "changes signal handling"),
    "inspect": ("delegation", "uses inspect (frames, sources)"),
    "lenet_ref": ("delegation", "uses the reference solutions (lenet_ref)"),
    "autograder": ("delegation", "uses the grading tools"),
    "nbgrader": ("delegation", "uses nbgrader"),
    "ctypes": ("dynamic-code", "uses ctypes"),
    "marshal": ("dynamic-code", "loads code objects (marshal)"),
    "base64": ("dynamic-code", "decodes hidden text (base64)"),
    "codecs": ("dynamic-code", "decodes hidden text (codecs)"),
    "subprocess": ("process", "starts processes"),
    "multiprocessing": ("process", "starts processes"),
    "pty": ("process", "starts processes"),
    "socket": ("process", "opens network sockets"),
    "urllib": ("process", "uses the network"),
    "requests": ("process", "uses the network"),
    "http": ("process", "uses the network"),
    "resource": ("process", "changes resource limits"),
}
#: Attributes suspicious on one module only: ``os.kill`` is, a student's ``worker.kill()`` is not.
MODULE_ATTRIBUTES = {
    ("sys", "modules"): ("dynamic-code", "reaches modules through sys.modules"),
    ("importlib", "import_module"): ("dynamic-code", "imports by name at run time"),
    ("importlib", "__import__"): ("dynamic-code", "imports by name at run time"),
    ("importlib", "reload"): ("dynamic-code", "reloads modules"),
    ("importlib", "util"): ("dynamic-code", "loads modules from files"),
    ("importlib", "machinery"): ("dynamic-code", "loads modules from files"),
    ("sys", "stderr"): ("hides-errors", "touches sys.stderr"),
    ("sys", "exit"): ("hides-errors", "calls sys.exit()"),
    ("os", "system"): ("process", "runs shell commands"),
    ("os", "popen"): ("process", "runs shell commands"),
    ("os", "fork"): ("process", "forks processes"),
    ("os", "forkpty"): ("process", "forks processes"),
    ("os", "execv"): ("process", "replaces the kernel process"),
    ("os", "execve"): ("process", "replaces the kernel process"),
    ("os", "execvp"): ("process", "replaces the kernel process"),
    ("os", "posix_spawn"): ("process", "starts processes"),
    ("os", "kill"): ("hides-errors", "sends a signal (os.kill)"),
    ("os", "killpg"): ("hides-errors", "sends a signal"),
    ("os", "abort"): ("hides-errors", "ends the kernel (os.abort)"),
    ("pickle", "load"): ("dynamic-code", "unpickles (can run code)"),
    ("pickle", "loads"): ("dynamic-code", "unpickles (can run code)"),
    ("pickle", "Unpickler"): ("dynamic-code", "unpickles (can run code)"),
    ("gc", "get_objects"): ("delegation", "walks live objects (gc)"),
    ("gc", "get_referrers"): ("delegation", "walks live objects (gc)"),
    ("gc", "get_referents"): ("delegation", "walks live objects (gc)"),
}
#: Modules on which even reading an attribute by a computed name is worth a look.
SENSITIVE_ROOTS = {*MODULES, *(module for module, _ in MODULE_ATTRIBUTES), "os", "IPython"}
#: Attribute names no code of this course needs: suspicious on any object, and when imported.
ATTRIBUTES = {
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
    "events": ("rewrites-cells", "uses IPython's event callbacks"),
    "settrace": ("rewrites-cells", "installs a trace function"),
    "setprofile": ("rewrites-cells", "installs a profile function"),
    "showtraceback": ("hides-errors", "changes how errors are shown"),
    "_showtraceback": ("hides-errors", "changes how errors are shown"),
    "excepthook": ("hides-errors", "changes the exception hook"),
    "displayhook": ("hides-errors", "changes the display hook"),
    "__stderr__": ("hides-errors", "touches sys.__stderr__"),
    "redirect_stderr": ("hides-errors", "redirects stderr"),
    "_exit": ("hides-errors", "ends the kernel (os._exit)"),
    "dup2": ("hides-errors", "redirects file descriptors"),
    "history_manager": ("delegation", "reads the history manager"),
    "input_hist_raw": ("delegation", "reads the input history"),
    "input_hist_parsed": ("delegation", "reads the input history"),
    "user_ns": ("delegation", "reaches the notebook's namespace through the shell"),
    "user_global_ns": ("delegation", "reaches the notebook's namespace through the shell"),
    "_getframe": ("delegation", "inspects the caller's frame"),
    "currentframe": ("delegation", "inspects frames"),
    "f_back": ("delegation", "inspects the caller's frame"),
    "f_locals": ("delegation", "reads a frame's variables"),
    "f_globals": ("delegation", "reads a frame's globals"),
    "f_code": ("delegation", "reads a frame's code"),
    "tb_frame": ("delegation", "reads frames through a traceback"),
    "FunctionType": ("dynamic-code", "builds functions from code objects"),
    "CodeType": ("dynamic-code", "builds code objects"),
    "getoutput": ("process", "runs shell commands"),
    "setrlimit": ("process", "changes resource limits"),
    "prlimit": ("process", "changes resource limits"),
    "sched_setaffinity": ("process", "changes CPU affinity"),
}
#: Builtin and IPython names: suspicious where the name still means them (not the student's own).
BUILTINS = {
    "exec": ("dynamic-code", "runs code built at run time (exec)"),
    "eval": ("dynamic-code", "runs code built at run time (eval)"),
    "compile": ("dynamic-code", "compiles code at run time"),
    "__import__": ("dynamic-code", "imports by name at run time"),
    "globals": ("dynamic-code", "reads or writes globals() by name"),
    "locals": ("dynamic-code", "reads locals() by name"),
    "vars": ("dynamic-code", "reads or writes a namespace by name (vars)"),
    "__builtins__": ("changes-builtins", "uses __builtins__"),
    "exit": ("hides-errors", "calls exit()"),
    "quit": ("hides-errors", "calls quit()"),
    "In": ("delegation", "reads the input history (In)"),
    "Out": ("delegation", "reads the output history (Out)"),
    "_ih": ("delegation", "reads the input history (_ih)"),
    "_oh": ("delegation", "reads the output history (_oh)"),
    "_dh": ("delegation", "reads IPython's history"),
}
#: Attribute assignments into library modules that are settings, not patches.
SETTINGS = ("torch.backends.",)
#: Libraries whose items (``sys.modules[...]``, ``np.testing.__dict__[...]``) are not assigned.
PROTECTED_ROOTS = {"numpy", "torch", "lenet_kit", "sys", "builtins", "IPython"}
#: Dunder attributes with everyday uses; any other dunder access is flagged as introspection.
PLAIN_DUNDERS = {
    "__init__", "__call__", "__repr__", "__str__", "__len__", "__getitem__", "__setitem__",
    "__iter__", "__next__", "__name__", "__doc__", "__version__", "__eq__", "__hash__",
    "__enter__", "__exit__", "__add__", "__mul__", "__main__", "__file__", "__contains__",
    "__class__", "__qualname__", "__sub__", "__truediv__", "__matmul__", "__neg__", "__ne__",
    "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__radd__", "__rmul__",
}  # fmt: skip
#: Words in string constants that point at solutions, hidden tests or grading data on disk.
SUSPICIOUS_TEXT = re.compile(r"gradebook|lenet_ref|autograder\.")
#: Cell magics that run another language or write files.
RISKY_MAGICS = {"bash", "sh", "script", "system", "writefile", "file", "perl", "ruby", "python"}
#: Line magics a student may use.
SAFE_MAGICS = {"matplotlib", "time", "timeit", "load_ext", "autoreload", "config"}
#: IPython's history variables (_i, _ii, _i3, _3...).
HISTORY_NAME = re.compile(r"_i+\d*|_\d+")

#: What a name means in a cell: a dotted library path (``"numpy.testing"``, ``"os.kill"``) when
#: it was imported (or aliased: ``t = np.testing``), None when the student bound it to a value of
#: their own; a name that is absent still means the builtin or IPython's (``exec``, ``In``).
Names = dict[str, str | None]


def _python_source(source: str) -> str:
    """The cell as Python (magics and shell escapes turned into calls)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _flag(kind: str, reason: str, cell: str | None) -> Flag:
    return Flag(kind, reason, cell)


def _dotted(node: ast.AST, names: Names) -> str | None:
    """The library path an expression such as ``np.testing.assert_allclose`` stands for."""
    if isinstance(node, ast.Name):
        found = names.get(node.id)
        return found if isinstance(found, str) else None
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value, names)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _is_call_of(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name


def _root(node: ast.AST, names: Names) -> str | None:
    """The library path of the name an attribute or item chain starts from (``a`` in a.b[0].c)."""
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return _dotted(node, names)


class _Bindings(ast.NodeVisitor):
    """What one cell binds: imports (name -> dotted path), other names, and plain aliases."""

    def __init__(self) -> None:
        self.imports: dict[str, str] = {}
        self.assigned: set[str] = set()
        self.aliases: list[tuple[str, ast.AST]] = []  # ``t = np.testing``

    @property
    def bound(self) -> set[str]:
        return self.assigned | set(self.imports)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.imports[alias.asname] = alias.name
            else:  # ``import os.path`` binds ``os``
                root = alias.name.split(".")[0]
                self.imports[root] = root

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = "." * node.level + (node.module or "")
        for alias in node.names:
            if alias.name != "*":
                self.imports[alias.asname or alias.name] = f"{module}.{alias.name}"

    def visit_Name(self, node: ast.Name) -> None:
        if not isinstance(node.ctx, ast.Load):
            self.assigned.add(node.id)

    def visit_Assign(self, node: ast.Assign) -> None:
        target = node.targets[0] if len(node.targets) == 1 else None
        if isinstance(target, ast.Name) and isinstance(node.value, ast.Name | ast.Attribute):
            self.aliases.append((target.id, node.value))
        self.generic_visit(node)

    def visit_arg(self, node: ast.arg) -> None:
        self.assigned.add(node.arg)

    def _bind_name(self, node: ast.AST) -> None:
        if getattr(node, "name", None):
            self.assigned.add(node.name)
        self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _bind_name
    visit_ExceptHandler = visit_MatchAs = visit_MatchStar = _bind_name

    def names_after(self, earlier: Names) -> Names:
        """The cell's view of every name: ``earlier`` cells' bindings, updated by this cell's."""
        names = dict(earlier)
        names.update(dict.fromkeys(self.assigned))
        names.update(self.imports)
        for name, value in self.aliases:
            path = _dotted(value, names)
            if path is not None:
                names[name] = path
        return names


class _Scanner(ast.NodeVisitor):
    def __init__(self, cell: str | None, names: Names, hidden_names: set[str]) -> None:
        self.cell = cell
        self.names = names
        self.hidden_names = hidden_names
        self.flags: list[Flag] = []
        self.line = 1
        self.loaded: set[str] = set()
        self.writes_only: set[int] = set()  # sys.stderr nodes only written to

    def visit(self, node: ast.AST) -> None:
        line = getattr(node, "lineno", None)
        if line is not None:
            self.line = line
        super().visit(node)

    def add(self, kind: str, reason: str) -> None:
        flag = _flag(kind, f"line {self.line}: {reason}", self.cell)
        if flag not in self.flags:
            self.flags.append(flag)

    def _check_path(self, path: str) -> None:
        """Flags for a library object by its dotted path (``signal``, ``os.kill``...)."""
        parts = path.split(".")
        if parts[0] in MODULES:
            self.add(*MODULES[parts[0]])
        for i in range(1, len(parts)):
            found = MODULE_ATTRIBUTES.get((".".join(parts[:i]), parts[i]))
            if found:
                self.add(*found)
        if len(parts) > 1 and parts[-1] in ATTRIBUTES:
            self.add(*ATTRIBUTES[parts[-1]])

    def _students(self, node: ast.AST) -> bool:
        """Whether ``node`` is a name the student bound to a value of their own."""
        return isinstance(node, ast.Name) and node.id in self.names and self.names[node.id] is None

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_path(alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        self._check_path(module)
        for alias in node.names:
            self._check_path(f"{module}.{alias.name}")

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.loaded.add(node.id)
        if node.id not in self.names:  # still the builtin or IPython's name
            if node.id in BUILTINS:
                self.add(*BUILTINS[node.id])
            elif HISTORY_NAME.fullmatch(node.id):
                self.add("delegation", f"reads IPython's history variable {node.id}")
        elif isinstance(self.names[node.id], str) and isinstance(node.ctx, ast.Load):
            self._check_path(self.names[node.id])

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in ATTRIBUTES:
            self.add(*ATTRIBUTES[node.attr])
        base = _dotted(node.value, self.names)
        if base is not None and id(node) not in self.writes_only:
            found = MODULE_ATTRIBUTES.get((base, node.attr))
            if found:
                self.add(*found)
        if node.attr.startswith("__") and node.attr.endswith("__"):
            if node.attr not in PLAIN_DUNDERS:
                self.add("dynamic-code", f"uses the special attribute {node.attr}")
        if isinstance(node.ctx, ast.Store | ast.Del):
            root = _root(node, self.names)
            path = _dotted(node, self.names)
            if root is not None and not (path or "").startswith(SETTINGS):
                what = path or f"an attribute of {root}"
                self.add("monkeypatch", f"assigns or deletes {what}")
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.ctx, ast.Store | ast.Del):
            root = _root(node, self.names)
            if root is not None and root.split(".")[0] in PROTECTED_ROOTS:
                self.add("monkeypatch", f"assigns or deletes an item of {root}")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else None
        attr = func.attr if isinstance(func, ast.Attribute) else None
        stderr = ("sys", "stderr")
        for keyword in node.keywords:  # print(..., file=sys.stderr) writes, hides nothing
            value = keyword.value
            if keyword.arg == "file" and isinstance(value, ast.Attribute):
                if (_dotted(value.value, self.names), value.attr) == stderr:
                    self.writes_only.add(id(value))
        if attr in {"write", "flush"} and isinstance(func.value, ast.Attribute):
            if (_dotted(func.value.value, self.names), func.value.attr) == stderr:
                self.writes_only.add(id(func.value))
        if name in {"setattr", "delattr"} and node.args:
            root = _root(node.args[0], self.names)
            if root is not None and not root.startswith(SETTINGS):
                self.add("monkeypatch", f"calls {name} on {root}")
        if name in {"getattr", "setattr", "delattr", "hasattr"} and len(node.args) > 1:
            # Reaching a student's own object (or ``self``, as in ``setattr(self, f"conv{i}",
            # layer)``) by a computed name is everyday code; doing so on anything else hides what
            # is touched (which is worth telling the instructor; it cannot change a grade).
            # So is picking a library's class by name (``getattr(nn, "ReLU")``), except on the
            # modules that reach the interpreter, processes or the grading tools.
            computed = not isinstance(node.args[1], ast.Constant)
            target = node.args[0]
            while (
                _is_call_of(target, "getattr") and len(target.args) > 1
            ):  # getattr(getattr(m, a), b)
                target = target.args[0]
            own = self._students(target) or (isinstance(target, ast.Name) and target.id == "self")
            library = _root(target, self.names)
            harmless = library is not None and library.split(".")[0] not in SENSITIVE_ROOTS
            if computed and not own and not harmless:
                self.add("dynamic-code", f"calls {name} with a computed attribute name")
        on_shell = isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call)
        if on_shell and getattr(func.value.func, "id", None) == "get_ipython":
            if attr in {"system", "getoutput", "system_piped", "system_raw"}:
                self.add("process", "runs shell commands (!)")
        if attr in {"run_line_magic", "run_cell_magic"} and node.args:
            magic = node.args[0]
            magic = magic.value if isinstance(magic, ast.Constant) else None
            if attr == "run_cell_magic" and magic in RISKY_MAGICS:
                self.add("process", f"runs the cell magic %%{magic}")
            elif attr == "run_line_magic" and magic not in SAFE_MAGICS:
                self.add("process", f"runs the magic %{magic}")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and SUSPICIOUS_TEXT.search(node.value):
            self.add("delegation", f"a string names {SUSPICIOUS_TEXT.search(node.value).group()!r}")

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        caught = node.type
        names = {getattr(caught, "id", None)} if caught is not None else {None}
        if isinstance(caught, ast.Tuple):
            names = {getattr(e, "id", None) for e in caught.elts}
        if None in names and caught is None or "BaseException" in names:
            self.add("hides-errors", "catches every exception, KeyboardInterrupt included")
        self.generic_visit(node)

    def visit_Raise(self, node: ast.Raise) -> None:
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        if isinstance(exc, ast.Name) and exc.id in {"SystemExit", "KeyboardInterrupt"}:
            self.add("hides-errors", f"raises {exc.id}")
        self.generic_visit(node)

    def finish(self, bound: set[str]) -> list[Flag]:
        for name in sorted(self.loaded & self.hidden_names - bound):
            self.add("delegation", f"uses {name!r}, a name only hidden tests define")
        return self.flags


def _bindings(source: str) -> tuple[ast.Module, _Bindings] | None:
    try:
        tree = ast.parse(_python_source(source))
    except SyntaxError:
        return None  # it fails when it runs; nothing to hide
    found = _Bindings()
    found.visit(tree)
    return tree, found


def bound_names(source: str) -> set[str]:
    """Names a cell binds at any level (assignments, imports, definitions, parameters)."""
    parsed = _bindings(source)
    return set() if parsed is None else parsed[1].bound


def names_after(source: str, earlier: Names) -> Names:
    """What every name means after a cell ran, given what it meant before (see ``Names``)."""
    parsed = _bindings(source)
    return dict(earlier) if parsed is None else parsed[1].names_after(earlier)


def scan_cell(
    source: str,
    cell: str | None = None,
    hidden_names: set[str] = frozenset(),
    bound_elsewhere: set[str] = frozenset(),
    earlier: Names | None = None,
) -> list[Flag]:
    """Flags for one student cell's code (``cell`` names it in the flags).

    ``earlier``: what names mean after the cells above it ran (imports of instructor cells
    included), so that ``signal.signal(...)`` is flagged when an earlier cell imported
    ``signal``, and a student's variable called ``signal`` is not.
    """
    parsed = _bindings(source)
    if parsed is None:
        return []
    tree, found = parsed
    scanner = _Scanner(cell, found.names_after(earlier or {}), set(hidden_names))
    scanner.visit(tree)
    return scanner.finish(found.bound | set(bound_elsewhere))


def _label(cell: NotebookNode, index: int) -> str:
    return grade_id(cell) or f"cell {index}"


def is_instructor_cell(cell: NotebookNode) -> bool:
    """Cells the gradebook restores: tests and locked cells (not students' answers)."""
    meta = nbgrader_meta(cell)
    return cell.cell_type == "code" and bool(meta.get("grade") or meta.get("locked"))


def _visible_code(cell: NotebookNode) -> str:
    return course.unmarked(cell.source) if is_test(cell) else cell.source


def scan_notebook(nb: NotebookNode) -> list[Flag]:
    """Static flags for every student code cell of a (sanitized) notebook, top to bottom."""
    hidden = "\n".join(course.marked(c.source) for c in nb.cells if is_test(c))
    code = [c for c in nb.cells if c.cell_type == "code"]
    visible_bound = set().union(*(bound_names(_visible_code(c)) for c in code)) if code else set()
    hidden_only = bound_names(hidden) - visible_bound
    flags = []
    names: Names = {}
    helpers: set[str] = set()  # what instructor cells imported from lenet_kit (expect_close...)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        parsed = _bindings(_visible_code(cell) if is_test(cell) else cell.source)
        if is_instructor_cell(cell):
            imports = parsed[1].imports if parsed else {}
            helpers |= {n for n, path in imports.items() if path.startswith("lenet_kit")}
        else:
            own = bound_names(cell.source)
            label = _label(cell, index)
            flags += scan_cell(cell.source, label, hidden_only, visible_bound - own, names)
            for name in sorted(helpers & (parsed[1].assigned if parsed else set())):
                reason = f"rebinds {name}, which the notebook imports from lenet_kit"
                flags.append(_flag("monkeypatch", reason, label))
        names = names_after(_visible_code(cell), names)
    return flags


#: "accuracy" and the rest of its line, where a claimed value is looked for.
CLAIM = re.compile(r"accuracy\b(?P<rest>[^\n]{0,40})", re.I)
CLAIM_NUMBER = re.compile(r"(\d+(?:\.\d+)?)\s*(%?)")
#: Claims this far above what the grader measured are flagged (honest runs vary by epoch).
CLAIM_MARGIN = 0.01


def stated_accuracies(text: str) -> list[float]:
    """Accuracies (fractions) a text states next to the word: "test accuracy 99.52%" -> 0.9952.

    The first percentage, or decimal fraction up to 1, within 40 characters after "accuracy"
    on the same line ("accuracy after 4 epochs: 99.1%" -> 0.991; bare integers are skipped).
    """
    found = []
    for match in CLAIM.finditer(text):
        for number, percent in CLAIM_NUMBER.findall(match["rest"]):
            value = float(number) / 100 if percent else float(number)
            if value <= 1 and (percent or "." in number):
                found.append(value)
                break
    return found


def _output_text(cell: NotebookNode, errors: bool = False) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") == "error" and errors:
            parts.append(f"{out.get('ename', '')}: {out.get('evalue', '')}")
        elif out.get("output_type") != "error":
            parts.append(str(out.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def accuracy_claims(nb: NotebookNode, assignment: str | None) -> list[Flag]:
    """``accuracy-claim`` flags: student cells that print a test accuracy the grader did not find.

    Read from an executed notebook. The grader's accuracy test is a test cell whose grade_id
    contains "accuracy"; it failed when it holds an error output or wrote to stderr (what
    nbgrader scores 0; SafeExecute adds an error to a test that did not finish). Its threshold
    is ``assignment``'s :data:`lenet_kit.policy.ACCURACY_BARS` entry; what it measured is the first
    accuracy its error message states, when it does. A student code cell whose output states an
    accuracy at or above the threshold, and (when the measurement is known) more than
    ``CLAIM_MARGIN`` above it, is flagged. An honest model just below the bar prints what the
    grader measures, and a passing test raises nothing.
    """
    flags = []
    threshold = policy.accuracy_bar(assignment)
    for test in nb.cells if threshold is not None else []:
        gid = grade_id(test) or ""
        outputs = test.get("outputs", [])
        failed = any(o.get("output_type") == "error" or o.get("name") == "stderr" for o in outputs)
        if "accuracy" not in gid or not is_test(test) or not failed:
            continue
        measured = (stated_accuracies(_output_text(test, errors=True)) or [None])[0]
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or is_instructor_cell(cell):
                continue
            claims = [v for v in stated_accuracies(_output_text(cell)) if v >= threshold]
            if measured is not None:
                claims = [v for v in claims if v > measured + CLAIM_MARGIN]
            if claims:
                found = f"measured {measured:.2%}" if measured is not None else "failed"
                reason = (
                    f"prints a test accuracy of {max(claims):.2%}, but the grader's test "
                    f"{gid} {found} (required {threshold:.1%})"
                )
                flags.append(_flag("accuracy-claim", reason, _label(cell, index)))
    return flags


def scan_extra_files(folder: Path) -> list[Flag]:
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
        # Notebook metadata holds plain data: SafeExecute reads these back as Flags.
        nb.metadata[META_KEY] = [f.to_dict() for f in flags] + nb.metadata.get(META_KEY, [])
        return nb, resources

    @staticmethod
    def _check_cell(cell, source, grade, solution: bool) -> list[Flag]:
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
    return [line.rstrip() for line in course.unmarked(source).strip().splitlines() if line.strip()]
