"""The student kit: no reference code in it, and it installs and runs the notebooks."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
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
    assert (kit / "lenet_kit" / "checks.py").is_file()
    assert "lenet_kit" in (kit / "pyproject.toml").read_text()
    assert "numpy==" in (kit / "requirements.lock").read_text()
    assert Path(f"{kit}.zip").is_file()


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
