"""Read notebooks the way nbgrader sees them: cell roles, errors and stderr in outputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat


def nbgrader_meta(cell: nbformat.NotebookNode) -> dict:
    """The cell's ``nbgrader`` metadata ({} for cells nbgrader does not track)."""
    return dict(cell.get("metadata", {}).get("nbgrader", {}))


def grade_id(cell: nbformat.NotebookNode) -> str | None:
    return nbgrader_meta(cell).get("grade_id")


def is_solution(cell: nbformat.NotebookNode) -> bool:
    return bool(nbgrader_meta(cell).get("solution"))


def is_test(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and bool(nbgrader_meta(cell).get("grade"))


@dataclass(frozen=True)
class CellError:
    """An error output of an executed cell."""

    index: int
    grade_id: str | None
    ename: str
    evalue: str


def errors(nb: nbformat.NotebookNode) -> list[CellError]:
    """Every error output of an executed notebook, in cell order."""
    return [
        CellError(i, grade_id(cell), out.get("ename", ""), out.get("evalue", ""))
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]


def stderr_cells(nb: nbformat.NotebookNode) -> list[int]:
    """Indices of code cells that wrote to stderr (nbgrader scores such test cells zero)."""
    return [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        and any(out.get("name") == "stderr" for out in cell.get("outputs", []))
    ]


def executed_all(nb: nbformat.NotebookNode) -> bool:
    """True when every non-empty code cell that grading runs ran (the kernel survived to the
    end); cells tagged ``skip-in-grading`` are not run (lenet_kit.split_execute)."""
    from lenet_kit.split_execute import SKIP_TAG

    return all(
        cell.get("execution_count") is not None
        for cell in nb.cells
        if cell.cell_type == "code"
        and cell.source.strip()
        and SKIP_TAG not in cell.get("metadata", {}).get("tags", [])
    )


def points_by_test(nb: nbformat.NotebookNode) -> dict[str | None, float]:
    """Points of each autograded test cell, by grade_id (what the notebook is worth)."""
    return {grade_id(cell): nbgrader_meta(cell)["points"] for cell in nb.cells if is_test(cell)}


def execute(
    nb: nbformat.NotebookNode, folder: Path, timeout: int, allow_errors: bool = False
) -> nbformat.NotebookNode:
    """Run ``nb`` top to bottom in a fresh python3 kernel working in ``folder``; outputs in place.

    Files the notebook writes (checkpoints, figures) land in ``folder``: pass a scratch copy,
    never solutions/ or course/.
    """
    from nbclient import NotebookClient  # imported here: only the runs need it

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute()
    return nb
