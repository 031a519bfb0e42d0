"""Flags: what grading noticed about a submission, for the instructor to review.

A flag never changes a score by itself (scores come from the trusted test runner); it says where
to look. Each autograded submission gets ``autograder/autograded/<student>/<assignment>/
flags.json``, a list of ``{"kind", "reason", "cell"}`` (``[]`` when clean), kept out of
students' feedback (nbgrader_config.py lists it in ``CourseDirectory.ignore``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

FLAGS_FILE = "flags.json"
#: When this grading process started (flags.json files older than this are from earlier runs).
PROCESS_START = time.time()


@dataclass(frozen=True)
class Flag:
    """One finding: ``kind`` (a short slug such as ``refused-type``), a ``reason`` in words, and
    the ``cell`` (grade id or "cell N") it concerns, or None for the whole notebook."""

    kind: str
    reason: str
    cell: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Flag:
        return cls(str(data.get("kind", "flag")), str(data.get("reason", "")), data.get("cell"))


def read_flags(folder: Path) -> list[Flag]:
    """The flags of one autograded folder ([] when there are none; a damaged file is a flag)."""
    path = Path(folder) / FLAGS_FILE
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        return [Flag("unreadable-flags", f"{path.name}: {err}")]
    if not isinstance(data, list):
        return [Flag("unreadable-flags", f"{path.name} is not a list")]
    return [Flag.from_dict(f) if isinstance(f, dict) else Flag("flag", str(f)) for f in data]


def write_flags(folder: Path, flags: list[Flag], started: float = PROCESS_START) -> Path:
    """Write (or, for a later notebook of the same run, extend) ``folder/flags.json``."""
    path = Path(folder) / FLAGS_FILE
    existing = read_flags(folder) if path.exists() and path.stat().st_mtime >= started else []
    merged = existing + [f for f in dict.fromkeys(flags) if f not in existing]
    path.write_text(json.dumps([f.to_dict() for f in merged], indent=1) + "\n")
    return path
