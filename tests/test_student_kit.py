"""The student kit: no reference code in it, and it installs and runs the notebooks."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import nbformat
import pytest

from autograder.kit import build, leaks
from autograder.nbgrader_cli import REPO
from autograder.notebooks import errors, is_solution
from autograder.synthetic import notebook_with


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("dist") / "kit")


def test_kit_holds_release_helpers_and_environment(kit):
    assert (kit / "course" / "01_mnist" / "01_mnist.ipynb").is_file()
    assert not (kit / "course" / "demos").exists(), "the demos run lenet_ref: not in the kit"
    assert "not in the kit" in (kit / "README.md").read_text()
    assert (kit / "lenet_kit" / "checks.py").is_file()
    assert "lenet_kit" in (kit / "pyproject.toml").read_text()
    assert "numpy==" in (kit / "requirements.lock").read_text()
    assert "use_for_validation()" in (kit / "nbgrader_config.py").read_text()
    assert Path(f"{kit}.zip").is_file()


def _imports(code: str) -> set[str]:
    from lenet_kit.runner import python_source

    found = set()
    for node in ast.walk(ast.parse(python_source(code))):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def _closure(requirements: list[str]) -> set[str]:
    """Distributions the requirements install, transitively (names normalized)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    seen, todo = set(), [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = req.name.lower().replace("_", "-")
        if name in seen or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        try:
            todo += [Requirement(r) for r in metadata.requires(req.name) or []]
        except metadata.PackageNotFoundError:
            pass
    return seen


def test_kit_declares_what_its_code_and_notebooks_import_and_nothing_for_grading(kit):
    from importlib import metadata

    declared = tomllib.loads((kit / "pyproject.toml").read_text())["project"]["dependencies"]
    installed = _closure(declared)
    modules = set()
    for path in (kit / "lenet_kit").glob("*.py"):
        modules |= _imports(path.read_text())
    for path in (kit / "course").rglob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                modules |= _imports(cell.source)
    owners = metadata.packages_distributions()
    needed = {
        d.lower().replace("_", "-")
        for m in modules - set(sys.stdlib_module_names) - {"lenet_kit"}
        for d in owners.get(m, [m])
    }
    assert needed <= installed, f"imported but not installed by the kit: {needed - installed}"
    for extra in ("dask", "distributed", "psycopg", "jupyterhub", "voila", "ipycanvas"):
        assert extra not in {r.split("==")[0] for r in declared}, f"{extra} is not for students"


def _commands(text: str) -> set[str]:
    """The ``python -m <module>`` and ``make <target>`` commands a text tells its reader to run."""
    found = {f"python -m {m}" for m in re.findall(r"python -m ([\w.]+)", text)}
    return found | {f"make {t}" for t in re.findall(r"`make ([\w-]+)", text)}


def _messages(code: str) -> list[str]:
    """The string literals of a module that are not docstrings (what it says to its users)."""
    tree = ast.parse(code)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_kit_messages_name_only_commands_that_exist_in_the_kit(kit):
    texts = [m for p in (kit / "lenet_kit").glob("*.py") for m in _messages(p.read_text())]
    texts.append((kit / "README.md").read_text())
    for path in (kit / "course").rglob("*.ipynb"):
        texts += [cell.source for cell in nbformat.read(path, as_version=4).cells]
    told = set().union(*map(_commands, texts))
    assert "python -m lenet_kit.data" in told  # how a student fetches MNIST
    for command in sorted(told):
        if command.startswith("make "):  # the kit has no Makefile; the course repo does
            assert not (kit / "Makefile").exists() and command in {"make setup", "make demos"}, (
                f"{command}: the kit has no such command"
            )
            continue
        module = command.removeprefix("python -m ").split(".")
        path = kit.joinpath(*module).with_suffix(".py")
        assert module[0] in {"lenet_kit", "nbgrader", "jupyter", "venv", "pip"}, command
        if module[0] == "lenet_kit":
            assert '__name__ == "__main__"' in path.read_text(), f"{command}: not runnable"


def test_kit_has_no_reference_code(kit):
    assert leaks(kit) == []
    assert not any(p.name in {"lenet_ref", "solutions", "autograder"} for p in kit.rglob("*"))


def test_leak_check_finds_reference_code(kit, tmp_path):
    leaky = shutil.copytree(kit, tmp_path / "leaky")
    shutil.copyfile(REPO / "lenet_ref" / "transforms.py", leaky / "lenet_kit" / "extra.py")
    solved = nbformat.read(REPO / "solutions" / "01_mnist" / "01_mnist.ipynb", as_version=4)
    nbformat.write(solved, leaky / "course" / "01_mnist" / "copy.ipynb")
    found = leaks(leaky)
    assert any("lenet_ref.transforms" in f for f in found), found
    assert any("solution or hidden test" in f for f in found), found


@pytest.mark.slow
def test_kit_installs_and_runs_a_notebooks_visible_tests(kit, tmp_path, mnist_cache):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    # Reuse this environment's packages without their .pth files (so no editable lenet_ref).
    site = Path(
        subprocess.check_output(
            [py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True
        ).strip()
    )
    (site / "course-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [py, "-m", "pip", "install", "-q", "--no-deps", str(kit)],
        check=True,
    )
    probe = "import lenet_kit.checks, numpy, torch, matplotlib, tqdm, ipywidgets\n"
    probe += "print(lenet_kit.__file__)"
    where = subprocess.check_output([py, "-c", probe], text=True, cwd=tmp_path)
    assert str(venv) in where
    ref = subprocess.run([py, "-c", "import lenet_ref"], cwd=tmp_path, capture_output=True)
    assert ref.returncode != 0
    solution = nbformat.read(REPO / "solutions" / "01_mnist" / "01_mnist.ipynb", as_version=4)
    answers = {
        c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells if is_solution(c)
    }
    nb = notebook_with(kit / "course" / "01_mnist" / "01_mnist.ipynb", answers)
    nbformat.write(nb, tmp_path / "answered.ipynb")
    subprocess.run(
        [py, "-m", "nbconvert", "--to", "notebook", "--execute", "--output", "done.ipynb",
         str(tmp_path / "answered.ipynb")],
        check=True, cwd=tmp_path, capture_output=True,
    )  # fmt: skip
    done = nbformat.read(tmp_path / "done.ipynb", as_version=4)
    assert errors(done) == []
    outputs = "".join(o.get("text", "") for c in done.cells for o in c.get("outputs", []))
    assert outputs.count("All visible tests passed.") == 5


@pytest.mark.slow
def test_kit_runs_every_notebook_and_validates_like_grading(kit, tmp_path, mnist_cache):
    """In a venv that has the kit (and not lenet_ref): every kit notebook runs headless up to
    its first exercise (00 to the end), and Validate, started in the kit's folder, runs the
    tests the way grading does and passes a correct notebook."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True
        ).strip()
    )
    (site / "course-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", str(kit)], check=True)
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}
    for path in sorted((kit / "course").rglob("*.ipynb")):
        done = tmp_path / f"{path.stem}-run.ipynb"
        subprocess.run(
            [py, "-m", "nbconvert", "--to", "notebook", "--execute", "--allow-errors",
             "--ExecutePreprocessor.timeout=600", "--output", str(done), str(path)],
            check=True, cwd=path.parent, capture_output=True, env=env,
        )  # fmt: skip
        found = errors(nbformat.read(done, as_version=4))
        if path.stem == "00_start_here":
            assert found == [], f"00_start_here fails in the kit: {found[:1]}"
        else:
            assert found and found[0].ename == "NotImplementedError", (
                f"{path.stem} first fails with {found[:1]} in the kit"
            )
    solution = nbformat.read(REPO / "solutions" / "01_mnist" / "01_mnist.ipynb", as_version=4)
    answers = {
        c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells if is_solution(c)
    }
    answered = kit / "course" / "01_mnist" / "01_mnist.ipynb"
    nbformat.write(notebook_with(answered, answers), answered)
    said = subprocess.run(
        [py, "-m", "nbgrader", "validate", str(answered)],
        cwd=kit, capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert "Success! Your notebook passes all the tests." in said.stdout, said.stdout[-2000:]
    broken = notebook_with(answered, {"pad_to_32": "def pad_to_32(images):\n    return images"})
    nbformat.write(broken, answered)
    said = subprocess.run(
        [py, "-m", "nbgrader", "validate", str(answered)],
        cwd=kit, capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert "VALIDATION FAILED" in said.stdout and "line " in said.stdout, said.stdout[-2000:]
