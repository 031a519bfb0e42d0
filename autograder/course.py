"""The course as nbgrader sees it: its configuration, folders, gradebook and cell markers.

One place for what nbgrader_config.py says and what follows from it: the loaded configuration
(:func:`config`), the same configuration moved to another course root (:func:`config_at`, how
tests, workers and benchmarks grade in scratch copies), a course root's SQLite gradebook
(:func:`gradebook_url`), and the hidden tests and solutions of a cell, found by nbgrader's
own delimiters (:func:`marked`, :func:`unmarked`).
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

#: The repository: nbgrader_config.py and the default course root.
REPO = Path(__file__).resolve().parent.parent
SQLITE = "sqlite:///"


@functools.cache
def config():
    """nbgrader_config.py, loaded once per process (a traitlets Config)."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config()


def config_at(root: Path, db_url: str, overrides: dict[str, dict[str, Any]] | None = None):
    """The course's configuration with its folders, gradebook and exchange moved to ``root``."""
    from traitlets.config import Config

    cfg = copy.deepcopy(config())
    cfg.CourseDirectory.root = str(root)
    cfg.CourseDirectory.db_url = db_url
    cfg.Exchange.root = str(Path(root) / "autograder" / "exchange")
    cfg.merge(Config(overrides or {}))
    return cfg


def gradebook_url(root: str | Path) -> str:
    """The SQLite gradebook of the course at ``root`` (``root/autograder/gradebook.db``)."""
    return f"{SQLITE}{Path(root).resolve() / 'autograder' / 'gradebook.db'}"


def sqlite_path(url: str) -> Path | None:
    """The file of an ``sqlite:///`` URL, or None for a database server."""
    return Path(url[len(SQLITE) :]) if url.startswith(SQLITE) else None


@functools.cache
def delimiters() -> dict[str, tuple[str, str]]:
    """nbgrader's markers, as its ClearHiddenTests and ClearSolutions read them (its traits spell
    them "delimeter"; config included):
    ``{"hidden": (begin, end), "solution": (begin, end)}``."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    hidden, solution = ClearHiddenTests(config=config()), ClearSolutions(config=config())
    return {
        "hidden": (hidden.begin_test_delimeter, hidden.end_test_delimeter),
        "solution": (solution.begin_solution_delimeter, solution.end_solution_delimeter),
    }


def _ranges(source: str, kind: str) -> list[tuple[int, int]]:
    from lenet_kit.split_execute import hidden_ranges  # the one parser of marked blocks

    return hidden_ranges(source, *delimiters()[kind])


def marked(source: str, kind: str = "hidden") -> str:
    """The lines between a cell's markers (``kind``: "hidden" tests or "solution"), markers
    left out."""
    lines = source.splitlines()
    return "\n".join(line for a, b in _ranges(source, kind) for line in lines[a : b - 1])


def unmarked(source: str, kind: str = "hidden") -> str:
    """A cell's source without its marked blocks and their markers (what a release shows of a
    test cell, for "hidden")."""
    drop = {n for a, b in _ranges(source, kind) for n in range(a, b + 1)}
    return "\n".join(line for n, line in enumerate(source.splitlines(), 1) if n not in drop)
