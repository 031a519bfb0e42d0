"""Attack submissions graded by plain ``nbgrader autograde`` through nbgrader_config.py.

Beside a correct and a blank submission in the same batch, every attack in tests/attacks earns
no point that the blank release would not (it earns 0) and is flagged in flags.json. A second
batch turns neutralization of flagged cells off, so that the in-kernel guard alone must stop the
attacks marked ``guard``. Fake-accuracy attacks on 08 (the solution with its training cell
replaced) are graded in their own course beside a blank 08. The static scan, the guard (in a
plain kernel) and the accuracy-claim check are also tested on their own.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from autograder import sandbox
from autograder.nbgrader_cli import nbgrader
from autograder.notebooks import grade_id, is_test, points_by_test
from autograder.release import COURSE, SOLUTIONS, generate_in_scratch, notebook_path
from autograder.results import db_url, result
from autograder.safe_execute import SafeExecute
from autograder.synthetic import notebook_with, submit
from autograder.tamper import REQUIRED, accuracy_claims, scan_cell, scan_notebook
from tests.attacks import (
    ACCURACY_ASSIGNMENT,
    ACCURACY_ATTACKS,
    ANSWER_CELL,
    ASSIGNMENT,
    ATTACKS,
    training_cell,
)

NOTEBOOK = f"{ASSIGNMENT}.ipynb"
GUARD_ONLY = [a for a in ATTACKS if a.guard]
ACCURACY_NOTEBOOK = f"{ACCURACY_ASSIGNMENT}.ipynb"
ACCURACY_GUARD_ONLY = [a for a in ACCURACY_ATTACKS if a.guard]


def attack_notebook(root: Path, attack) -> nbformat.NotebookNode:
    nb = notebook_with(
        root / "course" / ASSIGNMENT / NOTEBOOK, {ANSWER_CELL: attack.code, **attack.cells}
    )
    if attack.edit is not None:
        attack.edit(nb)
    return nb


def flags(root: Path, student: str, assignment: str = ASSIGNMENT) -> list[dict]:
    path = root / "autograder" / "autograded" / student / assignment / "flags.json"
    return json.loads(path.read_text())


def prepare_batch(root: Path, attacks) -> Path:
    generate_in_scratch(root, [ASSIGNMENT])
    submit(root, "correct", ASSIGNMENT, root / "solutions" / ASSIGNMENT / NOTEBOOK)
    submit(root, "blank", ASSIGNMENT, root / "course" / ASSIGNMENT / NOTEBOOK)
    for attack in attacks:
        submit(root, attack.name, ASSIGNMENT, attack_notebook(root, attack), NOTEBOOK)
    return root


def accuracy_attack_notebook(root: Path, attack) -> nbformat.NotebookNode:
    nb = nbformat.read(root / "solutions" / ACCURACY_ASSIGNMENT / ACCURACY_NOTEBOOK, as_version=4)
    nb.cells[training_cell(nb)].source = attack.code
    return nb


def prepare_accuracy_batch(root: Path, attacks) -> Path:
    generate_in_scratch(root, [ACCURACY_ASSIGNMENT])
    blank = root / "course" / ACCURACY_ASSIGNMENT / ACCURACY_NOTEBOOK
    submit(root, "blank", ACCURACY_ASSIGNMENT, blank)
    for attack in attacks:
        nb = accuracy_attack_notebook(root, attack)
        submit(root, attack.name, ACCURACY_ASSIGNMENT, nb, ACCURACY_NOTEBOOK)
    return root


def autograde(root: Path, *extra: str, assignment: str = ASSIGNMENT, timeout: int = 30) -> str:
    """Grade the batch; return nbgrader's log (tests then check every submission was graded)."""
    # The loop attack ignores interrupts: a short cell timeout keeps the batch quick.
    done = nbgrader(
        "autograde",
        assignment,
        "--force",
        f"--SafeExecute.timeout={timeout}",
        *extra,
        root=root,
        check=False,
    )
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def batches(tmp_path_factory, mnist_cache) -> dict[str, Path]:
    """Five scratch courses graded three at a time (2 cores): the 01 attacks in two halves, the
    01 guard-only batch with neutralization off, and the same two for the 08 accuracy attacks
    (no infinite loops there: a longer cell timeout, for loading MNIST under load)."""
    if sandbox.isolation_problem() is not None and os.environ.get("CI") != "true":
        pytest.skip(f"no sandbox here: {sandbox.isolation_problem()}")
    half = len(ATTACKS) // 2
    mk = tmp_path_factory.mktemp
    roots = {
        "a": prepare_batch(mk("attacks-a"), ATTACKS[:half]),
        "b": prepare_batch(mk("attacks-b"), ATTACKS[half:]),
        "guard": prepare_batch(mk("guard-only"), GUARD_ONLY),
        "accuracy": prepare_accuracy_batch(mk("accuracy"), ACCURACY_ATTACKS),
        "accuracy-guard": prepare_accuracy_batch(mk("accuracy-guard"), ACCURACY_GUARD_ONLY),
    }
    off = ("--SafeExecute.neutralize_kinds=[]",)
    on_08 = {"assignment": ACCURACY_ASSIGNMENT, "timeout": 300}
    runs = {
        "a": ((), {}),
        "b": ((), {}),
        "guard": (off, {}),
        "accuracy": ((), on_08),
        "accuracy-guard": (off, on_08),
    }
    with ThreadPoolExecutor(3) as pool:
        jobs = {k: pool.submit(autograde, roots[k], *a, **kw) for k, (a, kw) in runs.items()}
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
        ("import signal as s\ns.signal(s.SIGINT, s.SIG_IGN)", "hides-errors"),
        ("from os import kill as stop\nstop(1, 9)", "hides-errors"),
        ("exit()", "hides-errors"),
        ("import sys\nsys.exit(0)", "hides-errors"),
        ("t = np.testing\nt.assert_allclose = print", "monkeypatch"),
        ("np.testing.__dict__['assert_allclose'] = print", "monkeypatch"),
        ("setattr(model, 'forw' + 'ard', f)", "dynamic-code"),
        ("import importlib\nm = importlib.import_module('lenet_ref')", "dynamic-code"),
        ("import pickle\nw = pickle.loads(blob)", "dynamic-code"),
        ("ns = get_ipython().user_ns", "delegation"),
    ],
)
def test_static_scan_flags(code, kind):
    # Names the instructor's cells imported earlier count: np here is numpy.
    assert kind in {f["kind"] for f in scan_cell(code, "c", earlier={"np": "numpy"})}


@pytest.mark.parametrize(
    ("code", "earlier"),
    [
        ("signal.signal(signal.SIGINT, signal.SIG_IGN)", {"signal": "signal"}),
        ("torch.Tensor.argmax = lambda self, *a: self", {"torch": "torch"}),
        ("lenet_kit.data._read_cache = f", {"lenet_kit": "lenet_kit"}),
        ("sys.stderr = None", {"sys": "sys"}),
        ("kill(pid, 9)", {"kill": "os.kill"}),
    ],
)
def test_static_scan_follows_imports_of_earlier_cells(code, earlier):
    assert scan_cell(code, "c", earlier=earlier) != []
    # The same names bound by the student to values of their own are not the modules.
    assert scan_cell(code, "c", earlier=dict.fromkeys(earlier)) == []


def test_static_scan_follows_imports_through_a_notebook():
    nb = new_notebook(
        cells=[
            _cell("import signal\nimport torch", "locked", "setup"),
            _cell("signal.signal(signal.SIGINT, signal.SIG_IGN)", "student", "answer"),
            _cell("signal = torch.zeros(3)\nkill = signal > 0", "student", "answer2"),
            _cell("signal.sum()", "student", "answer3"),
        ]
    )
    assert [(f["kind"], f["cell"]) for f in scan_notebook(nb)] == [("hides-errors", "answer")]


@pytest.mark.parametrize(
    "code",
    [
        "%matplotlib inline\nimport numpy as np\nx = np.pad(np.ones(3), 1)",
        "def f(images):\n    out = images.copy()\n    out[0] = 1\n    return out",
        "model.modules()\ny = torch.compile(model)",
        "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()",
        "model.eval()\nwith torch.no_grad():\n    acc = evaluate(model, x, y)\nmodel.train()",
        "signal = np.sin(np.linspace(0, 1, 10))\nkill = signal > 0\nprint(signal[kill])",
        "def f(signal, kill=False):\n    return -signal if kill else signal",
        "events = []\nevents.append('epoch 1')",
        "from torch import compile\nfast = compile(model)",
        "import re\npattern = re.compile(r'[0-9]+')",
        "np.random.seed(0)\ntorch.manual_seed(0)\nrng = np.random.default_rng(0)",
        "np.save('weights.npy', W)\nW2 = np.load('weights.npy')\n"
        "with open('log.txt') as f:\n    text = f.read()",
        "import pickle\nwith open('w.pkl', 'wb') as f:\n    pickle.dump(W, f)",
        "import sys\nprint('loss is nan', file=sys.stderr)\nsys.stderr.flush()",
        "import gc\ngc.collect()",
        "import os\nos.environ['OMP_NUM_THREADS'] = '1'\nos.makedirs('out', exist_ok=True)",
        "worker.kill()\nsession.exit()\nnet.compile()",
        "torch.backends.cudnn.benchmark = True",
        "plt.rcParams['figure.figsize'] = (6, 3)",
        "for i in (1, 3):\n    layer = getattr(model, f'C{i}')\n    print(type(layer).__name__)",
        "print(model.__class__.__name__)",
        "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        for i in (1, 3, 5):\n            setattr(self, f'C{i}', nn.LazyLinear(4))",
        "for i in (1, 3):\n    setattr(model, f'C{i}', None)",
        "import importlib.metadata\nprint(importlib.metadata.version('torch'))",
    ],
)
def test_static_scan_leaves_ordinary_code_alone(code):
    earlier = {"np": "numpy", "torch": "torch", "plt": "matplotlib.pyplot", "model": None}
    earlier["nn"] = "torch.nn"
    assert scan_cell(code, "c", earlier=earlier) == []


@pytest.mark.parametrize(
    "path",
    sorted(SOLUTIONS.glob("*/*.ipynb")) + sorted(COURSE.glob("*/*.ipynb")),
    ids=lambda p: f"{p.parent.parent.name}/{p.stem}",
)
def test_static_scan_flags_nothing_in_solutions_and_releases(path):
    assert scan_notebook(nbformat.read(path, as_version=4)) == []


def test_static_scan_flags_names_only_hidden_tests_define():
    flags_ = scan_cell("def f(x):\n    return REF['out']", "c", hidden_names={"REF"})
    assert [f["kind"] for f in flags_] == ["delegation"]
    assert scan_cell("def f(REF):\n    return REF", "c", hidden_names={"REF"}) == []


def _cell(source: str, role: str, gid: str, points: int = 1) -> nbformat.NotebookNode:
    """A code cell as nbgrader marks it: role "locked", "test" or "student" (an answer)."""
    meta = {"grade_id": gid, "schema_version": 3, "locked": role != "student"}
    meta.update(grade=role == "test", solution=role == "student")
    if role == "test":
        meta["points"] = points
    return new_code_cell(source, metadata={"nbgrader": meta})


def guarded_run(folder: Path, cells: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    """Execute cells with SafeExecute as grading does, but in a plain kernel and with no cell
    neutralized: what the in-kernel guard alone does. Flags land in folder/flags.json."""
    nb = new_notebook(
        cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}}
    )
    grader = SafeExecute(require_sandbox=False, neutralize_kinds=[], timeout=120)
    nb, _ = grader.preprocess(nb, {"metadata": {"path": str(folder)}})
    return nb


def _stdout(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")


@pytest.mark.slow
def test_guard_undoes_library_and_student_replacements_but_flags_only_the_students(tmp_path):
    cells = [
        _cell("import functools\nimport torch", "locked", "setup"),
        # An optimizer step imports torch._dynamo, which wraps torch.manual_seed.
        _cell(
            "net = torch.nn.Linear(2, 2)\nopt = torch.optim.SGD(net.parameters(), lr=0.1)\n"
            "net(torch.ones(1, 2)).sum().backward()\nopt.step()\n"
            "print('wrapped by torch:', hasattr(torch.manual_seed, '__wrapped__'))",
            "student",
            "train",
        ),
        _cell("assert not hasattr(torch.manual_seed, '__wrapped__')", "test", "t_library"),
        # A student's wrapper copies __wrapped__ and __module__ (functools.wraps) to pass as
        # torch's; a method added to torch.Tensor shadows the real one.
        _cell(
            "torch.manual_seed = functools.wraps(torch.manual_seed)(lambda seed: None)\n"
            "torch.Tensor.argmax = lambda self, *a, **k: 'fake'",
            "student",
            "patch",
        ),
        _cell(
            "torch.manual_seed(7)\nassert torch.initial_seed() == 7\n"
            "assert int(torch.tensor([0.0, 2.0]).argmax()) == 1",
            "test",
            "t_student",
        ),
    ]
    nb = guarded_run(tmp_path, cells)
    assert "wrapped by torch: True" in _stdout(nb.cells[1]), "torch no longer wraps manual_seed"
    for test in (nb.cells[2], nb.cells[4]):
        assert [o for o in test.outputs if o.output_type == "error"] == [], test.outputs
    found = json.loads((tmp_path / "flags.json").read_text())
    at_run_time = {
        (f["kind"], f["reason"], f["cell"]) for f in found if "at run time" in f["reason"]
    }
    assert at_run_time == {
        ("monkeypatch", "at run time: torch.manual_seed was replaced or deleted", "t_student"),
        (
            "monkeypatch",
            "at run time: torch.Tensor.argmax was added, replaced or deleted",
            "t_student",
        ),
    }


def _accuracy_notebook(test_error: str | None, *printed: str) -> nbformat.NotebookNode:
    """An executed notebook: student cells that printed ``printed``, then an accuracy test."""
    cells = []
    for i, text in enumerate(printed):
        cell = _cell("...", "student", f"train{i}")
        cell.outputs = [new_output("stream", name="stdout", text=text)]
        cells.append(cell)
    test = _cell('raise CheckFailed(f"... below the required 99.0%")', "test", "test_accuracy")
    if test_error is not None:
        test.outputs = [new_output("error", ename="CheckFailed", evalue=test_error, traceback=[])]
    return new_notebook(cells=[*cells, test])


BELOW = "test accuracy of the trained model: {}, below the required 99.0%"


@pytest.mark.parametrize(
    ("test_error", "printed"),
    [
        # The correct solution: the test passed, whatever was printed.
        (None, ["epoch 4: train loss 0.0300, test accuracy 99.12%, 40 s"]),
        # An honest model just below the bar prints what the grader measures.
        (BELOW.format("98.60%"), ["epoch 3: test accuracy 98.21%", "test accuracy 98.60%"]),
        # Epoch-to-epoch noise around the bar, within the margin.
        (BELOW.format("98.95%"), ["epoch 3: test accuracy 99.05%\nepoch 4: test accuracy 98.95%"]),
    ],
)
def test_accuracy_claims_leave_honest_reports_alone(test_error, printed):
    assert accuracy_claims(_accuracy_notebook(test_error, *printed)) == []


@pytest.mark.parametrize(
    "test_error", [BELOW.format("9.80%"), "name 'model' is not defined", "TestIncomplete"]
)
def test_accuracy_claims_flag_a_report_the_test_contradicts(test_error):
    nb = _accuracy_notebook(test_error, "loss 0.01", "final test accuracy: 0.9952 (loss 0.012)")
    found = accuracy_claims(nb)
    assert [(f["kind"], f["cell"]) for f in found] == [("accuracy-claim", "train1")]
    assert "99.52%" in found[0]["reason"]


def test_every_accuracy_test_states_its_threshold():
    tests = [
        (path.parent.name, cell)
        for path in sorted(SOLUTIONS.glob("*/*.ipynb"))
        for cell in nbformat.read(path, as_version=4).cells
        if is_test(cell) and "accuracy" in (grade_id(cell) or "")
    ]
    assert tests, "no accuracy test found: the accuracy-claim check would never run"
    for assignment, cell in tests:
        assert REQUIRED.search(cell.source), f"{assignment}: state 'the required N%' in the test"


def _points(assignment: str) -> dict[str, float]:
    return points_by_test(nbformat.read(notebook_path(SOLUTIONS, assignment), as_version=4))


@pytest.mark.slow
def test_blank_08_gets_zero(batches):
    root = batches["accuracy"]
    assert result(db_url(root), ACCURACY_ASSIGNMENT, "blank").score == 0
    assert flags(root, "blank", ACCURACY_ASSIGNMENT) == []


@pytest.mark.slow
@pytest.mark.parametrize("attack", ACCURACY_ATTACKS, ids=lambda a: a.name)
def test_fake_accuracy_earns_only_what_the_correct_work_earns(batches, attack):
    root = batches["accuracy"]
    res = result(db_url(root), ACCURACY_ASSIGNMENT, attack.name)
    log = (root / "autograde.log").read_text()
    assert res is not None, f"{attack.name} was not graded:\n{log[-3000:]}"
    assert f"for student '{attack.name}'" not in log, log[-3000:]
    # Every exercise is the solution's: each test but the accuracy test earns its points.
    expected = {cell: points for cell, points in _points(ACCURACY_ASSIGNMENT).items()}
    expected["test_accuracy"] = 0
    assert res.cells == expected, f"{attack.name} earned {res.cells}"
    kinds = {f["kind"] for f in flags(root, attack.name, ACCURACY_ASSIGNMENT)}
    assert kinds >= attack.expected, f"{attack.name}: flags {kinds}"
    if attack.name == "fake-accuracy-report":
        assert kinds == {"accuracy-claim"}, "ordinary training code raised other flags"


@pytest.mark.slow
@pytest.mark.parametrize("attack", ACCURACY_GUARD_ONLY, ids=lambda a: a.name)
def test_guard_alone_stops_fake_accuracy_patches(batches, attack):
    root = batches["accuracy-guard"]
    res = result(db_url(root), ACCURACY_ASSIGNMENT, attack.name)
    assert res is not None and res.cells["test_accuracy"] == 0, res
    found = flags(root, attack.name, ACCURACY_ASSIGNMENT)
    runtime = {f["kind"] for f in found if f["reason"].startswith("at run time")}
    assert "monkeypatch" in runtime, found
    assert "accuracy-claim" in {f["kind"] for f in found}


@pytest.mark.slow
def test_feedback_leaves_flags_out_and_says_the_instructor_has_them(batches):
    attack = next(a for a in ATTACKS if a.name == "import-reference-solution")
    root = root_of(batches, attack)
    autograded = root / "autograder" / "autograded" / attack.name / ASSIGNMENT
    assert flags(root, attack.name), "the neutralized attack should have been flagged"
    nbgrader("generate_feedback", ASSIGNMENT, "--student", attack.name, "--force", root=root)
    feedback = root / "autograder" / "feedback" / attack.name / ASSIGNMENT
    (html,) = feedback.glob("*.html")
    assert not (feedback / "flags.json").exists()
    assert sorted(p.name for p in feedback.iterdir()) == [html.name]
    assert (autograded / "flags.json").exists(), "the instructor's copy must stay"
    text = html.read_text()
    assert "your instructor has the details" in text
    assert "flags.json" not in text
