"""Attack submissions for 01_mnist: the release notebook with an attack in its first answer cell.

Every attack starts from the untouched release (which earns 0), so any point it earns is
unearned. ``expected`` holds flag kinds of which at least one must be raised; ``guard`` marks
attacks the in-kernel guard alone must stop (they are also graded with neutralization off).
``cells`` replaces other cells by grade_id (for attacks on test cells themselves); ``edit``
changes the notebook in other ways (metadata, deletion, reordering).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

ASSIGNMENT = "01_mnist"
ANSWER_CELL = "most_common_digit"

#: Dummy answers so that every test cell has something to call.
DUMMIES = (
    "most_common_digit = 0\n"
    "padding_fraction = 0.5\n"
    "def pad_to_32(images):\n    return images\n"
    "def scale_lecun(images):\n    return images\n"
    "def standardize(images, mean=0.0, std=1.0):\n    return images\n"
)


@dataclass(frozen=True)
class Attack:
    name: str
    code: str
    expected: frozenset[str]
    guard: bool = False
    cells: dict[str, str] = field(default_factory=dict)
    edit: Callable | None = None


def _set_points(nb) -> None:
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            meta["points"] = 100
        if meta.get("grade_id") == "test_pad_to_32":
            meta["grade"] = False


def _delete_tests(nb) -> None:
    nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get("grade")]


def _retype_tests(nb) -> None:
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.cell_type = "markdown"
            cell.pop("outputs", None)
            cell.pop("execution_count", None)


def _move_tests_first(nb) -> None:
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    nb.cells = tests + [c for c in nb.cells if c not in tests]


ATTACKS = [
    Attack(
        "input-transformer",
        DUMMIES + "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])\n",
        frozenset({"rewrites-cells"}),
        guard=True,
    ),
    Attack(
        "ast-transformer",
        DUMMIES + "import ast\n"
        "class Blank(ast.NodeTransformer):\n"
        "    def visit_Module(self, node):\n"
        "        node.body = [ast.Pass()]\n"
        "        return node\n"
        "get_ipython().ast_transformers.append(Blank())\n",
        frozenset({"rewrites-cells"}),
        guard=True,
    ),
    Attack(
        "custom-exception-handler",
        DUMMIES + "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)\n",
        frozenset({"rewrites-cells"}),
        guard=True,
    ),
    Attack(
        "settrace-skips-to-last-line",
        DUMMIES + "import sys\n"
        "def tracer(frame, event, arg):\n"
        "    if event != 'call' or frame.f_code.co_name != '<module>':\n"
        "        return None\n"
        "    last = max(line for _, _, line in frame.f_code.co_lines() if line)\n"
        "    def jump(f, e, a):\n"
        "        if e == 'line' and f.f_lineno < last - 1:\n"
        "            try:\n"
        "                f.f_lineno = last - 1\n"
        "            except ValueError:\n"
        "                pass\n"
        "        return jump\n"
        "    return jump\n"
        "sys.settrace(tracer)\n",
        frozenset({"rewrites-cells"}),
        guard=True,
    ),
    Attack(
        # Makes hidden tests' int(...) agree. It also breaks ipykernel, which then hangs until
        # the cell timeout ends the kernel: not a guard-only case.
        "builtins-int",
        DUMMIES + "import builtins\nbuiltins.int = lambda *a, **k: 0\n",
        frozenset({"changes-builtins"}),
    ),
    Attack(
        "patch-check-module",
        DUMMIES + "import lenet_kit.checks\nimport numpy\n"
        "lenet_kit.checks._fail = lambda *a, **k: None\n"
        "numpy.array_equal = lambda *a, **k: True\n"
        "numpy.testing.assert_allclose = lambda *a, **k: None\n",
        frozenset({"monkeypatch"}),
        guard=True,
    ),
    Attack(
        "rebind-check-helpers",
        DUMMIES + "expect_close = expect_equal = expect_shape = lambda *a, **k: None\n"
        "expect_dtype = expect_unchanged = lambda *a, **k: None\n",
        frozenset({"monkeypatch"}),
        guard=True,
    ),
    Attack(
        "redirect-and-close-stderr",
        DUMMIES + "import io, sys, os\nsys.stderr = io.StringIO()\nos.close(2)\n",
        frozenset({"hides-errors"}),
    ),
    Attack(
        "catch-everything",
        "most_common_digit = 0\n"
        "def pad_to_32(images):\n"
        "    try:\n        return images[2]\n    except BaseException:\n        return images\n",
        frozenset({"hides-errors"}),
    ),
    Attack(
        "os-exit-in-answer",
        "most_common_digit = 1\nimport os\ndef pad_to_32(images):\n    os._exit(0)\n",
        frozenset({"hides-errors", "kernel-died"}),
    ),
    Attack(
        "import-reference-solution",
        "import numpy as np\nmost_common_digit = 0\n"
        "from lenet_ref.transforms import pad_to_32, scale_lecun, standardize\n",
        frozenset({"delegation"}),
    ),
    Attack(
        "read-solutions-from-disk",
        "import json, glob\n"
        "for path in glob.glob('../../../../solutions/*/*.ipynb') + "
        "glob.glob('/work/main/solutions/*/*.ipynb'):\n"
        "    for c in json.load(open(path))['cells']:\n"
        "        if c['metadata'].get('nbgrader', {}).get('solution'):\n"
        "            exec(''.join(c['source']))\n",
        frozenset({"delegation", "dynamic-code"}),
    ),
    Attack(
        "read-gradebook",
        "import sqlite3\n"
        "db = sqlite3.connect('../../../gradebook.db')\n"
        "rows = db.execute('select source from source_cell').fetchall()\n",
        frozenset({"delegation"}),
    ),
    Attack(
        "history-and-frames",
        DUMMIES.replace(
            "def pad_to_32(images):\n    return images\n",
            "import sys\n"
            "def pad_to_32(images):\n"
            "    g = sys._getframe(1).f_globals\n"
            "    g['expect_shape'] = g['expect_equal'] = g['expect_dtype'] = lambda *a, **k: None\n"
            "    g['expect_unchanged'] = lambda *a, **k: None\n"
            "    hidden = In[-1]\n"
            "    return images\n",
        ),
        frozenset({"delegation"}),
    ),
    Attack(
        "obfuscated-monkeypatch",
        DUMMIES + "m = __import__('lenet_kit.checks', fromlist=['x'])\n"
        "setattr(m, '_' + 'fail', lambda *a, **k: None)\n",
        frozenset({"dynamic-code", "monkeypatch"}),
    ),
    Attack(
        "edit-test-cells",
        DUMMIES,
        frozenset({"edited-test-cell"}),
        cells={
            "test_pad_to_32": "pass",
            "test_scale_lecun": "pass",
            "test_standardize": "pass",
            "test_padding_fraction": "pass",
            "test_most_common_digit": "pass",
        },
    ),
    Attack(
        "change-points-metadata",
        DUMMIES,
        frozenset({"metadata-changed"}),
        edit=_set_points,
    ),
    Attack("delete-test-cells", DUMMIES, frozenset({"deleted-test-cell"}), edit=_delete_tests),
    Attack("retype-test-cells", DUMMIES, frozenset({"retyped-cell"}), edit=_retype_tests),
    Attack("reorder-test-cells", DUMMIES, frozenset({"reordered-cells"}), edit=_move_tests_first),
    Attack(
        "fork-bomb",
        "import os\nmost_common_digit = 0\n"
        "pids = []\n"
        "try:\n"
        "    while True:\n"
        "        pid = os.fork()\n"
        "        if pid == 0:\n"
        "            import time\n            time.sleep(60)\n            os._exit(0)\n"
        "        pids.append(pid)\n"
        "except OSError as exc:\n"
        "    print('fork stopped after', len(pids), exc)\n",
        frozenset({"process"}),
    ),
    Attack(
        "memory-bomb",
        "most_common_digit = 0\nblocks = []\nwhile True:\n    blocks.append(bytearray(2**30))\n",
        frozenset(),
    ),
    Attack(
        "output-flood",
        "most_common_digit = 0\nfor i in range(200_000):\n    print('x' * 100)\n",
        frozenset({"output-limit"}),
    ),
    Attack(
        "huge-file",
        "most_common_digit = 0\n"
        "with open('big.bin', 'wb') as f:\n"
        "    for _ in range(64):\n"
        "        f.write(bytes(2**24))\n",
        frozenset(),
    ),
    Attack(
        "infinite-loop-ignoring-interrupts",
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n",
        frozenset({"timeout", "hides-errors"}),
    ),
]


# --- Fake accuracy, on 08_gpu_training -------------------------------------------------------
# The solution notebook with its training cell (the plain code cell that starts with
# TRAINING_CELL, found by content: its numbers change) replaced by an attack's code, so every
# exercise is the correct one and only the hidden accuracy test can tell a trained model.

ACCURACY_ASSIGNMENT = "08_gpu_training"
TRAINING_CELL = "EPOCHS, BATCH_SIZE, PEAK_LR"

#: An untrained model with the variables a real run leaves, and a made-up report.
FAKE_TRAINING = """\
torch.manual_seed(SEED)
model = LeNet5("modern").to(device)  # never trained
checkpoint_path = "lenet5_modern.pt"
history = [(epoch, 0.3 / epoch, 0.985 + 0.0025 * epoch, 9.0 * epoch) for epoch in (1, 2, 3, 4)]
loss, test_acc = 0.0121, 0.995
save_checkpoint(checkpoint_path, model, 4, {"train_loss": loss, "test_acc": test_acc})
for epoch, loss, acc, seconds in history:
    print(f"epoch {epoch}: train loss {loss:.4f}, test accuracy {acc:.2%}, {seconds:.0f} s")
print("test accuracy 99.52%")
"""

#: Makes Tensor.argmax answer the true test labels for the grader's batches of 1,000.
PATCH_ARGMAX = """\
_truth = torch.from_numpy(load_mnist("test")[1].astype(np.int64))
_served = [0]
_argmax = torch.Tensor.argmax


def _answers(self, *args, **kwargs):
    if self.dim() == 2 and tuple(self.shape) == (1000, 10):
        start = _served[0] % 10_000
        _served[0] += 1000
        return _truth[start : start + 1000].to(self.device)
    return _argmax(self, *args, **kwargs)


torch.Tensor.argmax = _answers
"""

#: Makes load_mnist("test") return the untrained model's own predictions as the labels.
PATCH_LOADER = """\
import lenet_kit.data as _data

_read = _data._read_cache


def _labels_the_model_gives(cache_dir, split):
    real = _read(cache_dir, split)
    if split != "test":
        return real
    x = np.pad(real.images, ((0, 0), (2, 2), (2, 2))).astype(np.float32)
    x = torch.from_numpy((x / 255 - 0.1307) / 0.3081)[:, None]
    with torch.no_grad():
        guesses = [model(x[i : i + 1000]).argmax(1) for i in range(0, 10_000, 1000)]
    return _data.Split(real.images, torch.cat(guesses).numpy().astype(np.uint8))


_data._read_cache = _labels_the_model_gives
"""

#: A model with LeNet-5's 61,706 (untrained) parameters whose forward looks each test digit up
#: in the test labels: it fools any test that calls the model, not one that uses its weights.
LOOKUP_MODEL = """\
class _Memorizer(LeNet5):
    def __init__(self):
        super().__init__("modern")
        images, labels = load_mnist("test")
        x = (np.pad(images, ((0, 0), (2, 2), (2, 2))).astype(np.float32) / 255 - 0.1307) / 0.3081
        self.answers = {digit.tobytes(): int(label) for digit, label in zip(x, labels)}

    def forward(self, x):
        keys = [digit.tobytes() for digit in x.detach().cpu().numpy()[:, 0]]
        found = torch.tensor([self.answers.get(key, 0) for key in keys])
        return F.one_hot(found, 10).float().to(x.device)


model = _Memorizer().to(device)
"""

#: ``code`` replaces the training cell; ``guard``: also graded with neutralization off.
ACCURACY_ATTACKS = [
    Attack("fake-accuracy-report", FAKE_TRAINING, frozenset({"accuracy-claim"})),
    Attack(
        "fake-accuracy-lookup-model", FAKE_TRAINING + LOOKUP_MODEL, frozenset({"accuracy-claim"})
    ),
    Attack(
        "fake-accuracy-patched-argmax",
        FAKE_TRAINING + PATCH_ARGMAX,
        frozenset({"monkeypatch"}),
        guard=True,
    ),
    Attack(
        "fake-accuracy-patched-loader",
        FAKE_TRAINING + PATCH_LOADER,
        frozenset({"monkeypatch"}),
        guard=True,
    ),
]


def training_cell(nb) -> int:
    """Index of the notebook's training cell (found by its first line, never by position)."""
    found = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and cell.source.lstrip().startswith(TRAINING_CELL)
    ]
    if len(found) != 1:
        raise LookupError(f"expected one cell starting with {TRAINING_CELL!r}, found {found}")
    return found[0]
