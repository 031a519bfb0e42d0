"""One real JupyterHub (``python -m hub``) for the classroom journeys, and a real Chromium.

The hub runs as root, as ``make hub`` does: it creates Unix accounts for a small test roster
(an instructor and two students, all named ``hubtest-*``), a scratch course root holding
01_mnist, its own exchange and its own ports. Everything is removed at the end: the hub and
every process of the test accounts are stopped, the accounts and the scratch folder deleted.
A lock file serializes two test runs on one machine (the accounts are machine-wide).

This is its own test package (not tests/browser): Playwright's sync API allows one instance
per thread, and tests/browser keeps its own open until its package ends.
"""

from __future__ import annotations

import csv
import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from hub.classroom import PROXY, Person, remove_accounts
from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    free_port,
    require_chromium,
    start_server,
    stop_group,
    wait_for_http,
)

REPO = Path(__file__).resolve().parents[2]
A = "01_mnist"
INSTRUCTOR = "hubtest-prof"
STUDENTS = ("hubtest-ada", "hubtest-bob")
PASSWORD = "a-long-class-password"
LOCK = Path(tempfile.gettempdir()) / "lenet-hub-tests.lock"


def require_hub() -> None:
    """Skip (fail under CI=true) where the hub cannot run: not root, or no proxy installed."""
    problems = []
    if os.geteuid() != 0:
        problems.append("the hub creates Unix accounts and must run as root")
    if not PROXY.exists():
        problems.append(f"{PROXY} is missing: run `make hub-deps`")
    if shutil.which("bwrap") is None:
        problems.append("bubblewrap (grading sandbox) is missing: run `make system-deps`")
    if problems:
        message = "the hub tests need: " + "; ".join(problems)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@dataclass
class Hub:
    url: str
    root: Path  # the scratch folder: state/, home/, course/
    log: Path

    @property
    def course(self) -> Path:
        return self.root / "course"

    @property
    def exchange(self) -> Path:
        return self.root / "state" / "exchange"

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.course / 'autograder' / 'gradebook.db'}"

    def home(self, user: str) -> Path:
        return self.root / "home" / user


def _people() -> list[Person]:
    names = dict(zip(STUDENTS, ("Ada Lovelace", "Bob Builder"), strict=True))
    return [Person(INSTRUCTOR, "Prof Test", "", "instructor")] + [
        Person(s, names[s], f"{s}@example.edu") for s in STUDENTS
    ]


def _stop_accounts(users: list[str]) -> None:
    """End every process that runs as one of our test accounts (their servers, kernels)."""
    uids = set()
    for user in users:
        try:
            uids.add(int(subprocess.check_output(["id", "-u", user], text=True)))
        except (subprocess.CalledProcessError, ValueError):
            continue
    procs = [
        p for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real in uids
    ]
    for p in procs:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)


@pytest.fixture(scope="package")
def hub(mnist_cache) -> Iterator[Hub]:
    """``python -m hub`` with a test roster, on free ports, in a scratch folder."""
    require_chromium()
    require_hub()
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        people = _people()
        _stop_accounts([p.id for p in people])
        remove_accounts(people)  # a run that was killed may have left them
        root = Path(tempfile.mkdtemp(prefix="lenet-hub-test-"))
        root.chmod(0o755)  # the accounts must enter it (pytest's tmp_path is root-only)
        course = root / "course"
        for folder in ("solutions", "course"):
            shutil.copytree(REPO / folder / A, course / folder / A)
        shutil.copy(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
        roster = root / "roster.csv"
        with roster.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["id", "name", "email", "role"])
            writer.writerows([p.id, p.name, p.email, p.role] for p in people)
        port = free_port()
        log = root / "hub.log"
        cmd = [
            sys.executable, "-m", "hub", "--roster", str(roster), "--state", str(root / "state"),
            "--course-root", str(course), "--home-root", str(root / "home"),
            "--port", str(port), "--hub-port", str(free_port()),
            "--proxy-api-port", str(free_port()),
        ]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        proc = start_server(cmd, env, log)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for_http(f"{url}/hub/login", proc, log, what="the hub")
            yield Hub(url, root, log)
        finally:
            stop_group(proc)
            _stop_accounts([p.id for p in people])
            remove_accounts(people)
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="package")
def browser(hub) -> Iterator:
    """Debian's Chromium through Playwright; each user gets a context of their own."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """When a journey fails, keep a screenshot of every page still open (artifacts/...)."""
    outcome = yield
    report = outcome.get_result()
    b = item.funcargs.get("browser") if hasattr(item, "funcargs") else None
    if report.when != "call" or not report.failed or b is None:
        return
    from tests.browser.conftest import screenshot

    name = re.sub(r"[^\w-]+", "-", item.name)
    for i, page in enumerate(p for ctx in b.contexts for p in ctx.pages):
        try:
            screenshot(page, f"hub-FAILED-{name}-{i}")
        except Exception as err:  # a page that is already gone: say so, keep the report
            print(f"no screenshot of page {i}: {err}")
