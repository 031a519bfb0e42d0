"""Run plain nbgrader commands from Python, with this repository's nbgrader_config.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from autograder.course import REPO, gradebook_url


class NbgraderFailed(RuntimeError):
    """An nbgrader command exited non-zero; the message ends with nbgrader's own log."""


def nbgrader_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for nbgrader: this interpreter's bin folder first on PATH.

    nbgrader runs ``alembic`` and starts kernels by name, so both must resolve to this
    environment even when it is not activated.
    """
    env = {**os.environ, **(extra or {})}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def nbgrader(
    *args: str,
    root: str | Path | None = None,
    check: bool = True,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``nbgrader ARGS`` from the repository root (so nbgrader_config.py applies).

    ``root`` overrides ``CourseDirectory.root`` (and with it every folder and the gradebook),
    which is how tests and tools grade in a scratch copy of the course.
    """
    cmd = [sys.executable, "-m", "nbgrader", *args]
    if root is not None:
        root = Path(root).resolve()
        (root / "autograder").mkdir(parents=True, exist_ok=True)
        cmd += [
            f"--CourseDirectory.root={root}",
            f"--CourseDirectory.db_url={gradebook_url(root)}",
            f"--Exchange.root={root / 'autograder' / 'exchange'}",
        ]
    done = subprocess.run(
        cmd,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=nbgrader_env(env),
        check=False,
    )
    if check and done.returncode != 0:
        log = (done.stdout + done.stderr).strip()[-4000:]
        raise NbgraderFailed(f"`nbgrader {' '.join(args)}` exited with {done.returncode}:\n{log}")
    return done
