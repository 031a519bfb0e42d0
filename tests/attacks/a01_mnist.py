"""Attacks on 01_mnist: the release with an attack in its first answer cell (``ANSWER``).

Wrong answers for the other exercises (``DUMMIES``) give every test something to call.
"""

from __future__ import annotations

from tests.attacks import Attack

ASSIGNMENT = "01_mnist"
ANSWER = "most_common_digit"
ALL = frozenset(
    {"test_most_common_digit", "test_pad_to_32", "test_scale_lecun", "test_standardize",
     "test_padding_fraction"}
)  # fmt: skip

#: Wrong answers, so that every test cell has something to call.
DUMMIES = (
    "most_common_digit = 0\n"
    "padding_fraction = 0.5\n"
    "def pad_to_32(images):\n    return images\n"
    "def scale_lecun(images):\n    return images\n"
    "def standardize(images, mean=0.0, std=1.0):\n    return images\n"
)


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


def _pad_to_32(body: str, prelude: str = "") -> dict[str, str]:
    """Cells: DUMMIES in the first answer cell, and the pad_to_32 cell made ``prelude`` plus a
    ``def pad_to_32(images)`` running ``body``.

    An attack on a function goes in that function's own cell: the release's later cells define
    their exercises (stubs included) over anything defined before them.
    """
    fake = "def pad_to_32(images):\n" + "".join(f"    {line}\n" for line in body.splitlines())
    return {ANSWER: DUMMIES, "pad_to_32": prelude + fake}


#: Publishes an execute_result whose text is not a number: plain nbgrader gives full points to
#: a test cell whose first execute_result says anything but a number.
INJECT = (
    "import IPython\n"
    "def inject(text='all tests passed'):\n"
    "    shell = IPython.get_ipython()\n"
    "    shell.displayhook(text)\n"
    "    IPython.display.display({'text/plain': text}, raw=True)\n"
)

NEW = [
    Attack(
        "inject-output-from-a-called-function",
        "output-injection",
        _pad_to_32("inject()\nreturn images", INJECT),
        targets=ALL,
        flags=frozenset({"output-in-test"}),
    ),
    Attack(
        "inject-output-from-a-dunder",
        "output-injection",
        {
            ANSWER: INJECT + DUMMIES + "class Sneaky(int):\n"
            "    def __ge__(self, other):\n        inject()\n        return True\n"
            "    __le__ = __eq__ = __ge__\n"
            "    __hash__ = int.__hash__\n"
            "most_common_digit = Sneaky(0)\npadding_fraction = Sneaky(0)\n"
        },
        targets=ALL,
        flags=frozenset({"refused-type"}),
    ),
    Attack(
        "inject-output-from-a-thread",
        "output-injection",
        {
            ANSWER: DUMMIES + "import threading, time\n"
            "kernel = get_ipython().kernel\n"
            "def watch():\n"
            "    seen, end = set(), time.time() + 120\n"
            "    while time.time() < end:\n"
            "        parent = kernel.get_parent()\n"
            "        key = parent.get('header', {}).get('msg_id')\n"
            "        if key and key not in seen:\n"
            "            seen.add(key)\n"
            "            kernel.session.send(kernel.iopub_socket, 'execute_result',\n"
            "                {'data': {'text/plain': 'passed'}, 'metadata': {},\n"
            "                 'execution_count': 1}, parent=parent)\n"
            "        time.sleep(0.001)\n"
            "threading.Thread(target=watch, daemon=True).start()\n"
        },
        targets=ALL,
        flags=frozenset({"output-in-test"}),
    ),
    Attack(
        "take-over-the-grading-agent",
        "takeover",
        {
            ANSWER: DUMMIES
            + "found = [n for n in dir() if 'guard' in n.lower() or 'lenet' in n.lower()]\n"
            "print('grader objects in my namespace:', found)\n"
            "manager = get_ipython().kernel.comm_manager\n"
            "def agree(msg):\n"
            "    for comm in list(manager.comms.values()):\n"
            "        comm.send({'ok': 7})  # one wrong answer to every question\n"
            "for comm in list(manager.comms.values()):\n"
            "    comm._msg_callback = agree\n"
            "manager.register_target('lenet_grading', lambda comm, msg: comm.on_msg(agree))\n"
        },
        targets=ALL,
    ),
    Attack(
        "rebind-checks-during-the-call",
        "rebinding",
        _pad_to_32(
            "import __main__, functools\n"
            "import lenet_kit.checks as checks\n"
            "for name in ('expect_equal', 'expect_shape', 'expect_dtype', 'expect_unchanged',\n"
            "             'expect_close'):\n"
            "    setattr(__main__, name, functools.wraps(getattr(checks, name))(lambda *a, **k: None))\n"
            "getattr(checks, '__dict__')['_fail'] = lambda *a, **k: None\n"
            "return images"
        ),
        targets=ALL,
    ),
    Attack(
        "forged-array",
        "forged-values",
        _pad_to_32(
            "return np.zeros((5, 32, 32), np.uint8).view(Liar)",
            "import numpy as np\n"
            "class Liar(np.ndarray):\n"
            "    def __array_ufunc__(self, *args, **kwargs):\n        return np.zeros(1)\n"
            "    def __array_function__(self, *args, **kwargs):\n        return True\n"
            "    def __eq__(self, other):\n        return True\n"
            "    __ne__ = lambda self, other: False\n",
        ),
        targets=ALL,
        flags=frozenset({"refused-type"}),
    ),
    Attack(
        "peek-at-the-test",
        "peeking",
        _pad_to_32(
            "import sys, __main__\n"
            "frame, found = sys._getframe(1), None\n"
            "while frame is not None and found is None:\n"
            "    for name in ('expected', 'want', 'REF', 'padded', 'batch'):\n"
            "        found = found if found is not None else frame.f_locals.get(name)\n"
            "    frame = frame.f_back\n"
            "found = found if found is not None else getattr(__main__, 'expected', None)\n"
            "return found if found is not None else images"
        ),
        targets=ALL,
        flags=frozenset({"delegation"}),
    ),
    Attack(
        "poison-the-training-labels",
        "poisoned-truth",
        {
            ANSWER: DUMMIES + "train_labels = np.full(60_000, 7, dtype=np.uint8)\n"
            "train_images = np.zeros((60_000, 28, 28), np.uint8)\n"
            "most_common_digit = 7\n"
        },
        targets=ALL,
    ),
    Attack(
        "leak-the-running-test",
        "leaking",
        {
            **_pad_to_32(
                "import inspect, sys\n"
                "LEAK.append(repr(get_ipython().get_parent()))\n"
                "LEAK.extend(repr(f.code_context) for f in inspect.stack())\n"
                "LEAK.extend(f.f_code.co_filename for f in map(sys._getframe, range(1, 4)))\n"
                "return images",
                "LEAK = []\n",
            ),
            "padding_fraction": "print('\\n'.join(LEAK))\npadding_fraction = 0.5\n",
        },
        targets=ALL,
    ),
]

CLASSIC = [
    Attack(
        "input-transformer",
        "classic",
        {
            ANSWER: DUMMIES
            + "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])\n"
        },
        targets=ALL,
        flags=frozenset({"rewrites-cells"}),
    ),
    Attack(
        "ast-transformer",
        "classic",
        {
            ANSWER: DUMMIES + "import ast\n"
            "class Blank(ast.NodeTransformer):\n"
            "    def visit_Module(self, node):\n"
            "        node.body = [ast.Pass()]\n"
            "        return node\n"
            "get_ipython().ast_transformers.append(Blank())\n"
        },
        targets=ALL,
        flags=frozenset({"rewrites-cells"}),
    ),
    Attack(
        "custom-exception-handler",
        "classic",
        {
            ANSWER: DUMMIES
            + "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)\n"
        },
        targets=ALL,
        flags=frozenset({"rewrites-cells"}),
    ),
    Attack(
        "settrace-skips-to-last-line",
        "classic",
        {
            ANSWER: DUMMIES + "import sys\n"
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
            "sys.settrace(tracer)\n"
        },
        targets=ALL,
        flags=frozenset({"rewrites-cells"}),
    ),
    Attack(
        "builtins-int",
        "classic",
        {ANSWER: DUMMIES + "import builtins\nbuiltins.int = lambda *a, **k: 0\n"},
        targets=ALL,
        flags=frozenset({"changes-builtins"}),
    ),
    Attack(
        "patch-check-module",
        "classic",
        {
            ANSWER: DUMMIES + "import lenet_kit.checks\nimport numpy\n"
            "lenet_kit.checks._fail = lambda *a, **k: None\n"
            "numpy.array_equal = lambda *a, **k: True\n"
            "numpy.testing.assert_allclose = lambda *a, **k: None\n"
        },
        targets=ALL,
        flags=frozenset({"monkeypatch"}),
    ),
    Attack(
        "rebind-check-helpers",
        "classic",
        {
            ANSWER: DUMMIES + "expect_close = expect_equal = expect_shape = lambda *a, **k: None\n"
            "expect_dtype = expect_unchanged = lambda *a, **k: None\n"
        },
        targets=ALL,
        flags=frozenset({"monkeypatch"}),
    ),
    Attack(
        "redirect-and-close-stderr",
        "classic",
        {ANSWER: DUMMIES + "import io, sys, os\nsys.stderr = io.StringIO()\nos.close(2)\n"},
        targets=ALL,
        flags=frozenset({"hides-errors"}),
    ),
    Attack(
        "catch-everything",
        "classic",
        {
            ANSWER: "most_common_digit = 0\n"
            "def pad_to_32(images):\n"
            "    try:\n        return images[2]\n    except BaseException:\n        return images\n"
        },
        targets=ALL,
        flags=frozenset({"hides-errors"}),
    ),
    Attack(
        "os-exit-in-answer",
        "classic",
        {ANSWER: "most_common_digit = 1\nimport os\ndef pad_to_32(images):\n    os._exit(0)\n"},
        targets=ALL - {"test_most_common_digit"},
        earns=frozenset({"test_most_common_digit"}),
        flags=frozenset({"hides-errors", "kernel-died"}),
    ),
    Attack(
        "import-reference-solution",
        "classic",
        {
            ANSWER: "import numpy as np\nmost_common_digit = 0\n"
            "from lenet_ref.transforms import pad_to_32, scale_lecun, standardize\n"
        },
        targets=ALL,
        flags=frozenset({"delegation"}),
    ),
    Attack(
        "read-solutions-from-disk",
        "classic",
        {
            ANSWER: "import json, glob\n"
            "for path in glob.glob('../../../../solutions/*/*.ipynb') + "
            "glob.glob('/work/main/solutions/*/*.ipynb'):\n"
            "    for c in json.load(open(path))['cells']:\n"
            "        if c['metadata'].get('nbgrader', {}).get('solution'):\n"
            "            exec(''.join(c['source']))\n"
        },
        targets=ALL,
        flags=frozenset({"delegation", "dynamic-code"}),
    ),
    Attack(
        "read-gradebook",
        "classic",
        {
            ANSWER: "import sqlite3\n"
            "db = sqlite3.connect('../../../gradebook.db')\n"
            "rows = db.execute('select source from source_cell').fetchall()\n"
        },
        targets=ALL,
        flags=frozenset({"delegation"}),
    ),
    Attack(
        "history-and-frames",
        "classic",
        {
            ANSWER: DUMMIES.replace(
                "def pad_to_32(images):\n    return images\n",
                "import sys\n"
                "def pad_to_32(images):\n"
                "    g = sys._getframe(1).f_globals\n"
                "    g['expect_shape'] = g['expect_equal'] = g['expect_dtype'] = lambda *a, **k: None\n"
                "    g['expect_unchanged'] = lambda *a, **k: None\n"
                "    hidden = In[-1]\n"
                "    return images\n",
            )
        },
        targets=ALL,
        flags=frozenset({"delegation"}),
    ),
    Attack(
        "obfuscated-monkeypatch",
        "classic",
        {
            ANSWER: DUMMIES + "m = __import__('lenet_kit.checks', fromlist=['x'])\n"
            "setattr(m, '_' + 'fail', lambda *a, **k: None)\n"
        },
        targets=ALL,
        flags=frozenset({"dynamic-code", "monkeypatch"}),
    ),
    Attack(
        "edit-test-cells",
        "classic",
        {
            ANSWER: DUMMIES,
            **{
                "test_pad_to_32": "pass",
                "test_scale_lecun": "pass",
                "test_standardize": "pass",
                "test_padding_fraction": "pass",
                "test_most_common_digit": "pass",
            },
        },
        targets=ALL,
        flags=frozenset({"edited-test-cell"}),
    ),
    Attack(
        "change-points-metadata",
        "classic",
        {ANSWER: DUMMIES},
        targets=ALL,
        flags=frozenset({"metadata-changed"}),
        edit=_set_points,
    ),
    Attack(
        "delete-test-cells",
        "classic",
        {ANSWER: DUMMIES},
        targets=ALL,
        flags=frozenset({"deleted-test-cell"}),
        edit=_delete_tests,
    ),
    Attack(
        "retype-test-cells",
        "classic",
        {ANSWER: DUMMIES},
        targets=ALL,
        flags=frozenset({"retyped-cell"}),
        edit=_retype_tests,
    ),
    Attack(
        "reorder-test-cells",
        "classic",
        {ANSWER: DUMMIES},
        targets=ALL,
        flags=frozenset({"reordered-cells"}),
        edit=_move_tests_first,
    ),
    Attack(
        "fork-bomb",
        "classic",
        {
            ANSWER: "import os\nmost_common_digit = 0\n"
            "pids = []\n"
            "try:\n"
            "    while True:\n"
            "        pid = os.fork()\n"
            "        if pid == 0:\n"
            "            import time\n            time.sleep(60)\n            os._exit(0)\n"
            "        pids.append(pid)\n"
            "except OSError as exc:\n"
            "    print('fork stopped after', len(pids), exc)\n"
        },
        targets=ALL,
        flags=frozenset({"process"}),
    ),
    Attack(
        "memory-bomb",
        "classic",
        {
            ANSWER: "most_common_digit = 0\nblocks = []\nwhile True:\n    blocks.append(bytearray(2**30))\n"
        },
        targets=ALL,
        flags=frozenset({"resource-limit", "kernel-died"}),
    ),
    Attack(
        "output-flood",
        "classic",
        {ANSWER: "most_common_digit = 0\nfor i in range(200_000):\n    print('x' * 100)\n"},
        targets=ALL,
        flags=frozenset({"output-limit"}),
    ),
    Attack(
        "huge-file",
        "classic",
        {
            ANSWER: "most_common_digit = 0\n"
            "with open('big.bin', 'wb') as f:\n"
            "    for _ in range(64):\n"
            "        f.write(bytes(2**24))\n"
        },
        targets=ALL,
        flags=frozenset({"resource-limit"}),
    ),
    Attack(
        "infinite-loop-ignoring-interrupts",
        "classic",
        {
            ANSWER: "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n"
        },
        targets=ALL,
        flags=frozenset({"timeout", "hides-errors"}),
    ),
]

ATTACKS = NEW + CLASSIC
