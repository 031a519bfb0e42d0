"""The classroom on JupyterHub, clicked through in a real browser, as its people would.

1. The instructor logs in, opens the formgrader, generates and releases 01_mnist.
2. Two students log in (the first login sets their password), see 01_mnist in the assignment
   list, fetch it, open it, type their answers (one all right, one with a plausible mistake), run
   the visible tests, save, press Validate and read the verdict, and submit.
3. The instructor collects, autogrades both from the formgrader (the course's sandboxed runner),
   opens the partly wrong submission, writes a comment, generates and releases feedback.
4. Each student fetches the feedback and sees their score and the failing test's message, and
   never a hidden test.
5. A student fixes the mistake and resubmits; collected and autograded again, the new submission
   replaces the old one.

Every step asserts what is on the screen and saves a screenshot (artifacts/screenshots/hub-*);
grades are checked in nbgrader's gradebook of the hub's course.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.notebooks import grade_id, is_solution, is_test, nbgrader_meta
from autograder.report import main as report_main
from tests.browser.conftest import screenshot
from tests.hub.conftest import INSTRUCTOR, PASSWORD, REPO, STUDENTS, A
from tests.mistakes import MISTAKES

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADA, BOB = STUDENTS  # ada answers everything right; bob makes a mistake, then fixes it
MISTAKE = MISTAKES[A][0]
SOLUTION = nbformat.read(REPO / "solutions" / A / f"{A}.ipynb", as_version=4)
LONG = 180_000  # ms: a step that runs a notebook on a loaded machine
done: set[int] = set()  # journeys that finished (later ones need them)


def needs(*steps: int) -> None:
    missing = [s for s in steps if s not in done]
    if missing:
        pytest.skip(f"journey {missing} did not finish")


def typed(source: str) -> str:
    """A solution cell as a student would type it: the code, without nbgrader's markers."""
    return "\n".join(
        line for line in source.splitlines() if "### BEGIN SOLUTION" not in line
        and "### END SOLUTION" not in line
    )  # fmt: skip


def answers(wrong: bool) -> dict[str, str]:
    """grade_id -> what the student types into that answer cell."""
    out = {grade_id(c): typed(c.source) for c in SOLUTION.cells if is_solution(c)}
    if wrong:
        out.update({k: typed(v) for k, v in MISTAKE.replacements.items()})
    return out


def hidden_lines() -> list[str]:
    """Distinctive lines of the hidden tests (none may ever reach a student)."""
    lines, inside = [], False
    for cell in SOLUTION.cells:
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) > 25:
                lines.append(line.strip())
    assert lines, "01_mnist has no hidden tests to look for"
    return lines


def eventually(check, what: str, timeout: float = 60):
    """The first truthy value of ``check()``, polled until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# --- pages -----------------------------------------------------------------------------------


def log_in(browser, hub, user: str):
    """A new browser context for ``user``, logged in (first use sets the password); on Lab."""
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    page = context.new_page()
    page.set_default_timeout(90_000)
    page.goto(f"{hub.url}/hub/login")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/user/{user}/lab**", timeout=LONG)
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").wait_for(timeout=LONG)
    return page


def nbgrader_menu(page, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    page.locator(".lm-Menu-itemLabel").get_by_text(item, exact=True).click()


def formgrader(page, hub, user: str, path: str = "") -> None:
    page.goto(f"{hub.url}/user/{user}/formgrader/{path}")
    page.locator("#main-table, table").first.wait_for()


def modal_ok(page, expected: str, name: str) -> str:
    """Wait for the formgrader's result dialog; assert it says ``expected``; close it."""
    modal = page.locator(".modal:visible")
    modal.wait_for(timeout=LONG)
    text = modal.inner_text()
    screenshot(page, name)
    assert expected in text, text
    modal.get_by_role("button", name="OK").click()
    modal.wait_for(state="hidden")
    return text


def assignment_row(page):
    row = page.locator("#main-table tr", has_text=A)
    row.wait_for()
    return row


def wait_idle(page) -> None:
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=LONG)


def open_assignment_list(page) -> None:
    nbgrader_menu(page, "Assignment List")
    page.locator("#released_assignments_list").wait_for()


def item(page, section: str, button: str):
    """The 01_mnist entry of a section of the assignment list that has ``button``."""
    entries = page.locator(f"#{section}_assignments_list .list_item", has_text=A)
    return entries.filter(has=page.get_by_role("button", name=button, exact=True)).first


def code_cells(page):
    return page.locator(".jp-Notebook .jp-Cell")


def type_answers(page, released: nbformat.NotebookNode, wanted: dict[str, str]) -> None:
    """Replace each answer cell's stub with the student's code, typed into the cell editor."""
    cells = code_cells(page)
    for index, cell in enumerate(released.cells):
        gid = grade_id(cell)
        if gid not in wanted:
            continue
        editor = cells.nth(index).locator(".cm-content")
        editor.scroll_into_view_if_needed()
        editor.click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(wanted[gid])  # as pasted: no auto-closed brackets
    page.keyboard.press("Escape")


def run_all(page) -> None:
    """Run > Run All Cells, then wait until nothing is queued (Lab stops at a failing cell)."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    page.wait_for_function(
        "() => { const p = [...document.querySelectorAll('.jp-Notebook .jp-InputPrompt')];"
        " return p.some(e => /\\[\\d+\\]/.test(e.textContent))"
        " && p.every(e => !e.textContent.includes('*')); }",
        timeout=LONG,
    )
    wait_idle(page)


def cell_errors(page, released: nbformat.NotebookNode) -> dict[str, str]:
    """grade_id -> the error shown under that test cell in the notebook (only failing ones)."""
    out = {}
    cells = code_cells(page)
    for index, cell in enumerate(released.cells):
        if not is_test(cell):
            continue
        error = cells.nth(index).locator("[data-mime-type='application/vnd.jupyter.stderr']")
        if error.count():
            out[grade_id(cell)] = error.first.inner_text()
    return out


def save(page) -> None:
    page.keyboard.press("Control+S")
    page.wait_for_function(
        "() => !document.querySelector('.lm-TabBar-tab.jp-mod-dirty')", timeout=60_000
    )


# --- journeys --------------------------------------------------------------------------------


def test_1_instructor_releases_01_mnist(hub, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 950})
    page.set_default_timeout(90_000)
    page.goto(f"{hub.url}/hub/login")
    page.get_by_label("Username").wait_for()
    assert "Sign in" in page.inner_text("body")
    screenshot(page, "hub-00-login")
    page.close()

    page = log_in(browser, hub, INSTRUCTOR)
    assert page.locator(".jp-DirListing-item", has_text="solutions").count() == 1
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    menu = page.locator(".lm-Menu-content").inner_text()
    assert "Formgrader" in menu and "Assignment List" in menu, menu
    screenshot(page, "hub-01-instructor-lab")
    page.keyboard.press("Escape")

    # JupyterHub forbids embedding a user's server in a frame (CSP frame-ancestors 'none'),
    # so the formgrader is used in a browser tab of its own, as nbgrader's docs advise.
    formgrader(page, hub, INSTRUCTOR)
    page.get_by_text("Manage Assignments").first.wait_for()
    row = assignment_row(page)
    assert "draft" in row.inner_text()
    row.locator("td.assign a").click()
    modal_ok(page, f"Successfully created the student version of '{A}'", "hub-02-generated")
    assignment_row(page).locator("td.release a").click()
    modal_ok(page, f"Successfully released '{A}'", "hub-03-released")
    page.reload()
    row = assignment_row(page)
    assert "released" in row.inner_text(), row.inner_text()
    screenshot(page, "hub-04-formgrader-released")
    outbound = hub.exchange / "lenet5" / "outbound" / A / f"{A}.ipynb"
    assert outbound.is_file(), f"nothing released into the exchange at {outbound}"
    page.context.close()
    done.add(1)


@pytest.mark.parametrize("student", STUDENTS)
def test_2_student_fetches_works_validates_submits(hub, browser, student):
    needs(1)
    wrong = student == BOB
    page = log_in(browser, hub, student)
    screenshot(page, f"hub-10-{student}-lab")
    # Students get the assignment list only: no formgrader, no course list.
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    menu = page.locator(".lm-Menu-content").inner_text()
    assert "Assignment List" in menu and "Formgrader" not in menu, menu
    page.keyboard.press("Escape")
    answer = page.request.get(f"{hub.url}/user/{student}/formgrader")
    assert answer.status == 404, "a student's server has no formgrader"

    open_assignment_list(page)
    released = page.locator("#released_assignments_list")
    released.get_by_text(A).wait_for()
    screenshot(page, f"hub-11-{student}-assignment-list")
    item(page, "released", "Fetch").get_by_role("button", name="Fetch").click()
    item(page, "fetched", "Submit").wait_for()
    assert (hub.home(student) / A / f"{A}.ipynb").is_file()

    page.goto(f"{hub.url}/user/{student}/lab/tree/{A}/{A}.ipynb")
    page.locator(".jp-Notebook").wait_for()
    wait_idle(page)
    released_nb = nbformat.read(hub.home(student) / A / f"{A}.ipynb", as_version=4)
    type_answers(page, released_nb, answers(wrong))
    run_all(page)
    errors = cell_errors(page, released_nb)
    if wrong:
        assert errors and set(errors) <= MISTAKE.caught_by, errors
    else:
        assert errors == {}, errors
    first_test = next(i for i, c in enumerate(released_nb.cells) if grade_id(c) in (
        set(errors) or {"test_pad_to_32"}))  # fmt: skip
    code_cells(page).nth(first_test).scroll_into_view_if_needed()
    screenshot(page, f"hub-12-{student}-visible-tests")
    save(page)

    page.get_by_role("button", name="Validate").first.click()
    dialog = page.locator(".jp-Dialog", has_text="Validation Results")
    dialog.wait_for(timeout=LONG)
    verdict = dialog.inner_text()
    screenshot(page, f"hub-13-{student}-validate")
    if wrong:
        assert "The following cell failed" in verdict and "Success!" not in verdict, verdict
        assert "the centre" in verdict, verdict  # the failing check's own message
    else:
        assert "Success! Your notebook passes all the tests." in verdict, verdict
    dialog.get_by_role("button").last.click()

    open_assignment_list(page)
    item(page, "fetched", "Submit").get_by_role("button", name="Submit").click()
    submitted = page.locator("#submitted_assignments_list .list_item", has_text=A)
    submitted.first.wait_for(timeout=LONG)
    screenshot(page, f"hub-14-{student}-submitted")
    inbound = list((hub.exchange / "lenet5" / "inbound").glob(f"{student}+{A}+*"))
    assert len(inbound) == 1, inbound
    page.context.close()
    done.add(20 + STUDENTS.index(student))


def autograde(page, hub, student: str, shot: str) -> None:
    """Autograde one submission from the formgrader's Manage Submissions page."""
    formgrader(page, hub, INSTRUCTOR, f"manage_submissions/{A}")
    row = page.locator("#main-table tr", has_text=student)
    row.locator("td.autograde a").click()
    modal_ok(
        page,
        f"Successfully autograded '{A}' for student '{student}'",
        shot,
    )


def scores(hub, student: str) -> dict[str, float]:
    with Gradebook(hub.db_url) as gb:
        sub = gb.find_submission(A, student)
        return {g.name: g.score for nb in sub.notebooks for g in nb.grades if g.cell_type == "code"}


def test_3_instructor_collects_autogrades_comments_releases_feedback(hub, browser):
    needs(1, 20, 21)
    page = log_in(browser, hub, INSTRUCTOR)
    formgrader(page, hub, INSTRUCTOR)
    assignment_row(page).locator("td.collect a").click()
    modal_ok(page, f"Successfully collected submissions of '{A}'", "hub-20-collected")
    for student in STUDENTS:
        autograde(page, hub, student, f"hub-25-autograded-{student}")
    formgrader(page, hub, INSTRUCTOR, f"manage_submissions/{A}")
    table = page.locator("#main-table")
    page.wait_for_function(
        "() => document.querySelectorAll('#main-table td.score').length >= 2", timeout=60_000
    )
    screenshot(page, "hub-21-submissions-autograded")
    rows = {s: table.locator("tr", has_text=s).inner_text() for s in STUDENTS}
    assert "Lovelace, Ada" in rows[ADA], "the roster's names are in the gradebook"
    full = sum(nbgrader_meta(c)["points"] for c in SOLUTION.cells if is_test(c))
    assert f"{full:g} / {full:g}" in re.sub(r"\.0\b", "", rows[ADA]), rows[ADA]
    assert f"{full:g} / {full:g}" not in re.sub(r"\.0\b", "", rows[BOB]), rows[BOB]

    # The gradebook: ada full marks; bob zero on exactly the tests that catch his mistake.
    ada, bob = scores(hub, ADA), scores(hub, BOB)
    assert sum(ada.values()) == full and all(v > 0 for v in ada.values()), ada
    assert {k for k, v in bob.items() if v == 0} == set(MISTAKE.caught_by), bob
    flags = hub.course / "autograder" / "autograded" / BOB / A / "flags.json"
    assert flags.is_file(), "the course's runner writes flags.json: was it used?"

    # The class view, from what the formgrader wrote (gradebook and autograded notebooks).
    assert report_main(["--root", str(hub.course)]) == 0
    view = json.loads((hub.course / "autograder" / "reports" / "class.json").read_text())
    cells = {c["cell"]: c for c in view[0]["cells"]}
    (caught,) = MISTAKE.caught_by
    assert (cells[caught]["lost"], cells[caught]["students"]) == (1, 2), cells[caught]
    assert "the centre" in cells[caught]["messages"][0][0], cells[caught]
    assert (hub.course / "autograder" / "reports" / view[0]["histogram"]).is_file()

    # Manual grading: Manage Students > bob > 01_mnist, open his notebook, comment his answer.
    formgrader(page, hub, INSTRUCTOR, f"manage_students/{BOB}/{A}")
    page.locator("#main-table a", has_text=A).click()
    (wrong_cell,) = MISTAKE.replacements
    comment = page.locator(f"#{wrong_cell}-comment")  # the formgrader's box under that answer
    comment.wait_for(timeout=LONG)
    # The box is in the page before the formgrader's script binds its save handler, which also
    # sets the placeholder: type only once that has happened.
    page.wait_for_function(
        f"() => document.querySelector('#{wrong_cell}-comment').placeholder !== ''",
        timeout=LONG,
    )
    comment.scroll_into_view_if_needed()
    comment.fill("Pad 2 pixels on every side: np.pad(images, ((0, 0), (2, 2), (2, 2))).")
    page.keyboard.press("Tab")  # the formgrader saves a comment when it loses focus

    def saved_comments() -> list[str]:
        with Gradebook(hub.db_url) as gb:
            sub = gb.find_submission_notebook(A, A, BOB)
            return [c.manual_comment for c in sub.comments if c.manual_comment]

    comments = eventually(saved_comments, "the comment in the gradebook")
    assert any("Pad 2 pixels" in c for c in comments), comments
    screenshot(page, "hub-22-manual-comment")

    formgrader(page, hub, INSTRUCTOR)
    assignment_row(page).locator("td.generate-feedback a").click()
    modal_ok(page, "Successfully generated feedback", "hub-23-feedback-generated")
    assignment_row(page).locator("td.release-feedback a").click()
    modal_ok(page, "Successfully released feedback", "hub-24-feedback-released")
    page.context.close()
    done.add(3)


@pytest.mark.parametrize("student", STUDENTS)
def test_4_student_reads_feedback_without_hidden_tests(hub, browser, student):
    needs(3)
    page = log_in(browser, hub, student)
    open_assignment_list(page)
    submitted = page.locator("#submitted_assignments_list .list_item", has_text=A).first
    submitted.get_by_role("button", name="Fetch Feedback").click()
    link = page.locator("#submitted_assignments_list a", has_text="view feedback").first
    link.wait_for(timeout=LONG)
    screenshot(page, f"hub-30-{student}-feedback-fetched")
    link.click()  # the file browser goes to the feedback folder
    html = page.locator(".jp-DirListing-item", has_text=f"{A}.html")
    html.wait_for()
    html.dblclick()  # Lab's HTML viewer
    feedback = page.frame_locator(".jp-HTMLViewer iframe").first
    feedback.get_by_text("Score").first.wait_for(timeout=LONG)
    text = feedback.locator("body").inner_text()
    if student == BOB:  # show the failing test and the comment on the screenshot
        feedback.get_by_text("Pad 2 pixels").first.scroll_into_view_if_needed()
    screenshot(page, f"hub-31-{student}-feedback")
    full = sum(nbgrader_meta(c)["points"] for c in SOLUTION.cells if is_test(c))
    total = re.search(r"Score:\s*([\d.]+)\s*/\s*([\d.]+)", text)
    assert total, text[:2000]
    assert float(total[2]) == full
    if student == BOB:
        assert float(total[1]) < full
        assert "the centre" in text, "the failing visible test's message is in the feedback"
        assert "Pad 2 pixels" in text, "the instructor's comment is in the feedback"
    else:
        assert float(total[1]) == full
    leaked = [line for line in hidden_lines() if line in text]
    assert not leaked and "HIDDEN TESTS" not in text, leaked
    page.context.close()
    done.add(40 + STUDENTS.index(student))


def test_5_resubmission_replaces_the_old_one(hub, browser):
    needs(3)
    page = log_in(browser, hub, BOB)
    page.goto(f"{hub.url}/user/{BOB}/lab/tree/{A}/{A}.ipynb")
    page.locator(".jp-Notebook").wait_for()
    wait_idle(page)
    released_nb = nbformat.read(hub.home(BOB) / A / f"{A}.ipynb", as_version=4)
    fixed = {k: v for k, v in answers(False).items() if k in MISTAKE.replacements}
    type_answers(page, released_nb, fixed)
    save(page)
    open_assignment_list(page)
    item(page, "fetched", "Submit").get_by_role("button", name="Submit").click()
    page.wait_for_function(
        "() => document.querySelectorAll('#submitted_assignments_list .list_item').length >= 2",
        timeout=LONG,
    )
    screenshot(page, "hub-40-bob-resubmitted")
    page.context.close()

    first = (hub.course / "autograder" / "submitted" / BOB / A / "timestamp.txt").read_text()
    page = log_in(browser, hub, INSTRUCTOR)
    formgrader(page, hub, INSTRUCTOR)
    assignment_row(page).locator("td.collect a").click()
    modal_ok(page, f"Successfully collected submissions of '{A}'", "hub-41-collected-again")
    second = (hub.course / "autograder" / "submitted" / BOB / A / "timestamp.txt").read_text()
    assert second > first, (first, second)
    autograde(page, hub, BOB, "hub-43-autograded-again")
    formgrader(page, hub, INSTRUCTOR, f"manage_submissions/{A}")
    page.locator("#main-table td.score").first.wait_for()
    screenshot(page, "hub-42-resubmission-graded")
    full = sum(nbgrader_meta(c)["points"] for c in SOLUTION.cells if is_test(c))
    with Gradebook(hub.db_url) as gb:
        subs = [s for s in gb.find_assignment(A).submissions if s.student.id == BOB]
        assert len(subs) == 1, "one submission per student: the new one replaced the old one"
        assert subs[0].score == full
        assert subs[0].timestamp.isoformat(" ").startswith(second.strip()[:19]), (
            subs[0].timestamp,
            second,
        )
    page.context.close()


def test_hub_screenshots_were_saved():
    needs(1)
    shots = sorted(Path(REPO / "artifacts" / "screenshots").glob("hub-*.png"))
    assert len(shots) >= 5, shots
