"""Plausible student mistakes per assignment, and the test cells that must catch each one.

Each module ``mNN_name.py`` here declares ``ASSIGNMENT`` and ``MISTAKES``. A mistake replaces the
source of solution cells (by grade_id); grading a submission with it must give zero on exactly
the listed test cells and full points everywhere else (tests/test_course.py checks this).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass


@dataclass(frozen=True)
class Mistake:
    name: str
    replacements: dict[str, str]
    caught_by: frozenset[str]


def _collect() -> dict[str, list[Mistake]]:
    found: dict[str, list[Mistake]] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found[module.ASSIGNMENT] = list(module.MISTAKES)
    return found


MISTAKES: dict[str, list[Mistake]] = _collect()
