"""The LMS round trip: bulk downloads in, a roster in, grades back out in the LMS's format.

Canvas (and LMSs that copy it) name each file of a bulk download
``<student>[_LATE]_<user id>_<submission id>_<file name>[-<n>].<ext>``, where ``-<n>`` marks the
n-th resubmission of the same file. ``clean_archive`` keeps, per student and file, only the
latest try (highest ``n``, then highest submission id), so that ``nbgrader zip_collect`` never
stops on "Duplicate submission file"; the older tries are reported. What the file name said
(late, replaced tries, the original name) is kept beside the submission in ``.lms.json``
(nbgrader copies no dot file into autograded or feedback folders).

``find_renamed`` recognises a notebook saved under another name by the grade ids of its cells;
``import_roster`` fills the gradebook's students from an LMS roster export; ``canvas_export``
writes a CSV that Canvas's gradebook import takes in one upload (mapping in its docstring).
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat

#: A Canvas bulk-download file name (the part after the last folder).
CANVAS_NAME = re.compile(
    r"^(?P<student>[A-Za-z0-9.@+-]+)_(?P<late>LATE_)?(?P<user_id>\d+)_(?P<submission_id>\d+)_"
    r"(?P<file>.+?)(?:-(?P<attempt>\d+))?(?P<ext>\.[A-Za-z0-9]+)$"
)
#: The file beside each collected submission that says what the LMS's file name said.
META = ".lms.json"


@dataclass(frozen=True)
class LmsFile:
    """One file of a bulk download, as its name describes it."""

    member: str  # the name inside the zip
    student: str
    file: str  # the file's own name, without the resubmission suffix
    late: bool
    attempt: int
    submission_id: int

    @property
    def key(self) -> tuple[str, str]:
        return self.student, self.file

    def order(self) -> tuple[int, int]:
        return self.attempt, self.submission_id


def parse_name(member: str) -> LmsFile | None:
    """The LMS's facts about one zip member, or None if its name is not in Canvas's form."""
    name = member.rsplit("/", 1)[-1]
    found = CANVAS_NAME.match(name)
    if not found:
        return None
    return LmsFile(
        member=member,
        student=found["student"],
        file=found["file"] + found["ext"],
        late=bool(found["late"]),
        attempt=int(found["attempt"] or 0),
        submission_id=int(found["submission_id"]),
    )


@dataclass
class Collected:
    """What the LMS said about one student's submission of one assignment."""

    student: str
    files: dict[str, str] = field(default_factory=dict)  # file name -> zip member kept
    late: bool = False
    replaced: list[str] = field(default_factory=list)  # older tries, left out


def clean_archive(archive: Path, target: Path) -> tuple[dict[str, Collected], list[str]]:
    """Copy ``archive`` to ``target`` keeping only the latest try of each student's file.

    Returns what was kept per student and notes naming each older try that was left out.
    Members whose names are not in Canvas's form are copied unchanged (nbgrader's collector
    regex decides about them).
    """
    notes: list[str] = []
    with zipfile.ZipFile(archive) as src:
        members = [m for m in src.infolist() if not m.is_dir()]
        latest: dict[tuple[str, str], LmsFile] = {}
        for info in members:
            parsed = parse_name(info.filename)
            if parsed is None:
                continue
            best = latest.get(parsed.key)
            if best is None or parsed.order() > best.order():
                latest[parsed.key] = parsed
        collected: dict[str, Collected] = {}
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in members:
                parsed = parse_name(info.filename)
                if parsed is not None and latest[parsed.key].member != info.filename:
                    kept = latest[parsed.key].member
                    notes.append(
                        f"{parsed.student}: {info.filename} left out, replaced by the later {kept}"
                    )
                    collected.setdefault(parsed.student, Collected(parsed.student)).replaced.append(
                        info.filename
                    )
                    continue
                dst.writestr(info, src.read(info))
                if parsed is not None:
                    entry = collected.setdefault(parsed.student, Collected(parsed.student))
                    entry.files[parsed.file] = info.filename
                    entry.late = entry.late or parsed.late
    return collected, notes


def write_meta(folder: Path, meta: dict[str, Any]) -> None:
    """Record LMS facts beside a submission (merged with what is there)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / META
    old = read_meta(folder)
    path.write_text(json.dumps({**old, **meta}, indent=1, sort_keys=True) + "\n")


def read_meta(folder: Path) -> dict[str, Any]:
    """The LMS facts recorded beside a submission ({} when none)."""
    try:
        data = json.loads((folder / META).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record_collected(submitted: Path, assignment: str, collected: dict[str, Collected]) -> None:
    """Write ``.lms.json`` into each collected student's ``submitted/<student>/<assignment>``."""
    for student, entry in collected.items():
        folder = submitted / student / assignment
        if not folder.is_dir():
            continue
        write_meta(folder, {"lms": asdict(entry)})


# --- notebooks under another name ------------------------------------------------------------


def grade_ids(nb: nbformat.NotebookNode) -> set[str]:
    """The nbgrader grade ids of a notebook's cells."""
    return {
        c.metadata["nbgrader"]["grade_id"]
        for c in nb.cells
        if isinstance(c.get("metadata", {}).get("nbgrader"), dict)
        and c.metadata["nbgrader"].get("grade_id")
    }


def source_ids(source_folder: Path) -> dict[str, set[str]]:
    """For each notebook of an assignment's source folder: its grade ids."""
    out = {}
    for path in sorted(source_folder.glob("*.ipynb")):
        try:
            out[path.name] = grade_ids(nbformat.read(path, as_version=4))
        except Exception:  # an unreadable source notebook simply matches nothing
            out[path.name] = set()
    return out


def find_renamed(files: dict[str, bytes], expected: dict[str, set[str]]) -> dict[str, str]:
    """{submitted name: expected name} for notebooks saved under another name.

    A notebook of the submission whose name the assignment does not have is taken for an
    expected notebook that is missing when at least half of that notebook's grade ids are among
    its cells' (the best match wins; each expected notebook is matched at most once).
    """
    missing = {name: ids for name, ids in expected.items() if name not in files and ids}
    candidates = [n for n in files if n.endswith(".ipynb") and "/" not in n and n not in expected]
    renamed: dict[str, str] = {}
    for name in sorted(candidates):
        try:
            ids = grade_ids(nbformat.reads(files[name].decode("utf-8"), as_version=4))
        except Exception:  # not a notebook nbgrader could read either: nothing to match
            continue
        scores = {
            want: len(ids & wanted) / len(wanted)
            for want, wanted in missing.items()
            if want not in renamed.values()
        }
        if scores:
            best = max(scores, key=lambda k: scores[k])
            if scores[best] >= 0.5:
                renamed[name] = best
    return renamed


# --- roster in, grades out -------------------------------------------------------------------

#: Header names an LMS export may use, per field (compared lower-case, spaces and '_' ignored).
ROSTER_COLUMNS = {
    # Canvas's export has "ID" (its own numeric id) beside "SIS User ID" (the school's id):
    # the school's id wins, and Canvas's becomes the LMS user id.
    "id": ("sisuserid", "studentid", "sisloginid", "loginid", "username", "id", "userid"),
    "name": ("name", "student", "fullname", "studentname", "sortablename"),
    "email": ("email", "emailaddress", "mail"),
    "section": ("section", "sections", "sectionname"),
    "lms_user_id": ("canvasid", "canvasuserid", "lmsuserid", "lmsid"),
}


@dataclass(frozen=True)
class RosterEntry:
    id: str
    first_name: str | None
    last_name: str | None
    email: str | None
    section: str | None
    lms_user_id: str | None


class RosterError(ValueError):
    """A roster file that cannot be read; the message names the file, line and fix."""


def split_name(name: str) -> tuple[str | None, str | None]:
    name = name.strip()
    if not name:
        return None, None
    """(first, last) of "First Middle Last" or "Last, First" (Canvas's sortable name)."""
    if "," in name:
        last, first = (part.strip() for part in name.split(",", 1))
        return first or None, last or None
    parts = name.split()
    return " ".join(parts[:-1]) or None, parts[-1]


def read_roster(path: Path) -> list[RosterEntry]:
    """The students of an LMS roster export (CSV: id, name, email, section; header names as
    Canvas or Moodle write them are recognised). Rows without an id are skipped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise RosterError(f"cannot read the roster {path}: {err}") from None
    reader = csv.DictReader(io.StringIO(text))
    fields = {re.sub(r"[\s_]", "", (h or "").lower()): h for h in reader.fieldnames or []}
    columns = {
        key: next((fields[a] for a in aliases if a in fields), None)
        for key, aliases in ROSTER_COLUMNS.items()
    }
    if columns["lms_user_id"] is None and "id" in fields and columns["id"] != fields["id"]:
        columns["lms_user_id"] = fields["id"]
    login = fields.get("sisloginid")
    if columns["id"] is None:
        raise RosterError(
            f"{path}: no student id column (expected one of: id, student id, SIS User ID, "
            f"login id); its header is {reader.fieldnames}"
        )
    entries, seen = [], set()
    for line, row in enumerate(reader, start=2):
        sid = (row.get(columns["id"]) or "").strip()
        if not sid or sid.lower() == "points possible":
            continue
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*$", sid):
            raise RosterError(
                f"{path}, line {line}: student id {sid!r} cannot be a folder name "
                "(letters, digits, and _ . @ + - only)"
            )
        if sid in seen:
            raise RosterError(f"{path}, line {line}: student id {sid!r} appears twice")
        seen.add(sid)

        def get(key: str, row: dict[str, str] = row) -> str | None:
            value = (row.get(columns[key]) or "").strip() if columns[key] else ""
            return value or None

        first, last = split_name(get("name") or "")
        email = get("email")
        if email is None and login and "@" in (row.get(login) or ""):
            email = row[login].strip()  # Canvas's SIS Login ID is often the email
        entries.append(RosterEntry(sid, first, last, email, get("section"), get("lms_user_id")))
    return entries


def import_roster(db_url: str, path: Path, keep: Path | None = None) -> list[RosterEntry]:
    """Create or update the gradebook's students from a roster export; returns the entries.

    ``keep``: where to save the roster as read (sections, LMS ids) for the grade export.
    """
    from nbgrader.api import Gradebook

    entries = read_roster(path)
    with Gradebook(db_url) as gb:
        for e in entries:
            gb.update_or_create_student(
                e.id,
                first_name=e.first_name,
                last_name=e.last_name,
                email=e.email,
                lms_user_id=e.lms_user_id,
            )
    if keep is not None:
        keep.parent.mkdir(parents=True, exist_ok=True)
        keep.write_text(json.dumps([asdict(e) for e in entries], indent=1) + "\n")
    return entries


def saved_roster(path: Path) -> dict[str, RosterEntry]:
    try:
        return {e["id"]: RosterEntry(**e) for e in json.loads(path.read_text())}
    except (OSError, ValueError, TypeError):
        return {}


def canvas_export(db_url: str, dest: Path, roster: dict[str, RosterEntry] | None = None) -> Path:
    """Write the gradebook as a Canvas gradebook-import CSV; returns its path.

    Mapping (Canvas matches each row by ``ID``, else ``SIS User ID``, else ``SIS Login ID``):

    ==================  =========================================================
    Canvas column       from
    ==================  =========================================================
    Student             gradebook last, first name (else the student id)
    ID                  the student's ``lms_user_id`` (the roster's Canvas id)
    SIS User ID         the nbgrader student id
    SIS Login ID        the student's email (else the student id)
    Section             the roster's section
    <assignment>        the nbgrader score (after late penalties); empty if not
                        submitted. One column per gradebook assignment, named as
                        in nbgrader: Canvas creates the column on first import
                        and updates it afterwards
    ==================  =========================================================

    The second row, ``Points Possible``, holds each assignment's maximum.
    """
    from nbgrader.api import Gradebook, MissingEntry

    roster = roster or {}
    dest.parent.mkdir(parents=True, exist_ok=True)
    with Gradebook(db_url) as gb:
        assignments = sorted(gb.assignments, key=lambda a: (a.duedate is None, a.duedate, a.name))
        header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
        header += [a.name for a in assignments]
        rows = [["Points Possible", "", "", "", ""] + [f"{a.max_score:g}" for a in assignments]]
        for student in sorted(gb.students, key=lambda s: (s.last_name or s.id, s.id)):
            if student.last_name or student.first_name:
                name = ", ".join(x for x in (student.last_name, student.first_name) if x)
            else:
                name = student.id
            entry = roster.get(student.id)
            row = [
                name,
                student.lms_user_id or "",
                student.id,
                student.email or student.id,
                (entry.section if entry else None) or "",
            ]
            for a in assignments:
                try:
                    sub = gb.find_submission(a.name, student.id)
                except MissingEntry:
                    row.append("")
                    continue
                row.append(f"{sub.score:g}")
            rows.append(row)
    with dest.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return dest


def flag_in_gradebook(db_url: str, assignment: str, student: str) -> None:
    """Flag a submission's notebooks for review in the formgrader (its "Flagged?" column)."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            return
        for nb in sub.notebooks:
            nb.flagged = True
        gb.db.commit()
