"""A real JupyterLab server and a real (Debian) Chromium for the browser tests.

Both are started once per session and always cleaned up: the server in its own process group,
killed as a group; Chromium through Playwright with a fresh profile folder. Playwright drives
/usr/bin/chromium (never a downloaded browser). Without Chromium the tests skip with an install
hint, except under CI=true, where they fail instead.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def require_chromium() -> None:
    """Skip (fail under CI=true) when Debian's Chromium or Playwright is missing."""
    problems = []
    if not CHROMIUM.exists():
        problems.append(f"{CHROMIUM} not found: run `make system-deps` (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the Python package playwright is missing: run `make env`")
    if problems:
        message = "browser tests need Chromium and Playwright: " + "; ".join(problems)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start ``command`` from the repository in its own session (so :func:`stop_group` stops
    it and its children), its output in ``log``."""
    with log.open("w") as out:
        return subprocess.Popen(
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def stop_group(proc: subprocess.Popen) -> None:
    """Terminate a process started with start_new_session=True and all its children."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@dataclass
class Server:
    url: str
    token: str
    root: Path

    def lab(self, path: str) -> str:
        return f"{self.url}/lab/tree/{path}?token={self.token}"


def wait_for_http(
    url: str, proc: subprocess.Popen, log: Path, timeout: float = 120, what: str = "the server"
) -> None:
    """Wait until ``url`` answers 200; fail with the end of ``log`` if ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{what} did not answer {url} in {timeout} s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def demo_checkpoint(tmp_path_factory) -> Path:
    """A cache folder holding a quickly trained reference checkpoint for the demos notebook."""
    import torch

    from lenet_demos import models
    from lenet_ref.torch_train import save_checkpoint

    folder = tmp_path_factory.mktemp("demos-cache")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, info = models.quick_train("classic", n_train=4_000, epochs=2)
    finally:
        torch.set_num_threads(threads)
    save_checkpoint(folder / "lenet5-classic.pt", model, 2, {"test_acc_2000": info["test_acc"]})
    return folder


# Package scope: the server and the browser (whose sync API keeps an event loop running in this
# thread) are closed when the browser tests are done, before any other test runs.
@pytest.fixture(scope="package")
def server(tmp_path_factory, demo_checkpoint) -> Iterator[Server]:
    """JupyterLab on 127.0.0.1 serving a scratch copy of course/ (the repo is never written)."""
    require_chromium()
    root = tmp_path_factory.mktemp("lab-root")
    shutil.copytree(REPO / "course", root / "course", ignore=shutil.ignore_patterns(".*"))
    settings = tmp_path_factory.mktemp("lab-settings")
    # Render every cell (no virtual scrolling), so widgets far down the notebook are in the page.
    tracker = settings / "user-settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    token = secrets.token_hex(16)
    port = free_port()
    log = root / "server.log"
    env = {
        **os.environ,
        "LENET_DEMOS_CACHE": str(demo_checkpoint),
        "OMP_NUM_THREADS": "1",  # the kernel trains; 1 thread is steadier on a shared machine
        "JUPYTER_CONFIG_DIR": str(settings / "config"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings / "user-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(settings / "workspaces"),
    }
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
        f"--port={port}", f"--ServerApp.root_dir={root / 'course'}",
        f"--IdentityProvider.token={token}", "--ServerApp.port_retries=0",
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")
    proc = start_server(command, env, log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/api/status?token={token}", proc, log)
        yield Server(url, token, root / "course")
    finally:
        stop_group(proc)


@pytest.fixture(scope="package")
def browser_context(tmp_path_factory) -> Iterator:
    """A Chromium (Debian's) browser context with a fresh profile, closed at the end."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    page.set_default_timeout(60_000)
    try:
        yield page
    finally:
        page.close()


def screenshot(target, name: str) -> Path:
    """Save a screenshot of a page or locator under artifacts/screenshots/ and print its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    target.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path
