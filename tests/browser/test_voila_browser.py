"""The demos as the standalone app `make demos` serves: Voila in a real browser (headless Chromium).

Voila runs every cell before the page connects, so a widget that only draws when its cells run
shows nothing there (the drawing canvas once stayed empty while the digit was still read). This
test serves the released demos notebook with Voila, draws a digit with the mouse, reads the
canvas's pixels for the ink, and checks that the guess is shown.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.browser.conftest import (
    REPO,
    free_port,
    require_chromium,
    screenshot,
    start_server,
    stop_group,
)
from tests.browser.test_demos_browser import BROKEN, draw_a_one, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Dark pixels of the canvas the user sees (the visible <canvas> inside the drawing demo).
COUNT_INK = """canvas => {
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let ink = 0, paper = 0;
    for (let i = 0; i < data.length; i += 4) {
        const dark = data[i] < 100 && data[i + 1] < 100 && data[i + 2] < 100 && data[i + 3] > 200;
        const white = data[i] > 230 && data[i + 1] > 230 && data[i + 2] > 230 && data[i + 3] > 200;
        ink += dark; paper += white;
    }
    return {ink, paper, total: data.length / 4};
}"""


def wait_for_port(port: int, proc: subprocess.Popen, log, timeout: float = 120) -> None:
    """Wait until the server listens (GET / would already start a kernel and run the cells)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Voila exited early:\n{log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"Voila did not listen on {port} in {timeout} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def voila(tmp_path_factory, demo_checkpoint) -> Iterator[str]:
    """Voila serving a scratch copy of course/demos/demos.ipynb, as `make demos` does."""
    require_chromium()
    root = tmp_path_factory.mktemp("voila-root")
    shutil.copytree(REPO / "course" / "demos", root / "demos", ignore=shutil.ignore_patterns(".*"))
    port = free_port()
    log = root / "voila.log"
    env = {
        **os.environ,
        "LENET_DEMOS_CACHE": str(demo_checkpoint),
        "OMP_NUM_THREADS": "1",
        "JUPYTER_CONFIG_DIR": str(root / "config"),
    }
    command = [
        sys.executable, "-m", "voila", str(root / "demos" / "demos.ipynb"), "--no-browser",
        f"--port={port}", "--Voila.ip=127.0.0.1", "--ServerApp.port_retries=0",
    ]  # fmt: skip
    proc = start_server(command, env, log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_port(port, proc, log)
        yield url
    finally:
        stop_group(proc)


def test_voila_app_shows_the_ink_and_the_guess(page, voila):
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(voila)
    try:
        page.wait_for_function(
            "document.querySelectorAll('.lenet-demo').length >= 5", timeout=300_000
        )
    finally:
        screenshot(page, "voila-00-page")
    drawing = page.locator(".lenet-demo").nth(4)
    drawing.scroll_into_view_if_needed()
    canvas = drawing.locator("canvas").last
    wait_until(lambda: canvas.evaluate(COUNT_INK)["paper"] > 0, 60, "the white paper")
    blank = canvas.evaluate(COUNT_INK)
    assert blank["ink"] == 0, blank

    draw_a_one(page, canvas, pause_ms=30, release=False)
    # The ink shows while the pen is still down, before any guess.
    wait_until(lambda: canvas.evaluate(COUNT_INK)["ink"] > 200, 30, "ink under the pen")
    page.mouse.up()
    wait_until(lambda: "LeNet-5 says" in drawing.inner_text(), 60, "a guess")
    screenshot(drawing, "voila-01-draw-a-digit")
    drawn = canvas.evaluate(COUNT_INK)
    # A stroke 18 px wide and ~200 px long: thousands of dark pixels, on white paper.
    assert drawn["ink"] > 1000 and drawn["paper"] > drawn["total"] / 2, drawn
    assert "LeNet-5 says" in drawing.inner_text()
    assert page.get_by_text(BROKEN).count() == 0, f"{BROKEN!r} on the page"
    assert not [e for e in errors if "setAttr" in e], errors
