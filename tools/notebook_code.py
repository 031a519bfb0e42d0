"""Write the code of the course's notebooks as plain Python files, for review and duplicate finders.

    .venv/bin/python tools/notebook_code.py build/notebook-code          # solutions/ (default)
    .venv/bin/python tools/notebook_code.py build/released course

Each notebook becomes ``<folder>/<notebook>.py``: its code cells in order, each headed by a
``# %% [grade_id]`` line (the "percent" cell marker that editors and jupytext read), IPython magics
commented out. The files are a generated view, never edited and never committed: notebooks stay
the single source (nbgrader's metadata lives only there), so no pairing can fall out of sync.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder.notebooks import grade_id  # noqa: E402


def notebook_as_code(nb: nbformat.NotebookNode) -> str:
    """The code cells of ``nb`` as one Python text with ``# %%`` cell markers."""
    parts = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        lines = [
            f"# {line}" if line.lstrip().startswith(("%", "!")) else line
            for line in cell.source.splitlines()
        ]
        parts.append(f"# %% [{grade_id(cell) or f'cell {index}'}]\n" + "\n".join(lines))
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="folder to write the .py files into")
    parser.add_argument("source", nargs="?", default="solutions", help="solutions or course")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    paths = sorted((REPO / args.source).glob("*/*.ipynb"))
    for path in paths:
        code = notebook_as_code(nbformat.read(path, as_version=4))
        (args.out / f"{path.stem}.py").write_text(code)
    print(f"{len(paths)} notebooks of {args.source}/ written to {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
