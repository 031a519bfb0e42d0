"""Attack submissions graded by plain ``nbgrader autograde`` through nbgrader_config.py.

For each assignment with a corpus in tests/attacks, one scratch course grades, in one batch,
the correct solution, the blank release, the "honest" base the attacks start from, and every
attack. The correct work gets full marks and no flag; every attack earns nothing in the test
cells it targets and, elsewhere, no point the honest base does not; where grading could see
the attempt (a refused return type, output during a test, a forbidden import, a static pattern),
the attack is flagged. The feedback a student gets never carries hidden tests, whatever their
code printed. The static scan and the accuracy-claim check are also tested on their own.
"""

from __future__ import annotations

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from autograder import sandbox
from autograder.nbgrader_cli import nbgrader
from autograder.notebooks import grade_id, is_test
from autograder.release import COURSE, SOLUTIONS, generate_in_scratch, notebook_path
from autograder.results import db_url, result
from autograder.synthetic import submit
from autograder.tamper import accuracy_claims, scan_cell, scan_notebook
from lenet_kit.policy import ACCURACY_BARS
from tests.attacks import CORPORA

CASES = [(a, attack) for a, corpus in CORPORA.items() for attack in corpus.attacks]


def flags(root: Path, student: str, assignment: str) -> list[dict]:
    path = root / "autograder" / "autograded" / student / assignment / "flags.json"
    return json.loads(path.read_text())


def prepare(root: Path, assignment: str) -> Path:
    corpus = CORPORA[assignment]
    generate_in_scratch(root, [assignment])
    name = notebook_path(root / "course", assignment).name
    base = (
        corpus.base(root)
        if corpus.base
        else nbformat.read(notebook_path(root / "course", assignment), as_version=4)
    )
    submit(root, "correct", assignment, notebook_path(root / "solutions", assignment))
    submit(root, "blank", assignment, notebook_path(root / "course", assignment))
    submit(root, "honest", assignment, base, name)
    for attack in corpus.attacks:
        nb = nbformat.from_dict(json.loads(json.dumps(base)))
        slots = {grade_id(c) or c.metadata.get("attack_slot"): c for c in nb.cells}
        for slot, source in attack.cells.items():
            assert slot in slots, f"{attack.name}: no cell {slot!r} in {assignment}"
            slots[slot].source = source
        if attack.edit is not None:
            attack.edit(nb)
        submit(root, attack.name, assignment, nb, name)
    return root


def autograde(root: Path, assignment: str) -> str:
    done = nbgrader(
        "autograde",
        assignment,
        "--force",
        f"--SafeExecute.timeout={CORPORA[assignment].timeout}",
        root=root,
        check=False,
    )
    log = done.stdout + done.stderr
    (root / "autograde.log").write_text(log)
    return log


@pytest.fixture(scope="module")
def graded(tmp_path_factory, mnist_cache) -> dict[str, Path]:
    """One scratch course per corpus, graded two at a time (2 cores)."""
    if sandbox.isolation_problem() is not None and os.environ.get("CI") != "true":
        pytest.skip(f"no sandbox here: {sandbox.isolation_problem()}")
    roots = {a: prepare(tmp_path_factory.mktemp(f"attacks-{a}"), a) for a in CORPORA}
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda a: autograde(roots[a], a), sorted(CORPORA, key=_cost)))
    return roots


def _cost(assignment: str) -> int:
    return -len(CORPORA[assignment].attacks) - (100 if CORPORA[assignment].base else 0)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", sorted(CORPORA))
def test_correct_full_marks_no_flags_blank_zero(graded, assignment):
    root = graded[assignment]
    correct = result(db_url(root), assignment, "correct")
    log = (root / "autograde.log").read_text()
    assert correct is not None, log[-3000:]
    assert correct.score == correct.max_score, correct
    assert flags(root, "correct", assignment) == []
    assert result(db_url(root), assignment, "blank").score == 0
    assert flags(root, "blank", assignment) == []
    assert flags(root, "honest", assignment) == []


@pytest.mark.slow
@pytest.mark.parametrize(("assignment", "attack"), CASES, ids=lambda v: getattr(v, "name", v))
def test_attack_earns_nothing(graded, assignment, attack):
    root = graded[assignment]
    res = result(db_url(root), assignment, attack.name)
    log = (root / "autograde.log").read_text()
    assert res is not None, f"{attack.name} was not graded (the batch must go on):\n{log[-3000:]}"
    assert f"for student '{attack.name}'" not in log, log[-3000:]
    honest = result(db_url(root), assignment, "honest").cells
    earned = {c: s for c, s in res.cells.items() if s}
    assert not {c for c in earned if c in attack.targets}, f"{attack.name} earned {earned}"
    unearned = {c: s for c, s in earned.items() if s > honest.get(c, 0) and c not in attack.earns}
    assert not unearned, f"{attack.name} earned {unearned} beyond the honest {honest}"
    kinds = {f["kind"] for f in flags(root, attack.name, assignment)}
    if attack.flags:
        assert kinds & attack.flags, f"{attack.name}: flags {kinds}, want one of {attack.flags}"


def _hidden_lines(assignment: str) -> list[str]:
    """The lines of the hidden tests of an assignment that are long enough to recognize."""
    nb = nbformat.read(notebook_path(SOLUTIONS, assignment), as_version=4)
    found = []
    for cell in nb.cells:
        if is_test(cell):
            for block in re.findall(
                r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S
            ):
                found += [line.strip() for line in block.splitlines() if len(line.strip()) > 24]
    return [line for line in found if "unpack(" not in line]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("assignment", "attack"),
    [(a, x) for a, x in CASES if x.kind == "leaking"],
    ids=lambda v: getattr(v, "name", v),
)
def test_feedback_never_shows_hidden_tests(graded, assignment, attack):
    root = graded[assignment]
    nbgrader("generate_feedback", assignment, "--student", attack.name, "--force", root=root)
    (html,) = (root / "autograder" / "feedback" / attack.name / assignment).glob("*.html")
    text = html.read_text()
    leaked = [line for line in _hidden_lines(assignment) if line in text or _escaped(line) in text]
    assert not leaked, f"{attack.name}'s feedback shows hidden test code: {leaked[:3]}"
    assert "lenet-guard" not in text and "flags.json" not in text


def _escaped(line: str) -> str:
    return (
        line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


@pytest.mark.slow
def test_feedback_leaves_flags_out(graded):
    root, assignment = graded["01_mnist"], "01_mnist"
    student = "forged-array"
    assert flags(root, student, assignment), "the forged array should have been flagged"
    nbgrader("generate_feedback", assignment, "--student", student, "--force", root=root)
    feedback = root / "autograder" / "feedback" / student / assignment
    (html,) = feedback.glob("*.html")
    assert sorted(p.name for p in feedback.iterdir()) == [html.name]
    assert (root / "autograder" / "autograded" / student / assignment / "flags.json").exists()
    assert "flags.json" not in html.read_text()


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("get_ipython().ast_transformers.append(t)", "rewrites-cells"),
        ("import numpy as np\nnp.testing.assert_allclose = print", "monkeypatch"),
        ("import torch\ntorch.allclose = lambda *a: True", "monkeypatch"),
        ("x = In[-1]", "delegation"),
        ("import lenet_ref", "delegation"),
        ("getattr(obj, 'a' + 'b')", "dynamic-code"),
        ("import os\nrun = getattr(os, 'sys' + 'tem')", "dynamic-code"),
        ("import importlib as il\nname = 'import_module'\nf = getattr(il, name)", "dynamic-code"),
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
    assert kind in {f.kind for f in scan_cell(code, "c", earlier={"np": "numpy"})}


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
    assert [(f.kind, f.cell) for f in scan_notebook(nb)] == [("hides-errors", "answer")]


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
        "import torch.nn as nn\npool = 'MaxPool2d'\nS2 = getattr(nn, pool)(2)",
        "for layer in ('C1', 'F6'):\n    for kind in ('weight', 'bias'):\n"
        "        t = getattr(getattr(model, layer), kind)",
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
    assert [f.kind for f in flags_] == ["delegation"]
    assert scan_cell("def f(REF):\n    return REF", "c", hidden_names={"REF"}) == []


def _cell(source: str, role: str, gid: str, points: int = 1) -> nbformat.NotebookNode:
    """A code cell as nbgrader marks it: role "locked", "test" or "student" (an answer)."""
    meta = {"grade_id": gid, "schema_version": 3, "locked": role != "student"}
    meta.update(grade=role == "test", solution=role == "student")
    if role == "test":
        meta["points"] = points
    return new_code_cell(source, metadata={"nbgrader": meta})


def _accuracy_notebook(test_error: str | None, *printed: str) -> nbformat.NotebookNode:
    """An executed notebook: student cells that printed ``printed``, then an accuracy test."""
    cells = []
    for i, text in enumerate(printed):
        cell = _cell("...", "student", f"train{i}")
        cell.outputs = [new_output("stream", name="stdout", text=text)]
        cells.append(cell)
    test = _cell(
        'raise CheckFailed(f"... below the required {_required:.1%}")', "test", "test_accuracy"
    )
    if test_error is not None:
        test.outputs = [new_output("error", ename="CheckFailed", evalue=test_error, traceback=[])]
    return new_notebook(cells=[*cells, test])


A08 = "08_gpu_training"
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
    assert accuracy_claims(_accuracy_notebook(test_error, *printed), A08) == []


@pytest.mark.parametrize(
    "test_error", [BELOW.format("9.80%"), "name 'model' is not defined", "NotRun"]
)
def test_accuracy_claims_flag_a_report_the_test_contradicts(test_error):
    nb = _accuracy_notebook(test_error, "loss 0.01", "final test accuracy: 0.9952 (loss 0.012)")
    found = accuracy_claims(nb, A08)
    assert [(f.kind, f.cell) for f in found] == [("accuracy-claim", "train1")]
    assert "99.52%" in found[0].reason


def test_every_accuracy_test_reads_its_bar_from_the_policy():
    tests = [
        (path.parent.name, cell)
        for path in sorted(SOLUTIONS.glob("*/*.ipynb"))
        for cell in nbformat.read(path, as_version=4).cells
        if is_test(cell) and "accuracy" in (grade_id(cell) or "")
    ]
    assert tests, "no accuracy test found: the accuracy-claim check would never run"
    assert {a for a, _ in tests} == set(ACCURACY_BARS)
    for assignment, cell in tests:
        assert f'ACCURACY_BARS["{assignment}"]' in cell.source, (
            f"{assignment}: use the policy's bar"
        )


def test_accuracy_claims_use_the_assignments_bar():
    nb = _accuracy_notebook(BELOW.format("9.80%"), "test accuracy: 98.70%")
    assert accuracy_claims(nb, "08_gpu_training") == []  # below 08's 99% bar: no claim of passing
    assert [f.kind for f in accuracy_claims(nb, "10_lecun1998")] == ["accuracy-claim"]  # 98.5%
    assert accuracy_claims(nb, "01_mnist") == []  # not graded by accuracy
