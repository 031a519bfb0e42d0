"""The demos where people use them: JupyterLab in a real browser (headless Chromium).

Open the released demos notebook, run all cells, turn a slider and check that the picture
changed, train and stop the playground, draw a digit, and look for broken widgets. Then open a
graded course notebook and check that nbgrader's Validate button is there.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BROKEN = "Error displaying widget"


def dismiss_news(page) -> None:
    """Answer JupyterLab's "get notified about Jupyter news?" toast if it is showing."""
    toast = page.locator(".jp-toast-button", has_text="No")
    if toast.count():
        toast.first.click()


def open_notebook(page, server, path: str, reset: bool = False) -> None:
    """Open ``path`` in JupyterLab; ``reset`` starts from an empty workspace (no other tabs)."""
    page.goto(server.lab(path) + ("&reset" if reset else ""))
    page.wait_for_selector(".jp-Notebook")
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=120_000)
    dismiss_news(page)


def run_all_cells(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def draw_a_one(page, canvas, pause_ms: int = 0, release: bool = True) -> None:
    """Draw a slanted vertical stroke (a "1") down ``canvas`` with the mouse; ``pause_ms``
    between moves; ``release=False`` keeps the pen down at the end."""
    box = canvas.bounding_box()
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + box["height"] * 0.15)
    page.mouse.down()
    for i in range(1, 21):
        page.mouse.move(x - i * 0.5, box["y"] + box["height"] * (0.15 + 0.035 * i))
        if pause_ms:
            page.wait_for_timeout(pause_ms)
    if release:
        page.mouse.up()


def wait_until(check, timeout: float, what: str, poll: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_demos_run_and_respond_in_jupyterlab(page, server):
    open_notebook(page, server, "demos/demos.ipynb")
    run_all_cells(page)
    try:
        page.wait_for_function(
            "document.querySelectorAll('.lenet-demo').length >= 5", timeout=180_000
        )
    finally:
        screenshot(page, "demos-00-after-run-all")
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=180_000)
    dismiss_news(page)
    demos = page.locator(".lenet-demo")
    assert "loaded" in page.locator(".jp-OutputArea-output").first.inner_text()
    screenshot(page, "demos-01-notebook-after-run-all")

    # Convolution explorer: move the digit slider with the keyboard; the picture must change.
    explorer = demos.nth(0)
    explorer.scroll_into_view_if_needed()
    picture = explorer.locator("img").first
    picture.wait_for()
    before = screenshot(picture, "demos-02-convolution-before")
    explorer.locator(".noUi-handle").first.focus()  # the keyboard moves a focused slider
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    wait_until(
        lambda: picture.screenshot() != before.read_bytes(), 30, "the convolution figure to change"
    )
    screenshot(explorer, "demos-03-convolution-after-slider")

    # Training playground: Train, see progress, Stop, see it stopped.
    playground = demos.nth(2)
    playground.scroll_into_view_if_needed()
    playground.get_by_role("button", name="Train").click()
    progress = re.compile(r"epoch (\d+), batch (\d+)/\d+")

    def batches_done() -> bool:
        found = progress.search(playground.inner_text())
        return bool(found) and (int(found[1]) > 1 or int(found[2]) >= 10)

    wait_until(batches_done, 180, "ten training batches")
    screenshot(playground, "demos-04-playground-training")
    playground.get_by_role("button", name="Stop").click()
    wait_until(
        lambda: (
            "Stopped after" in playground.inner_text() or "Finished in" in playground.inner_text()
        ),
        60,
        "the run to stop",
    )
    assert "Stopped after" in playground.inner_text(), playground.inner_text()
    screenshot(playground, "demos-05-playground-stopped")

    # Inside: the tabs render; switch to the confusion matrix.
    inside = demos.nth(3)
    inside.scroll_into_view_if_needed()
    inside.locator(".lm-TabBar-tab", has_text="Confusions").click()
    screenshot(inside, "demos-06-inside-confusion")
    inside.locator(".lm-TabBar-tab", has_text="Feature maps").click()
    screenshot(inside, "demos-07-inside-feature-maps")

    # Draw a digit with the mouse.
    drawing = demos.nth(4)
    drawing.scroll_into_view_if_needed()
    canvas = drawing.locator("canvas").last
    draw_a_one(page, canvas)
    wait_until(lambda: "LeNet-5 says" in drawing.inner_text(), 60, "a prediction")
    page.wait_for_timeout(500)  # let the browser paint the new picture
    screenshot(drawing, "demos-08-draw-a-digit")

    assert page.get_by_text(BROKEN).count() == 0, f"{BROKEN!r} on the page"
    assert "Traceback" not in page.locator(".jp-Notebook").inner_text()


def test_course_notebook_validates_with_nbgraders_button(page, server):
    open_notebook(page, server, "01_mnist/01_mnist.ipynb", reset=True)
    current = page.locator(".lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel")
    wait_until(lambda: "01_mnist.ipynb" in current.all_inner_texts(), 30, "01_mnist's tab")
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    panel.locator("h1", has_text="01 · MNIST: the digits LeNet-5 learns to read").wait_for()
    toolbar = panel.locator(".jp-Toolbar")
    validate = toolbar.get_by_role("button", name="Validate")
    validate.first.wait_for(timeout=60_000)
    assert page.get_by_text(BROKEN).count() == 0
    validate.first.click()
    # The untouched release fails its tests: Validate (which runs the tests the way grading
    # does) says which, with the test's own message.
    dialog = page.locator(".jp-Dialog")
    dialog.get_by_text("failed", exact=False).first.wait_for(timeout=180_000)
    assert "NotImplementedError" in dialog.inner_text()
    screenshot(page, "course-01-mnist-validate-result")
