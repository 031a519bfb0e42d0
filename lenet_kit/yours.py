"""Your code, carried forward: the functions you wrote in earlier notebooks, in a later one.

Notebooks 06, 07 and 08 build on your layers (01 to 05) and your model (07). Instead of pasting
them, a cell there calls::

    from lenet_kit.yours import carry_forward
    carry_forward("01_mnist", "02_convolution", ...)

which finds each earlier notebook, runs its answer cells (the cells you wrote code in, after the
imports of its setup cell) in a namespace of their own, and defines here every function and class
they define, later notebooks over earlier ones. Where the notebooks are looked for:

1. ``$LENET_EARLIER_WORK``, if set: when your notebook is graded, your own earlier submissions,
   read-only (the grader puts them there);
2. the course folder this notebook sits in: ``../02_convolution/02_convolution.ipynb`` beside
   ``06_numpy_lenet/`` (your laptop, the student kit, JupyterHub's assignment folders).

A notebook it cannot find is reported, not an error, so that you can paste its functions into the
cell instead; a function that is then still missing fails where it is first used, by name.
"""

from __future__ import annotations

import ast
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: Set by the grader to the folder of a student's earlier submissions.
EARLIER_ENV = "LENET_EARLIER_WORK"
#: How a notebook calls for earlier work (the grader then hands it the student's earlier notebooks).
CARRY_CALL = "carry_forward("
#: Set in the trusted test runner: students' code is never run there.
TRUSTED_ENV = "LENET_TRUSTED_RUNNER"


def notebook_in(folder: Path, assignment: str) -> Path | None:
    """The notebook of ``assignment`` in its folder: ``<assignment>*.ipynb``, else the first."""
    found = sorted(folder.glob(f"{assignment}*.ipynb")) or sorted(folder.glob("*.ipynb"))
    return found[0] if found else None


def find_notebook(assignment: str, here: Path | None = None) -> Path | None:
    """Where ``assignment``'s notebook is: the grader's folder first, then the course folder."""
    earlier = os.environ.get(EARLIER_ENV)
    here = Path.cwd() if here is None else here
    candidates = []
    if earlier:
        candidates += [Path(earlier) / f"{assignment}.ipynb", Path(earlier) / assignment]
    candidates.append(here.parent / assignment)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
        found = notebook_in(candidate, assignment) if candidate.is_dir() else None
        if found is not None:
            return found
    return None


def _given(node: ast.stmt) -> bool:
    """Whether a statement of a locked cell is given code the answers may need: an import, a
    definition, or a constant (never data loading, plots or checks)."""
    if isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.ClassDef):
        return True
    if isinstance(node, ast.Assign):
        try:
            ast.literal_eval(node.value)
        except ValueError:
            return False
        return True
    return False


def _cells(path: Path) -> tuple[list[str], list[str]]:
    """(given statements of the locked cells, sources of the answer cells) of a notebook."""
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell
    cells = json.loads(path.read_text()).get("cells", [])
    imports, answers = [], []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        source = "".join(cell.get("source", []))
        if meta.get("solution"):
            answers.append(transform(source))
        elif meta.get("locked") and not meta.get("grade"):
            try:
                tree = ast.parse(transform(source))
            except SyntaxError:
                continue
            imports += [ast.unparse(n) for n in tree.body if _given(n)]
    return imports, answers


def _run_statements(source: str, filename: str, scope: dict) -> list[str]:
    """Run ``source`` one top-level statement at a time (a statement that needs the earlier
    notebook's data fails alone, and the definitions around it still count); the failures."""
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as exc:
        return [f"SyntaxError: {exc.msg} (line {exc.lineno})"]
    problems = []
    for node in tree.body:
        try:
            exec(compile(ast.Module([node], type_ignores=[]), filename, "exec"), scope)
        except Exception as exc:  # a stub, or a statement that needs that notebook's data
            problems.append(f"line {node.lineno}: {type(exc).__name__}: {exc}")
    return problems


def load(assignment: str, here: Path | None = None) -> tuple[dict[str, Any], list[str]]:
    """The functions and classes ``assignment``'s answer cells define, and notes on cells that
    failed. Raises FileNotFoundError if the notebook cannot be found."""
    if os.environ.get(TRUSTED_ENV):
        raise RuntimeError("students' earlier work is never run by the trusted test runner")
    path = find_notebook(assignment, here)
    if path is None:
        raise FileNotFoundError(assignment)
    imports, answers = _cells(path)
    scope: dict[str, Any] = {"__name__": f"yours_{assignment}"}
    for statement in imports:
        try:
            exec(statement, scope)
        except Exception:  # e.g. torch, which a NumPy notebook's grading leaves out
            pass
    notes = []
    before = set(scope)
    for index, source in enumerate(answers, 1):
        for problem in _run_statements(source, f"<{assignment}, answer cell {index}>", scope):
            notes.append(f"answer cell {index}: {problem}")
    found = {
        name: value
        for name, value in scope.items()
        if name not in before
        and (callable(value) or isinstance(value, type))
        and not name.startswith("_")
        and getattr(value, "__module__", None) == scope["__name__"]
    }
    return found, notes


def carry_forward(
    *assignments: str, names: Iterable[str] | None = None, into: dict | None = None
) -> dict[str, Any]:
    """Define here the functions and classes of your answers in ``assignments`` (see the module
    docstring); ``names`` limits which. Returns what it defined, and prints a summary."""
    if into is None:  # the notebook's namespace (IPython's user module is __main__)
        into = vars(sys.modules["__main__"])
    carried: dict[str, Any] = {}
    origin: dict[str, str] = {}
    wanted = None if names is None else list(names)
    for assignment in assignments:
        try:
            found, notes = load(assignment)
        except FileNotFoundError:
            print(
                f"{assignment}: notebook not found (looked in ${EARLIER_ENV} and in "
                f"{Path.cwd().parent / assignment}). Paste its functions into this cell instead."
            )
            continue
        carried.update(found)
        origin.update(dict.fromkeys(found, assignment))
        kept = sorted(found if wanted is None else set(found) & set(wanted))
        shown = ", ".join(kept) or "nothing"
        if len(kept) < len(found):
            shown += f" (and {len(found) - len(kept)} more, not needed here)"
        print(
            f"{assignment}: {shown}" + (f" ({len(notes)} answer cell(s) skipped)" if notes else "")
        )
    if wanted is not None:
        missing = [n for n in wanted if n not in carried]
        if missing:
            print(f"not found in your notebooks: {', '.join(missing)}")
        carried = {n: carried[n] for n in wanted if n in carried}
    into.update(carried)  # each keeps its own notebook's names for its helpers
    return carried
