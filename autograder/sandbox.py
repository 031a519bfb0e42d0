"""Run grading kernels inside a bubblewrap sandbox, as an unprivileged user, with limits.

What a sandboxed kernel sees (everything else of the host is absent):

- read-only: /usr, /bin, /lib*, /etc, the Python installation and the project venv, the
  ``lenet_kit`` folder, the MNIST cache (at ``/sandbox/mnist``, ``LENET_DATA_DIR``) and the
  submission's own non-notebook files (``/sandbox/in``, copied into the working folder);
- writable: its working folder (``/home/student``, a size-limited tmpfs that is also HOME and
  the current folder), ``/tmp`` (size-limited tmpfs) and the folder of its ZeroMQ sockets;
- no network (own network namespace), its own PID namespace (its processes die with it),
  no ``lenet_ref``, ``autograder``, ``solutions/``, gradebook or other students' folders.

As root the kernel runs as the dedicated user ``lenet-grader`` (created on first use); as an
ordinary user, bubblewrap maps the user into a new user namespace. ``prlimit`` caps address
space, CPU time, processes, file size and open files. The kernel talks to the grader over Unix
sockets (ZeroMQ ``ipc`` transport), which reach across network namespaces.

Where bubblewrap cannot run, grading refuses unless the instructor opts out with
``LENET_GRADE_WITHOUT_SANDBOX=1`` (or ``--SafeExecute.require_sandbox=False``); every
submission graded that way carries a ``no-isolation`` flag.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import platform
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

#: The unprivileged identity of grading kernels when the grader runs as root.
GRADER_USER = "lenet-grader"
#: Set to 1 to grade without a sandbox where none can be set up (flagged "no-isolation").
OPT_OUT_ENV = "LENET_GRADE_WITHOUT_SANDBOX"
#: Where things appear inside the sandbox.
HOME = "/home/student"
INPUTS = "/sandbox/in"
MNIST = "/sandbox/mnist"
#: The student's earlier submissions (for lenet_kit.yours.carry_forward), read-only.
EARLIER = "/sandbox/earlier"
#: Packages that must never be importable by students' code while grading.
HIDDEN_PACKAGES = ("lenet_ref", "autograder")
#: Files the grader writes beside a graded notebook: never copied from a submission.
GRADER_FILES = ("flags.json", "timings.json")
#: Kernels run as uids from this range (no passwd entry; never a real user's).
UID_BASE, UID_SPAN = 2_000_000, 1_000_000
GiB = 1024**3
MiB = 1024**2


class SandboxUnavailable(RuntimeError):
    """Isolation cannot be set up here; the message says why and how to proceed."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one grading kernel (per process where the kernel enforces it so).

    Defaults leave room for LeNet-5 training on the CPU (~3 min, ~2 GB resident; torch reserves
    far more address space than it touches, hence the larger ``address_space``).
    """

    address_space: int = 8 * GiB  # RLIMIT_AS per process: allocations beyond fail (MemoryError)
    cpu_seconds: int = 3600  # RLIMIT_CPU of the kernel process: SIGXCPU ends it
    processes: int = 256  # RLIMIT_NPROC of the sandbox user (threads count)
    file_size: int = 256 * MiB  # RLIMIT_FSIZE: larger writes fail with EFBIG
    open_files: int = 1024  # RLIMIT_NOFILE
    home_size: int = 512 * MiB  # tmpfs of the working folder
    tmp_size: int = 512 * MiB  # tmpfs of /tmp


def opted_out() -> bool:
    return os.environ.get(OPT_OUT_ENV, "").strip().lower() in {"1", "true", "yes"}


def _run_quiet(cmd: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def ensure_grader_user() -> tuple[int, int] | None:
    """As root: (uid, gid) of ``lenet-grader``, created if missing. Otherwise None."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(GRADER_USER)
    except KeyError:
        done = _run_quiet(
            ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent"]
            + ["--shell", "/usr/sbin/nologin", "--user-group", GRADER_USER]
        )
        if done.returncode != 0 and "already exists" not in done.stderr:
            raise SandboxUnavailable(
                f"could not create the grading user {GRADER_USER!r}: useradd said "
                f"{done.stderr.strip()!r}. Create it with `make grader-user` or "
                f"`useradd --system --user-group {GRADER_USER}`."
            ) from None
        entry = pwd.getpwnam(GRADER_USER)
    return entry.pw_uid, entry.pw_gid


def _package_dir(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def _python_roots() -> list[Path]:
    """Folders that hold this interpreter, its standard library and its packages."""
    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    exe = Path(sys.executable).resolve()
    roots.add(exe.parent.parent)
    return sorted(roots)


def _ro_bind(path: Path | str, dest: Path | str | None = None) -> list[str]:
    return ["--ro-bind", str(path), str(dest or path)]


def bwrap_args(
    run_dir: Path,
    inputs: Path,
    mnist: Path | None,
    limits: Limits,
    hidden: tuple[str, ...] = (),
) -> list[str]:
    """The bubblewrap options that build the filesystem view and namespaces.

    ``hidden``: packages whose files are replaced by an empty folder (besides
    ``HIDDEN_PACKAGES``), e.g. torch where an assignment's answers must be NumPy only.
    """
    # Not --unshare-all: it includes a user namespace, in which root could not switch users.
    args = ["--die-with-parent", "--unshare-ipc", "--unshare-pid", "--unshare-net"]
    args += ["--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
    if os.geteuid() != 0:
        args += ["--unshare-user", "--disable-userns"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    for system in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"):
        if os.path.lexists(system):
            # Debian's merged /usr makes /bin etc. symlinks: keep them symlinks.
            if os.path.islink(system):
                args += ["--symlink", os.readlink(system), system]
            else:
                args += _ro_bind(system)
    # A private /tmp first: the environment or the repository may live under /tmp (a CI clone),
    # and the binds below must land on top of it, not be hidden under it.
    args += ["--perms", "1777", "--size", str(limits.tmp_size), "--tmpfs", "/tmp"]
    binds = [r for r in _python_roots() if not str(r).startswith(("/usr/", "/bin/", "/lib"))]
    kit = _package_dir("lenet_kit")
    if kit is not None:
        binds.append(kit)
    # Folders above the bound ones are made traversable (bwrap would create them 0700 under a
    # strict umask); their other contents stay invisible.
    parents = sorted(
        {str(p) for b in binds for p in b.parents if str(p) not in ("/", "/tmp")}, key=len
    )
    parents.append(str(Path(INPUTS).parent))
    for parent in parents:
        args += ["--perms", "0755", "--dir", parent]
    for bound in binds:
        args += _ro_bind(bound)
    # Hide solution code even where it sits inside a bound folder (a non-editable install).
    for name in (*HIDDEN_PACKAGES, *hidden):
        found = _package_dir(name)
        if found is not None and any(found.is_relative_to(r) for r in _python_roots()):
            args += ["--tmpfs", str(found)]
    if mnist is not None and mnist.is_dir():
        args += _ro_bind(mnist, MNIST)
    args += ["--perms", "0777", "--size", str(limits.home_size), "--tmpfs", HOME]
    args += _ro_bind(inputs, INPUTS)
    earlier = inputs.parent / "earlier"
    if earlier.is_dir():
        args += _ro_bind(earlier, EARLIER)
    args += ["--perms", "0755", "--dir", str(run_dir)]
    args += ["--bind", str(run_dir / "ipc"), str(run_dir / "ipc")]
    args += ["--chdir", HOME, "--clearenv"]
    env = {
        "HOME": HOME,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "IPYTHONDIR": "/tmp/ipython",
        "JUPYTER_RUNTIME_DIR": "/tmp/jupyter",
        "XDG_CACHE_HOME": "/tmp/cache",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONSAFEPATH": "1",
        "NBGRADER_EXECUTION": "autograde",
    }
    if mnist is not None:
        env["LENET_DATA_DIR"] = MNIST
    if earlier.is_dir():
        env["LENET_EARLIER_WORK"] = EARLIER
    for key, value in env.items():
        args += ["--setenv", key, value]
    return args


def limit_args(limits: Limits) -> list[str]:
    """``prlimit`` options (soft = hard, so the kernel cannot raise them again)."""
    return [
        f"--as={limits.address_space}",
        f"--cpu={limits.cpu_seconds}",
        f"--nproc={limits.processes}",
        f"--fsize={limits.file_size}",
        f"--nofile={limits.open_files}",
        "--core=0",
    ]


def sandboxed_command(
    cmd: list[str],
    run_dir: Path,
    inputs: Path,
    mnist: Path | None = None,
    limits: Limits | None = None,
    ids: tuple[int, int] | None = None,
    hidden: tuple[str, ...] = (),
) -> list[str]:
    """``cmd`` wrapped so that it runs inside the sandbox (see the module docstring).

    ``run_dir/ipc`` must exist (the kernel's sockets and connection file live there);
    ``inputs`` holds the files that are copied into the working folder before ``cmd`` starts.
    ``ids``: the (uid, gid) to run as when root (default: ``lenet-grader``'s).
    """
    limits = limits or Limits()
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed: run `make system-deps` "
            "(apt-get install bubblewrap)."
        )
    inner = ["/bin/sh", "-c", f'cp -R {INPUTS}/. . 2>/dev/null; exec "$@"', "sh"]
    inner += ["prlimit", *limit_args(limits), "--", *cmd]
    ids = ids or ensure_grader_user()
    if ids is not None:
        uid, gid = ids
        inner = [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={gid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "--",
            *inner,
        ]
    return [bwrap, *bwrap_args(run_dir, inputs, mnist, limits, hidden), "--", *inner]


def sandbox_ids() -> tuple[int, int] | None:
    """As root: a fresh uid for one kernel (in ``lenet-grader``'s group). Otherwise None.

    RLIMIT_NPROC counts the processes of a uid across the whole machine: one uid per kernel
    keeps one submission's fork bomb from starving the kernels of others graded at once.
    """
    ids = ensure_grader_user()
    if ids is None:
        return None
    while True:
        uid = UID_BASE + secrets.randbelow(UID_SPAN)
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid, ids[1]


class RunDir:
    """A private host folder for one sandboxed kernel: its socket folder and its input files."""

    def __init__(self, source: Path | str | None = None) -> None:
        # Short path: Unix socket paths are limited to ~100 bytes.
        self.path = Path(tempfile.mkdtemp(prefix="lenet-sbx-", dir="/tmp"))
        (self.path / "ipc").mkdir()
        self.inputs = self.path / "in"
        self.inputs.mkdir()
        #: The student's earlier notebooks, ``<assignment>.ipynb`` (filled by the grader).
        self.earlier = self.path / "earlier"
        if source is not None:
            copy_inputs(Path(source), self.inputs)
        self.ids = sandbox_ids()
        if self.ids is not None:
            os.chown(self.path / "ipc", *self.ids)
        os.chmod(self.path, 0o755)

    def cleanup(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def copy_inputs(source: Path, dest: Path, max_bytes: int = 64 * MiB) -> None:
    """Copy a submission's non-notebook files (notebooks may hold hidden tests)."""
    total = 0
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_symlink() or path.suffix == ".ipynb" or rel.parts[0] in GRADER_FILES:
            continue
        if path.is_dir():
            (dest / rel).mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            total += path.stat().st_size
            if total > max_bytes:
                break
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest / rel)


@cache
def readable_mnist() -> Path | None:
    """The MNIST cache folder as the grading user can read it (None if there is none).

    The cache is written world-readable (``lenet_kit.data.CACHE_FILE_MODE``) and bound into the
    sandbox as it is. Only as root with an older private cache (files 0600, or a folder others
    cannot enter) is a readable copy made, once per grading process, in a temporary folder
    removed at exit.
    """
    from lenet_kit.data import default_cache_dir

    cache_dir = default_cache_dir()
    if not cache_dir.is_dir():
        return None
    files = [p for p in cache_dir.iterdir() if p.is_file()]
    readable = cache_dir.stat().st_mode & 0o005 == 0o005
    readable = readable and all(p.stat().st_mode & 0o004 for p in files)
    if ensure_grader_user() is None or readable:
        return cache_dir
    mirror = Path(tempfile.mkdtemp(prefix="lenet-mnist-"))
    os.chmod(mirror, 0o755)
    atexit.register(shutil.rmtree, mirror, True)
    for path in files:
        shutil.copyfile(path, mirror / path.name)
        os.chmod(mirror / path.name, 0o644)
    return mirror


@cache
def isolation_problem() -> str | None:
    """Why a sandbox cannot be set up here (None when it can): checked by running one."""
    if platform.system() != "Linux":
        return f"sandboxed grading needs Linux (this is {platform.system()})"
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed: run `make system-deps`"
    for tool in ("prlimit", "setpriv"):
        if shutil.which(tool) is None:
            return f"{tool} (util-linux) is not installed"
    try:
        run = RunDir()
    except (SandboxUnavailable, OSError) as exc:
        return str(exc)
    try:
        cmd = sandboxed_command(
            [sys.executable, "-c", "import lenet_kit"], run.path, run.inputs, ids=run.ids
        )
        done = _run_quiet(cmd, timeout=60)
    except (SandboxUnavailable, OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    finally:
        run.cleanup()
    if done.returncode != 0:
        return f"bubblewrap failed here (user namespaces disabled?): {done.stderr.strip()[-300:]}"
    return None


def require_isolation() -> str | None:
    """None when sandboxing works; else the reason, if the instructor opted out.

    Raises :class:`SandboxUnavailable` when it does not work and nobody opted out.
    """
    problem = isolation_problem()
    if problem is None:
        return None
    if opted_out():
        return problem
    raise SandboxUnavailable(
        f"Refusing to grade: students' code cannot be isolated here ({problem}). "
        f"Fix that, or grade without isolation (students' code then runs as you, with your "
        f"files and network) by setting {OPT_OUT_ENV}=1; every grade is then flagged "
        f"'no-isolation'."
    )


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts the kernel inside the sandbox, talking over ipc sockets.

    ``run_dir``, ``mnist``, ``limits`` and ``hidden_modules`` (packages the kernel must not see)
    are set by the grader before the kernel starts.
    """

    run_dir: RunDir | None = None
    mnist: Path | None = None
    limits: Limits = Limits()
    hidden_modules: tuple[str, ...] = ()

    async def _async_pre_start_kernel(self, **kw):
        assert self.run_dir is not None, "SandboxedKernelManager.run_dir is not set"
        ipc = self.run_dir.path / "ipc"
        self.transport = "ipc"
        self.ip = str(ipc / "k")
        self.connection_file = str(ipc / "kernel.json")
        return await super()._async_pre_start_kernel(**kw)

    def write_connection_file(self, **kwargs) -> None:
        super().write_connection_file(**kwargs)
        if self.run_dir is not None and self.run_dir.ids is not None:
            os.chown(self.connection_file, *self.run_dir.ids)  # the kernel reads it

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        assert self.run_dir is not None
        kw["cwd"] = str(self.run_dir.path)
        kw["env"] = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        run = self.run_dir
        cmd = sandboxed_command(
            kernel_cmd, run.path, run.inputs, self.mnist, self.limits, run.ids, self.hidden_modules
        )
        await super()._async_launch_kernel(cmd, **kw)
