"""Attack submissions graded by plain ``nbgrader autograde`` through nbgrader_config.py.

Beside a correct and a blank submission in the same batch, every attack in tests/attacks earns
no point that the blank release would not (it earns 0) and is flagged in flags.json. A second
batch turns neutralization of flagged cells off, so that the in-kernel guard alone must stop the
attacks marked ``guard``. The static scan is also unit-tested on its own.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from autograder import sandbox
from autograder.nbgrader_cli import nbgrader
from autograder.release import generate_in_scratch
from autograder.results import db_url, result
from autograder.synthetic import notebook_with, submit
from autograder.tamper import scan_cell
from tests.attacks import ANSWER_CELL, ASSIGNMENT, ATTACKS

NOTEBOOK = f"{ASSIGNMENT}.ipynb"
GUARD_ONLY = [a for a in ATTACKS if a.guard]


def attack_notebook(root: Path, attack) -> nbformat.NotebookNode:
    nb = notebook_with(
        root / "course" / ASSIGNMENT / NOTEBOOK, {ANSWER_CELL: attack.code, **attack.cells}
    )
    if attack.edit is not None:
        attack.edit(nb)
    return nb


def flags(root: Path, student: str) -> list[dict]:
    path = root / "autograder" / "autograded" / student / ASSIGNMENT / "flags.json"
    return json.loads(path.read_text())


def prepare_batch(root: Path, attacks) -> Path:
    generate_in_scratch(root, [ASSIGNMENT])
    submit(root, "correct", ASSIGNMENT, root / "solutions" / ASSIGNMENT / NOTEBOOK)
    submit(root, "blank", ASSIGNMENT, root / "course" / ASSIGNMENT / NOTEBOOK)
    for attack in attacks:
        submit(root, attack.name, ASSIGNMENT, attack_notebook(root, attack), NOTEBOOK)
    return root


def autograde(root: Path, *extra: str) -> str:
    """Grade the batch; return nbgrader's log (tests then check every submission was graded)."""
    # The loop attack ignores interrupts: a short cell timeout keeps the batch quick.
    done = nbgrader(
        "autograde",
        ASSIGNMENT,
        "--force",
        "--SafeExecute.timeout=30",
        *extra,
        root=root,
        check=False,
    )
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def batches(tmp_path_factory, mnist_cache) -> dict[str, Path]:
    """Three scratch courses graded at once (2 cores): the attacks in two halves, and the
    guard-only batch with neutralization off."""
    if sandbox.isolation_problem() is not None and os.environ.get("CI") != "true":
        pytest.skip(f"no sandbox here: {sandbox.isolation_problem()}")
    half = len(ATTACKS) // 2
    roots = {
        "a": prepare_batch(tmp_path_factory.mktemp("attacks-a"), ATTACKS[:half]),
        "b": prepare_batch(tmp_path_factory.mktemp("attacks-b"), ATTACKS[half:]),
        "guard": prepare_batch(tmp_path_factory.mktemp("guard-only"), GUARD_ONLY),
    }
    extra = {"a": (), "b": (), "guard": ("--SafeExecute.neutralize_kinds=[]",)}
    with ThreadPoolExecutor(3) as pool:
        jobs = {k: pool.submit(autograde, roots[k], *extra[k]) for k in roots}
    for key, job in jobs.items():
        (roots[key] / "autograde.log").write_text(job.result())
    return roots


@pytest.fixture(scope="module")
def batch(batches) -> Path:
    return batches["a"]


@pytest.fixture(scope="module")
def guard_batch(batches) -> Path:
    return batches["guard"]


def root_of(batches: dict[str, Path], attack) -> Path:
    return batches["a"] if attack in ATTACKS[: len(ATTACKS) // 2] else batches["b"]


@pytest.mark.slow
def test_correct_gets_full_marks_and_no_flags_blank_gets_zero(batch):
    correct = result(db_url(batch), ASSIGNMENT, "correct")
    assert correct.score == correct.max_score == 10, correct
    assert flags(batch, "correct") == []
    assert result(db_url(batch), ASSIGNMENT, "blank").score == 0
    assert {f["kind"] for f in flags(batch, "blank")} == set()


@pytest.mark.slow
@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.name)
def test_attack_earns_nothing_and_is_flagged(batches, attack):
    batch = root_of(batches, attack)
    res = result(db_url(batch), ASSIGNMENT, attack.name)
    log = (batch / "autograde.log").read_text()
    assert res is not None, f"{attack.name} was not graded (the batch must go on):\n{log[-3000:]}"
    assert f"for student '{attack.name}'" not in log, log[-3000:]
    earned = {cell: score for cell, score in res.cells.items() if score}
    allowed = {"test_most_common_digit"} if "most_common_digit = 1" in attack.code else set()
    assert set(earned) <= allowed, f"{attack.name} earned {earned}"
    kinds = {f["kind"] for f in flags(batch, attack.name)}
    if attack.expected:
        assert kinds & attack.expected, f"{attack.name}: flags {kinds}, want {attack.expected}"
    assert kinds, f"{attack.name} raised no flag"


@pytest.mark.slow
@pytest.mark.parametrize("attack", GUARD_ONLY, ids=lambda a: a.name)
def test_guard_alone_stops_attack(guard_batch, attack):
    res = result(db_url(guard_batch), ASSIGNMENT, attack.name)
    assert res.score == 0, f"{attack.name} earned {res.cells} with only the guard"
    reasons = [f["reason"] for f in flags(guard_batch, attack.name)]
    assert any(r.startswith("at run time") for r in reasons), reasons
    correct = result(db_url(guard_batch), ASSIGNMENT, "correct")
    assert correct.score == 10


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("get_ipython().ast_transformers.append(t)", "rewrites-cells"),
        ("import numpy as np\nnp.testing.assert_allclose = print", "monkeypatch"),
        ("import torch\ntorch.allclose = lambda *a: True", "monkeypatch"),
        ("x = In[-1]", "delegation"),
        ("import lenet_ref", "delegation"),
        ("getattr(obj, 'a' + 'b')", "dynamic-code"),
        ("import sys\nsys.stderr = None", "hides-errors"),
        ("!ls /", "process"),
        ("%%bash\nls", "process"),
    ],
)
def test_static_scan_flags(code, kind):
    assert kind in {f["kind"] for f in scan_cell(code, "c")}


@pytest.mark.parametrize(
    "code",
    [
        "%matplotlib inline\nimport numpy as np\nx = np.pad(np.ones(3), 1)",
        "def f(images):\n    out = images.copy()\n    out[0] = 1\n    return out",
        "model.modules()\ny = torch.compile(model)",
        "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()",
    ],
)
def test_static_scan_leaves_ordinary_code_alone(code):
    assert scan_cell(code, "c") == []


def test_static_scan_flags_names_only_hidden_tests_define():
    flags_ = scan_cell("def f(x):\n    return REF['out']", "c", hidden_names={"REF"})
    assert [f["kind"] for f in flags_] == ["delegation"]
    assert scan_cell("def f(REF):\n    return REF", "c", hidden_names={"REF"}) == []
