"""Prepare a machine for the course's JupyterHub: accounts, exchange, configs, data.

Everything ``make hub`` sets up is described by one ``Settings`` (saved as
``<state>/settings.json``, which ``hub/jupyterhub_config.py`` reads):

- one Unix account per roster entry (``hub/roster.csv``: id, name, email, role), home folder
  ``<home_root>/<id>`` readable by its owner only; instructors also join the group
  ``<course_id>-instructors``, which may write the course's folders (``autograder/``,
  ``course/``, ``solutions/``) under ``course_root``;
- nbgrader's exchange at ``exchange`` with the permissions nbgrader's docs give (``ugo+rw``:
  every user may create the course folder; nbgrader sets the modes below it);
- per role a Jupyter config folder (put on ``JUPYTER_CONFIG_PATH`` by the spawner): the course's
  nbgrader config for everyone; students get the assignment list and Validate, the formgrader,
  course list and create-assignment toolbar are disabled for them;
- MNIST copied once, world-readable, into ``<state>/mnist`` (``LENET_DATA_DIR`` of every user and
  of the sandboxed grading kernels), so nobody downloads it again.

Unix accounts need root; nbgrader names submissions by the Unix account, so a hub whose users
shared one account could not tell students apart. Without root, ``prepare`` refuses.
"""

from __future__ import annotations

import csv
import grp
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"
#: The proxy JupyterHub talks to (``make hub-deps``: ``npm ci`` in hub/).
PROXY = REPO / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
#: Unix account names that useradd accepts on Debian by default (and nbgrader as student ids).
ACCOUNT = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
ROLES = ("student", "instructor")


class SetupError(RuntimeError):
    """The hub cannot be prepared; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class Person:
    """One roster entry."""

    id: str
    name: str = ""
    email: str = ""
    role: str = "student"


@dataclass
class Settings:
    """Where the hub keeps everything, and how it is reached (all paths absolute)."""

    state: str = str(REPO / "hub" / "state")
    roster: str = str(REPO / "hub" / "roster.csv")
    course_root: str = str(REPO)
    exchange: str = ""  # default: <state>/exchange
    home_root: str = "/home"
    ip: str = "127.0.0.1"
    port: int = 8000
    hub_port: int = 8081
    proxy_api_port: int = 8001
    course_id: str = "lenet5"
    people: list[Person] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("state", "roster", "course_root", "home_root"):
            setattr(self, name, str(Path(getattr(self, name)).resolve()))
        self.exchange = str(Path(self.exchange or Path(self.state) / "exchange").resolve())
        self.people = [p if isinstance(p, Person) else Person(**p) for p in self.people]

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}"

    @property
    def instructors(self) -> list[str]:
        return [p.id for p in self.people if p.role == "instructor"]

    @property
    def students(self) -> list[str]:
        return [p.id for p in self.people if p.role == "student"]

    @property
    def group(self) -> str:
        """The instructors' group: may write the course's folders."""
        return f"{self.course_id}-instructors"

    @property
    def class_group(self) -> str:
        """Everyone on the roster: may pass through the folders that hold Python and the course."""
        return f"{self.course_id}-hub"

    def path(self, *parts: str) -> Path:
        return Path(self.state, *parts)

    def home(self, user: str) -> Path:
        try:
            return Path(pwd.getpwnam(user).pw_dir)
        except KeyError:
            return Path(self.home_root) / user

    def save(self) -> Path:
        target = self.path("settings.json")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(asdict(self), indent=1) + "\n")
        return target

    @classmethod
    def load(cls, path: str | Path) -> Settings:
        try:
            return cls(**json.loads(Path(path).read_text()))
        except FileNotFoundError:
            raise SetupError(
                f"no hub settings at {path}: start the hub with `make hub` (python -m hub), "
                "which writes them"
            ) from None


def read_roster(path: str | Path) -> list[Person]:
    """The people of a roster CSV (columns id, name, email and optionally role).

    Raises ``SetupError`` naming the file and line of anything that cannot become an account.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SetupError(
            f"no roster at {path}: copy hub/roster.csv and list your class (id,name,email,role)"
        ) from None
    rows = list(csv.DictReader(text.splitlines()))
    if not rows or "id" not in rows[0]:
        raise SetupError(f"{path}: expected a header line with at least the column 'id'")
    people, seen = [], set()
    for line, row in enumerate(rows, start=2):
        pid = (row.get("id") or "").strip()
        role = (row.get("role") or "student").strip().lower() or "student"
        where = f"{path}, line {line}"
        if not ACCOUNT.match(pid):
            raise SetupError(
                f"{where}: id {pid!r} cannot be a Unix account: use lower-case letters, digits, "
                "'_' or '-', starting with a letter, at most 32 characters"
            )
        if role not in ROLES:
            raise SetupError(f"{where}: role {role!r} is not one of {', '.join(ROLES)}")
        if pid in seen:
            raise SetupError(f"{where}: id {pid!r} is listed twice")
        seen.add(pid)
        people.append(
            Person(pid, (row.get("name") or "").strip(), (row.get("email") or "").strip(), role)
        )
    if not any(p.role == "instructor" for p in people):
        raise SetupError(f"{path}: nobody has the role 'instructor' (add one line with it)")
    return people


def not_reachable(path: Path, group: str | None = None) -> list[str]:
    """Folders on the way to ``path`` that other users (or, if given, members of ``group``
    through an ACL) cannot enter; empty when all can."""
    blocked = []
    for folder in [path, *path.parents]:
        if not folder.exists() or folder.stat().st_mode & stat.S_IXOTH:
            continue
        if group and shutil.which("getfacl"):
            acl = subprocess.run(
                ["getfacl", "-cp", str(folder)], capture_output=True, text=True, check=False
            )
            if re.search(rf"^group:{re.escape(group)}:..x", acl.stdout, re.M):
                continue
        blocked.append(str(folder))
    return blocked


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SetupError(f"`{' '.join(cmd)}` failed: {done.stderr.strip() or done.stdout.strip()}")


def ensure_account(person: Person, settings: Settings) -> pwd.struct_passwd:
    """The Unix account of ``person`` (created with a private home if missing)."""
    try:
        entry = pwd.getpwnam(person.id)
    except KeyError:
        home = Path(settings.home_root) / person.id
        home.parent.mkdir(parents=True, exist_ok=True)
        comment = person.name.replace(":", " ") or person.id
        _run(["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/bash"]
             + ["--user-group", "--comment", comment, person.id])  # fmt: skip
        entry = pwd.getpwnam(person.id)
    home = Path(entry.pw_dir)
    if not home.is_dir():
        home.mkdir(parents=True)
        os.chown(home, entry.pw_uid, entry.pw_gid)
    home.chmod(0o700)  # students never read each other's work
    groups = [settings.class_group] + ([settings.group] if person.role == "instructor" else [])
    _run(["usermod", "--append", "--groups", ",".join(groups), person.id])
    return entry


def _ensure_group(name: str) -> int:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        _run(["groupadd", "--system", name])
        return grp.getgrnam(name).gr_gid


def share_with_group(folder: Path, gid: int) -> None:
    """Let group ``gid`` write ``folder`` and everything in it; new files inherit the group."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in [folder, *folder.rglob("*")]:
        if path.is_symlink():
            continue
        os.chown(path, -1, gid)
        mode = path.stat().st_mode
        if path.is_dir():
            path.chmod(stat.S_IMODE(mode) | 0o2070)
        else:
            path.chmod(stat.S_IMODE(mode) | 0o060)


def copy_mnist(target: Path) -> Path:
    """A world-readable copy of the verified MNIST cache in ``target`` (fetched if missing)."""
    from lenet_kit.data import default_cache_dir, fetch_mnist

    source = default_cache_dir()
    fetch_mnist(cache_dir=source)
    target.mkdir(parents=True, exist_ok=True)
    target.chmod(0o755)
    for path in source.iterdir():
        if not path.is_file():
            continue
        dest = target / path.name
        if not dest.exists() or dest.stat().st_size != path.stat().st_size:
            tmp = target / f".{path.name}.tmp"
            shutil.copyfile(path, tmp)
            os.replace(tmp, dest)
        dest.chmod(0o644)
    return target


def _nbgrader_config(settings: Settings, role: str) -> str:
    # The instructor's course root holds the course config; students read the repository's
    # copy (on Kubernetes the course root is the instructor's volume, which students lack).
    folder = Path(settings.course_root) if role == "instructor" else REPO
    course_config = folder / "nbgrader_config.py"
    lines = [
        f'"""nbgrader config of every hub {role} (written by hub/classroom.py; do not edit)."""',
        "c = get_config()  # noqa: F821",
        f"load_subconfig({str(course_config)!r})  # noqa: F821 (the course's own config)",
        f"c.CourseDirectory.course_id = {settings.course_id!r}",
        f"c.Exchange.root = {settings.exchange!r}",
    ]
    if role == "instructor":
        lines.append(f"c.CourseDirectory.root = {settings.course_root!r}")
    else:  # a student's assignments are fetched into their home, never into the course
        lines += [
            "import os",
            "c.CourseDirectory.root = os.path.expanduser('~')",
            "c.CourseDirectory.db_url = 'sqlite://'",
        ]
    return "\n".join(lines) + "\n"


#: What students do not get: the instructor's tools (their server extensions and lab plugins).
STUDENT_SERVER_OFF = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.course_list",
)
STUDENT_LAB_OFF = (
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:create-assignment",
)
#: Lab defaults for the whole hub: every cell rendered (no virtual scrolling), no news pop-up.
LAB_OVERRIDES = {
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}


def config_dir(settings: Settings, role: str) -> Path:
    return settings.path("jupyter", role)


def write_configs(settings: Settings) -> None:
    """Per role: nbgrader_config.py, server-extension and lab-plugin switches; lab defaults."""
    lab_settings = settings.path("jupyter", "lab-settings")
    lab_settings.mkdir(parents=True, exist_ok=True)
    (lab_settings / "overrides.json").write_text(json.dumps(LAB_OVERRIDES, indent=1) + "\n")
    for role in ROLES:
        folder = config_dir(settings, role)
        (folder / "labconfig").mkdir(parents=True, exist_ok=True)
        (folder / "nbgrader_config.py").write_text(_nbgrader_config(settings, role))
        server: dict = {"LabApp": {"app_settings_dir": str(lab_settings)}}
        page: dict = {}
        if role == "student":
            server["ServerApp"] = {"jpserver_extensions": dict.fromkeys(STUDENT_SERVER_OFF, False)}
            page["disabledExtensions"] = dict.fromkeys(STUDENT_LAB_OFF, True)
        (folder / "jupyter_server_config.json").write_text(json.dumps(server, indent=1) + "\n")
        (folder / "labconfig" / "page_config.json").write_text(json.dumps(page, indent=1) + "\n")
    for path in [settings.path("jupyter"), *settings.path("jupyter").rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def check_prerequisites(settings: Settings) -> None:
    """Refuse early, saying how to fix it, when the hub could not work here."""
    if os.geteuid() != 0:
        raise SetupError(
            "the hub creates a Unix account for everyone on the roster (nbgrader tells students "
            "apart by their accounts), so it must run as root: `sudo make hub`"
        )
    if not PROXY.exists():
        raise SetupError(f"{PROXY} is missing: run `make hub-deps` (npm ci in hub/)")
    if not (VENV / "bin" / "jupyterhub").exists():
        raise SetupError("jupyterhub is not in .venv: run `make env`")
    if shutil.which("setfacl") is None and blocked_folders(settings):
        raise SetupError(
            f"other users cannot enter {', '.join(blocked_folders(settings))}, and setfacl "
            "(Debian package acl) is missing to let the class through: run `make system-deps`"
        )


def needed_paths(settings: Settings) -> list[Path]:
    """What every user's server must reach: Python (its real location), .venv, course, state."""
    python = (VENV / "bin" / "python").resolve()
    return [python.parent.parent, VENV, Path(settings.course_root), Path(settings.state)]


def blocked_folders(settings: Settings) -> list[str]:
    """Folders on the way to ``needed_paths`` that others may not enter (pyenv under /root)."""
    found: list[str] = []
    for path in needed_paths(settings):
        found += [f for f in not_reachable(path, settings.class_group) if f not in found]
    return found


def let_class_through(settings: Settings) -> list[str]:
    """Give the class's group the right to pass through (never to list or read) each blocked
    folder, with a POSIX ACL; returns the folders changed."""
    folders = blocked_folders(settings)
    for folder in folders:
        _run(["setfacl", "--modify", f"group:{settings.class_group}:--x", folder])
    return folders


def course_db_url(course_root: Path) -> str:
    """The gradebook of the course at ``course_root``, as its nbgrader_config.py says."""
    from traitlets.config.loader import PyFileConfigLoader

    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(course_root)).load_config()
    return cfg.CourseDirectory.get("db_url") or f"sqlite:///{course_root / 'gradebook.db'}"


def add_to_gradebook(settings: Settings) -> str:
    """Put the roster's students, with names and emails, into the course's gradebook (what the
    formgrader lists); returns the gradebook's URL."""
    from nbgrader.api import Gradebook

    from autograder.lms import split_name
    from autograder.nbgrader_cli import nbgrader_env

    os.environ["PATH"] = nbgrader_env()["PATH"]  # nbgrader runs alembic for a new gradebook
    url = course_db_url(Path(settings.course_root))
    with Gradebook(url) as gb:
        for person in settings.people:
            if person.role != "student":
                continue
            first, last = split_name(person.name)
            gb.update_or_create_student(
                person.id, first_name=first, last_name=last, email=person.email or None
            )
    return url


def prepare(settings: Settings) -> Settings:
    """Set the machine up for ``settings`` (idempotent); returns it with the roster read."""
    settings.people = read_roster(settings.roster)
    check_prerequisites(settings)
    state = Path(settings.state)
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o755)
    private = settings.path("private")  # the hub's own database, cookie secret, passwords
    private.mkdir(exist_ok=True)
    private.chmod(0o700)
    exchange = Path(settings.exchange)
    exchange.mkdir(parents=True, exist_ok=True)
    exchange.chmod(0o777)  # nbgrader's docs: chmod ugo+rw; nbgrader sets the modes below it
    copy_mnist(settings.path("mnist"))
    gid = _ensure_group(settings.group)
    _ensure_group(settings.class_group)
    for person in settings.people:
        ensure_account(person, settings)
    for folder in let_class_through(settings):
        print(f"note: the class's accounts may now pass through {folder} (setfacl, x only)")
    course = Path(settings.course_root)
    (course / "autograder").mkdir(exist_ok=True)
    add_to_gradebook(settings)
    for name in ("autograder", "course", "solutions"):
        share_with_group(course / name, gid)
    os.chown(course, -1, gid)  # nbgrader writes its log file into the course root
    course.chmod(stat.S_IMODE(course.stat().st_mode) | 0o070)
    write_configs(settings)
    settings.save()
    return settings


def remove_accounts(people: list[Person], groups: tuple[str, ...] = ()) -> None:
    """Delete the Unix accounts (and homes) of ``people`` and ``groups`` (tests clean up so)."""
    for person in people:
        try:
            pwd.getpwnam(person.id)
        except KeyError:
            continue
        subprocess.run(["userdel", "--remove", person.id], capture_output=True, check=False)
    for group in groups:
        subprocess.run(["groupdel", group], capture_output=True, check=False)
