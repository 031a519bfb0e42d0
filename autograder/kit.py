"""Build the student kit: released notebooks, lenet_kit and environment files, no solutions.

    python -m autograder.kit    # -> dist/lenet5-student-kit/ and dist/lenet5-student-kit.zip

The kit holds ``course/`` (nbgrader's release: solutions stubbed, hidden tests removed; the
demos left out, since they run the reference solutions), the ``lenet_kit`` package, a
``pyproject.toml`` that installs only ``lenet_kit`` with the course's pinned dependencies (no
extra: no grading, demo or hub packages), ``requirements.lock``, an ``nbgrader_config.py`` that
makes Validate run notebooks the way grading does, and a short README. :func:`leaks` looks for the
reference implementations (``lenet_ref`` function names with their bodies, solution cells'
code, hidden tests) inside a built kit.
"""

from __future__ import annotations

import argparse
import ast
import shutil
import sys
import tomllib
from pathlib import Path

import nbformat

from autograder import course
from autograder.course import REPO
from autograder.notebooks import is_solution, is_test

DIST = REPO / "dist"
NAME = "lenet5-student-kit"
#: Released folders left out: the demos run the reference solutions (lenet_demos, lenet_ref).
LEFT_OUT = ("demos",)

README = """# LeNet-5 from scratch: student kit

1. Install Python 3.11, then in this folder:

       python3.11 -m venv .venv
       .venv/bin/pip install -c requirements.lock -e .
       .venv/bin/python -m lenet_kit.data fetch     # MNIST, verified, into a local cache

2. Open the notebooks, from this folder: `.venv/bin/jupyter lab course/`

Each notebook says where to write your code; run its test cells to check your work. Before you
submit, press **Validate** in the notebook's toolbar (or run `.venv/bin/nbgrader validate
course/01_mnist/01_mnist.ipynb`): it runs the notebook the way grading does, test cells apart
from your code and with the notebook's rules in force (NumPy only in notebooks 02 to 06). Grading
also runs hidden tests, which Validate cannot: they check more cases of the same exercises.

The interactive demos are not in the kit: they run the course's reference solutions. Your
instructor can serve them (`make demos` in the course repository).
"""

#: The kit's nbgrader configuration: Validate runs notebooks as grading does (no sandbox).
NBGRADER_CONFIG = """\
# Read by JupyterLab's Validate button and `nbgrader validate` when started from this folder.
from lenet_kit.split_execute import use_for_validation

c = get_config()  # noqa: F821
c.Execute.timeout = 600  # seconds per cell, as in grading
c.Execute.interrupt_on_timeout = True
use_for_validation()
"""


def _pyproject() -> str:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lines = [
        "[build-system]",
        'requires = ["setuptools>=69"]',
        'build-backend = "setuptools.build_meta"',
        "",
        "[project]",
        'name = "lenet5-student-kit"',
        f'version = "{project["version"]}"',
        f'requires-python = "{project["requires-python"]}"',
        "dependencies = [",
        *[f'    "{d}",' for d in project["dependencies"]],  # the course's, without any extra
        "]",
        "",
        "[tool.setuptools]",
        'packages = ["lenet_kit"]',
        "",
    ]
    return "\n".join(lines)


def build(dest: Path = DIST / NAME) -> Path:
    """Write the kit folder and its zip; return the folder."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    left_out = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", *LEFT_OUT)
    shutil.copytree(REPO / "course", dest / "course", ignore=left_out)
    shutil.copytree(REPO / "lenet_kit", dest / "lenet_kit", ignore=ignore)
    (dest / "pyproject.toml").write_text(_pyproject())
    shutil.copyfile(REPO / "requirements.lock", dest / "requirements.lock")
    (dest / "nbgrader_config.py").write_text(NBGRADER_CONFIG)
    (dest / "README.md").write_text(README)
    shutil.make_archive(str(dest), "zip", dest.parent, dest.name)
    return dest


def _bodies(path: Path) -> dict[str, str]:
    """Public functions of a module: name -> body source (without the docstring)."""
    tree = ast.parse(path.read_text())
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            body = node.body[1:] if ast.get_docstring(node) else node.body
            if body:
                out[node.name] = "\n".join(ast.unparse(stmt) for stmt in body)
    return out


def _normal(code: str) -> str:
    try:
        return ast.unparse(ast.parse(code))
    except SyntaxError:
        return code


def leaks(kit: Path) -> list[str]:
    """Reference code found in the kit: lenet_ref bodies, solution cells, hidden tests."""
    texts = {}
    for path in kit.rglob("*"):
        if path.suffix == ".py":
            texts[str(path)] = _normal(path.read_text())
        elif path.suffix == ".ipynb":
            nb = nbformat.read(path, as_version=4)
            # Locked cells that are not exercises hold code the instructor hands out on purpose.
            code = "\n".join(
                c.source
                for c in nb.cells
                if c.cell_type == "code" and (is_solution(c) or not _locked(c))
            )
            texts[str(path)] = code + "\n" + _normal_cells(code)
    found = []
    if any(p.name == "lenet_ref" for p in kit.rglob("*")):
        found.append("a lenet_ref folder")
    for module in sorted((REPO / "lenet_ref").glob("*.py")):
        for name, body in _bodies(module).items():
            lines = [ln for ln in body.splitlines() if len(ln.strip()) > 30]
            for where, text in texts.items():
                if len(lines) >= 2 and all(ln in text for ln in lines):
                    found.append(f"lenet_ref.{module.stem}.{name} in {where}")
    for source in sorted((REPO / "solutions").rglob("*.ipynb")):
        nb = nbformat.read(source, as_version=4)
        for cell in nb.cells:
            secret = ""
            if is_solution(cell):
                secret = course.marked(cell.source, "solution")
            elif is_test(cell):
                secret = course.marked(cell.source, "hidden")
            lines = [ln.strip() for ln in secret.splitlines() if len(ln.strip()) > 12]
            for where, text in texts.items():
                if lines and all(ln in text for ln in lines):
                    found.append(f"solution or hidden test of {source.name} in {where}")
    return found


def _locked(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("locked"))


def _normal_cells(code: str) -> str:
    return "\n".join(line.strip() for line in code.splitlines())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.kit", description=__doc__)
    parser.add_argument("--dest", type=Path, default=DIST / NAME)
    args = parser.parse_args(argv)
    kit = build(args.dest)
    problems = leaks(kit)
    for line in problems:
        print(f"LEAK: {line}")
    if problems:
        return 1
    print(f"student kit: {kit} and {kit}.zip (no reference code found in it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
