"""Find the submissions to grade: nbgrader's submitted/ folder, filled directly or from an LMS zip.

An LMS bulk download goes through plain ``nbgrader zip_collect``: the zip is put into
``autograder/downloaded/<assignment>/archive/`` and the ``FileNameCollectorPlugin`` regex in
nbgrader_config.py turns each file name into a student id and notebook name. Before that,
``autograder.lms.clean_archive`` keeps only each student's latest try of each file (nbgrader
stops the whole collection on a duplicate it cannot order), and afterwards what the file names
said (late, older tries left out) is recorded beside each submission (``.lms.json``).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from autograder.nbgrader_cli import nbgrader

#: Student and assignment ids become folder names: no separators, no leading dot.
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*$")


@dataclass(frozen=True)
class Submission:
    """One student's folder for one assignment under ``submitted/``."""

    student: str
    assignment: str
    folder: Path

    def digest(self) -> str:
        """SHA-256 over the folder's file names and contents (what a re-run compares)."""
        h = hashlib.sha256()
        for path in sorted(p for p in self.folder.rglob("*") if p.is_file()):
            h.update(str(path.relative_to(self.folder)).encode() + b"\0")
            h.update(path.read_bytes())
            h.update(b"\0")
        return h.hexdigest()


def find_submissions(
    submitted: Path,
    assignments: list[str] | None = None,
    students: list[str] | None = None,
) -> tuple[list[Submission], list[str]]:
    """Submissions under ``submitted/<student>/<assignment>/``, and notes on what was ignored.

    ``assignments``/``students`` restrict the search (None: all). Folders whose names are not
    safe ids are ignored with a note rather than graded.
    """
    found, notes = [], []
    if not submitted.is_dir():
        return found, [f"no submissions folder at {submitted}"]
    for sdir in sorted(p for p in submitted.iterdir() if p.is_dir()):
        if students is not None and sdir.name not in students:
            continue
        for adir in sorted(p for p in sdir.iterdir() if p.is_dir()):
            if assignments is not None and adir.name not in assignments:
                continue
            if not (SAFE_ID.match(sdir.name) and SAFE_ID.match(adir.name)):
                notes.append(f"ignored {adir}: student and assignment must match {SAFE_ID.pattern}")
                continue
            found.append(Submission(sdir.name, adir.name, adir))
    return found, notes


def zip_collect(
    archive: Path, assignment: str, root: Path, extra_args: tuple[str, ...] = ()
) -> list[str]:
    """Collect an LMS bulk download into ``submitted/`` with ``nbgrader zip_collect``.

    Returns notes: each older try left out for a later one, then nbgrader's warnings (files
    whose names did not match the collector's regex, invalid notebook names). Raises
    ``FileNotFoundError`` for a missing archive, ``ValueError`` for a file that is not a zip
    and ``NbgraderFailed`` if nbgrader fails.
    """
    from autograder.lms import clean_archive, record_collected

    if not archive.is_file():
        raise FileNotFoundError(f"no LMS download at {archive}: pass the path of the .zip file")
    if not zipfile.is_zipfile(archive):
        raise ValueError(f"{archive} is not a zip file: pass the LMS's bulk download as it came")
    target = root / "autograder" / "downloaded" / assignment / "archive"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    collected, notes = clean_archive(archive, target / archive.name)
    done = nbgrader("zip_collect", assignment, "--force", *extra_args)
    record_collected(root / "autograder" / "submitted", assignment, collected)
    return notes + [
        line.split("] ", 1)[-1]
        for line in (done.stdout + done.stderr).splitlines()
        if "WARNING" in line and "Directory not found" not in line
    ]
