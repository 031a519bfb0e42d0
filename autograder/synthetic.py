"""Synthetic submissions for tests and benchmarks: correct, blank, and with chosen mistakes."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from autograder.notebooks import nbgrader_meta


def notebook_with(source: str | Path, replacements: dict[str, str]) -> nbformat.NotebookNode:
    """The notebook at ``source`` with the cells named by grade_id given new source code.

    Raises ``KeyError`` naming any grade_id that the notebook does not have.
    """
    nb = nbformat.read(source, as_version=4)
    missing = set(replacements)
    for cell in nb.cells:
        gid = nbgrader_meta(cell).get("grade_id")
        if gid in replacements:
            cell.source = replacements[gid]
            missing.discard(gid)
    if missing:
        raise KeyError(f"{source} has no cells with grade_id {sorted(missing)}")
    return nb


def submit(
    root: str | Path,
    student: str,
    assignment: str,
    notebook: nbformat.NotebookNode | str | Path,
    name: str | None = None,
) -> Path:
    """Place a notebook where nbgrader expects a submission under course root ``root``."""
    folder = Path(root) / "autograder" / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(notebook, str | Path):
        target = folder / (name or Path(notebook).name)
        shutil.copyfile(notebook, target)
    else:
        target = folder / (name or f"{assignment}.ipynb")
        nbformat.write(notebook, target)
    return target
