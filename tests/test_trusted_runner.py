"""The trusted test runner's parts, run for real: the wire format, the student-side agent in a
real kernel, the trusted side's stand-ins, the runner's replay and error reports, and the
executor's handling of test cells (lenet_kit.wire, agent, remote, runner, split_execute)."""

from __future__ import annotations

import collections
import json
import random

import numpy as np
import pytest
import torch
from nbformat.v4 import new_code_cell, new_notebook

from lenet_kit import wire
from lenet_kit.checks import CheckFailed, expect_close, expect_equal
from lenet_kit.remote import Handle, KernelGone, LazyData, StudentCodeError, StudentKernel
from lenet_kit.runner import Runner, needed_names
from lenet_kit.split_execute import SKIP_TAG, SplitExecute, hidden_ranges
from lenet_kit.testing import time_limit, type_name


def roundtrip(value, refer=None, resolve=None):
    node, buffers = wire.dump(value, refer)
    json.dumps(node)  # the node is plain JSON
    return wire.load(json.loads(json.dumps(node)), [bytes(b) for b in buffers], resolve)


# -- the wire format -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        None, True, 0, -(2**70), 1.5, float("inf"), "text", b"\x00\xff", 1 + 2j,
        [1, [2, (3,)]], (1.0, "a"), {"a": 1, 2: [3], (1, "b"): None}, {1, 2}, frozenset({"x"}),
        slice(1, None, 2), Ellipsis,
    ],
)  # fmt: skip
def test_plain_values_cross_unchanged(value):
    back = roundtrip(value)
    assert back == value or (value is Ellipsis and back is Ellipsis)
    assert type(back) is type(value)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.zeros((0, 5), np.int64),
        np.array(3.5),
        np.arange(24, dtype=np.float64).reshape(2, 3, 4)[:, ::2, 1:],  # not contiguous
        np.arange(6, dtype=">i4"),  # big-endian
        np.array([True, False]),
        np.array([1 + 1j], np.complex64),
        np.arange(5, dtype=np.uint8),
    ],
)
def test_arrays_cross_as_base_arrays_with_their_values_and_dtype(array):
    back = roundtrip(array)
    assert type(back) is np.ndarray and back.flags.writeable
    assert back.dtype == array.dtype.newbyteorder("=") and back.shape == array.shape
    assert np.array_equal(back, array)


def test_scalars_dtypes_and_types_cross():
    assert roundtrip(np.float32(1.25)) == np.float32(1.25)
    assert type(roundtrip(np.float32(1.25))) is np.float32
    assert roundtrip(np.dtype("<f8")) == np.dtype(np.float64)
    assert roundtrip((np.float32, float, int)) == (np.float32, float, int)


@pytest.mark.parametrize(
    "dtype", [torch.float32, torch.float64, torch.bfloat16, torch.int64, torch.bool]
)
def test_tensors_cross_as_base_tensors(dtype):
    tensor = torch.arange(6).reshape(2, 3).to(dtype)
    back = roundtrip(tensor)
    assert type(back) is torch.Tensor and back.dtype == dtype and torch.equal(back, tensor)
    param = torch.nn.Parameter(torch.ones(2))
    assert roundtrip(param).requires_grad and type(roundtrip(param)) is torch.Tensor


def test_devices_dtypes_sizes_and_generators_cross():
    assert roundtrip(torch.device("cuda:1")) == torch.device("cuda:1")
    assert roundtrip(torch.float16) is torch.float16
    assert roundtrip(torch.Size([2, 3])) == (2, 3)
    rng = np.random.default_rng(7)
    rng.standard_normal(3)
    back = roundtrip(rng)
    assert np.array_equal(back.standard_normal(4), rng.standard_normal(4))
    gen = torch.Generator().manual_seed(3)
    assert torch.equal(torch.rand(3, generator=roundtrip(gen)), torch.rand(3, generator=gen))


def test_library_containers_cross_as_plain_containers():
    state = collections.OrderedDict(w=torch.zeros(2))
    assert type(roundtrip(state)) is dict
    values, indices = roundtrip(torch.tensor([[1.0, 3.0]]).max(1))
    assert indices.tolist() == [1]


class Liar(np.ndarray):
    def __eq__(self, other):
        return True


class Forty(int):
    def __eq__(self, other):
        return True


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (np.zeros(3).view(Liar), "a subclass of numpy array"),
        (Forty(2), "a subclass of int"),
        (np.array([object()]), "dtype object"),
        (np.zeros(2, dtype=[("a", "f4")]), "dtype"),
        (np.array(["text"]), "dtype <U4"),
        (torch.zeros(2).as_subclass(type("T", (torch.Tensor,), {})), "subclass of torch.Tensor"),
    ],
)
def test_values_that_pretend_to_be_data_are_refused(value, says):
    with pytest.raises(wire.NotPlainData, match=says):
        wire.dump(value, refer=lambda obj: ["ref", 1, {}])


def test_objects_and_student_containers_cross_by_reference():
    class Params(dict):
        pass

    refs = wire.Refs()
    node, _ = wire.dump([Params(a=1), len], lambda obj: ["ref", refs.add(obj), wire.ref_info(obj)])
    assert [n[0] for n in node[1]] == ["ref", "ref"]
    assert node[1][1][2]["name"] == "len"
    assert refs.add(len) == node[1][1][1]  # the same object, the same id


def test_nesting_is_bounded():
    deep = []
    for _ in range(wire.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(wire.NotPlainData, match="nested"):
        wire.dump(deep)


@pytest.mark.parametrize(
    "node",
    [
        ["array", "float32", [2, 2], 0],  # 16 bytes needed, 8 given
        ["array", "object", [1], 0],
        ["array", "float32", [-1], 0],
        ["tensor", "float32", [2], 0, "cpu; rm -rf /", False],
        ["bytes", 5],
        ["nope"],
        ["dict", [[["list", []], 1]]],  # unhashable key
        ["slice", "a", 1, 2],
        {"a": 1},
    ],
)
def test_malformed_messages_are_rejected(node):
    with pytest.raises(wire.WireError):
        wire.load(node, [b"\x00" * 8])


def test_random_messages_raise_only_wire_errors():
    rng = random.Random(0)
    tags = ["list", "tuple", "dict", "array", "scalar", "tensor", "bytes", "slice", "ref", "x"]

    def junk(depth=0):
        pick = rng.random()
        if depth > 3 or pick < 0.3:
            return rng.choice([None, 1, -1, 2.5, "float32", "<f8", [3], [], True])
        return [rng.choice(tags)] + [junk(depth + 1) for _ in range(rng.randint(0, 4))]

    for _ in range(2000):
        try:
            wire.load(junk(), [b"\x00" * rng.randint(0, 32)])
        except wire.WireError:
            pass


# -- the agent in a real kernel, through the trusted side's stand-ins ----------------------------
STUDENT = """
import numpy as np, sys, time, torch
from torch import nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
    def forward(self, x):
        return self.fc(x)
def double_in_place(x, rng):
    rng.standard_normal(5)
    x *= 2
    return x.sum()
def fail(kind):
    if kind == "value":
        raise ValueError("bad value 7")
    if kind == "exit":
        raise SystemExit(3)
    raise KeyboardInterrupt
def shout():
    print("hello from the student")
    get_ipython().displayhook("injected")
    return 1
def sleepy(seconds):
    time.sleep(seconds)
    return seconds
class Liar(np.ndarray):
    pass
def forge():
    return np.zeros(3).view(Liar)
big = np.arange(5_000_000, dtype=np.float32)
small = np.arange(4.0)
answer = 42


def spend_cpu(seconds):
    start = time.process_time()
    while time.process_time() - start < seconds:
        pass
"""


@pytest.fixture(scope="module")
def student():
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(60)
    kc.execute_interactive(
        "from lenet_kit.agent import install\ninstall()\n" + STUDENT, timeout=120
    )
    info = {
        k: (v.decode() if isinstance(v, bytes) else v) for k, v in km.get_connection_info().items()
    }
    kernel = StudentKernel(info, timeout=60)
    yield kernel, km
    kernel.close()
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def test_names_come_back_as_data_or_stand_ins(student):
    kernel, _ = student
    assert kernel.lookup("answer") == 42 and type(kernel.lookup("answer")) is int
    assert np.array_equal(kernel.lookup("small"), np.arange(4.0))
    net_class = kernel.lookup("Net")
    net = net_class()
    assert type(net) is Handle and isinstance(net, torch.nn.Module)
    assert type_name(net) == "Net"
    out = net(torch.ones(2, 3))
    assert type(out) is torch.Tensor and out.shape == (2, 2)
    assert {name for name, _ in net.named_parameters()} == {"fc.weight", "fc.bias"}
    assert net.fc is net.fc, "the same student object gives the same stand-in"
    with pytest.raises(NameError):
        kernel.lookup("nothing_of_that_name")


def test_large_arrays_stay_in_the_kernel_until_sliced(student):
    kernel, _ = student
    big = kernel.lookup("big")
    assert type(big) is LazyData and big.shape == (5_000_000,) and big.dtype == np.float32
    assert np.array_equal(big[10:13], [10.0, 11.0, 12.0])
    assert len(big) == 5_000_000


def test_arguments_changed_in_place_come_back_changed(student):
    kernel, _ = student
    x = np.ones(3)
    rng = np.random.default_rng(0)
    total = kernel.lookup("double_in_place")(x, rng)
    assert total == 6.0 and np.array_equal(x, [2.0, 2.0, 2.0])
    expected = np.random.default_rng(0)
    expected.standard_normal(5)
    assert np.array_equal(rng.standard_normal(2), expected.standard_normal(2))


def test_errors_are_rebuilt_so_that_tests_can_catch_them(student):
    kernel, _ = student
    fail = kernel.lookup("fail")
    with pytest.raises(ValueError, match="bad value 7") as caught:
        fail("value")
    assert "raise ValueError" in caught.value.student_error["traceback"]
    for kind in ("exit", "interrupt"):
        with pytest.raises(StudentCodeError):
            fail(kind)


def test_forged_values_are_refused_and_reported(student):
    kernel, _ = student
    with pytest.raises(TypeError, match="subclass of numpy array"):
        kernel.lookup("forge")()
    assert any(kind == "refused-type" for kind, _ in kernel.events)


def test_prints_are_relayed_and_displays_reported(student, capsys):
    kernel, _ = student
    kernel.events.clear()
    assert kernel.lookup("shout")() == 1
    assert "hello from the student" in capsys.readouterr().out
    assert ("output-in-test", "shout displayed output during a test") in kernel.events


def test_a_call_past_its_deadline_fails_and_the_kernel_recovers(student):
    kernel, km = student
    sleepy = kernel.lookup("sleepy")
    import lenet_kit.testing as testing

    testing.kernel = kernel  # as the runner sets it while a test runs
    try:
        with pytest.raises(CheckFailed, match="took longer than 0.5 s"):
            with time_limit(0.5, "sleepy(30)"):
                sleepy(30)
    finally:
        testing.kernel = None
    assert kernel.state == "busy"
    km.interrupt_kernel()
    assert kernel.ping(15), "the kernel should answer again after the interrupt"
    assert sleepy(0) == 0


def test_checks_describe_stand_ins_instead_of_comparing_them(student):
    kernel, _ = student
    net = kernel.lookup("Net")()
    with pytest.raises(CheckFailed, match="an object in your kernel, not data"):
        expect_equal("the model", net, 3)
    with pytest.raises(CheckFailed, match="should be a NumPy array"):
        expect_close("the model", net, np.zeros(3))


def test_a_dead_kernel_fails_the_request_with_the_reason():
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(60)
    kc.execute_interactive(
        "from lenet_kit.agent import install\ninstall()\nimport os\ndef die():\n    os._exit(1)\n",
        timeout=60,
    )
    info = {
        k: (v.decode() if isinstance(v, bytes) else v) for k, v in km.get_connection_info().items()
    }
    kernel = StudentKernel(info, timeout=60)
    try:
        with pytest.raises(KernelGone, match="died"):
            kernel.lookup("die")()
        assert kernel.state == "gone"
    finally:
        kernel.close()
        kc.stop_channels()
        km.shutdown_kernel(now=True)


# -- the runner ------------------------------------------------------------------------------
def test_replay_keeps_what_tests_use_and_skips_what_needs_students_names():
    setup = (
        "%matplotlib inline\nimport numpy as np\nimport matplotlib.pyplot as plt\n"
        "REF = np.arange(3)\nrng = np.random.default_rng(0)\n"
        "plt.plot([1, 2])\nyours = student_function(REF)\nprint('hello')\n"
    )
    tests = ["expect_equal('x', f(REF), REF)\nrng.standard_normal(2)"]
    assert {"REF", "rng", "np"} <= needed_names(tests, [setup])
    assert "plt" not in needed_names(tests, [setup])
    runner = Runner()
    runner.needed = needed_names(tests, [setup])
    report = runner.replay(setup, "setup")
    assert report["ok"], report
    assert np.array_equal(runner.ns["REF"], np.arange(3)) and "rng" in runner.ns
    assert "plt" not in runner.ns and "yours" not in runner.ns


def test_reports_never_quote_hidden_lines():
    source = (
        "x = 1\n### BEGIN HIDDEN TESTS\nsecret_value = 41\nassert x == secret_value\n"
        "### END HIDDEN TESTS\n"
    )
    runner = Runner()
    report = runner.test(
        source, "t", 10, hidden_ranges(source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
    )
    assert not report["passed"] and report["error"]["hidden"]
    text = "\n".join(report["error"]["traceback"])
    assert "secret_value" not in text and "a hidden test" in text
    visible = runner.test("assert 1 == 2, 'visible failure'", "v", 10, [])
    assert "assert 1 == 2" in "\n".join(visible["error"]["traceback"])


def test_a_numeric_last_expression_is_partial_credit_only_when_plain():
    runner = Runner()
    assert runner.test("0.5", "t", 10, [])["result"] == 0.5
    assert runner.test("'text'", "t", 10, [])["result"] is None


# -- the executor ----------------------------------------------------------------------------
def _graded(role: str, source: str, gid: str, tags=()) -> dict:
    meta = {"grade_id": gid, "schema_version": 3, "locked": role != "student", "task": False}
    meta.update(grade=role == "test", solution=role == "student")
    if role == "test":
        meta["points"] = 1
    cell = new_code_cell(source, metadata={"nbgrader": meta})
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def test_test_cells_get_only_the_runners_outputs(tmp_path):
    cells = [
        _graded("locked", "import numpy as np\nfrom lenet_kit.checks import expect_equal", "setup"),
        _graded(
            "student",
            "def answer():\n    get_ipython().displayhook('passed')\n    print('printed')\n"
            "    return 2\n",
            "sol",
        ),
        _graded("test", "expect_equal('answer()', answer(), 3)", "t_fails"),
        _graded("test", "expect_equal('answer()', answer(), 2)\nprint('ok')", "t_passes"),
        _graded("student", "import torch\nprint(torch.__version__)", "demo", tags=[SKIP_TAG]),
    ]
    nb = new_notebook(
        cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "P"}}
    )
    executor = SplitExecute(timeout=60)
    nb, _ = executor.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    failing, passing, skipped = nb.cells[2], nb.cells[3], nb.cells[4]
    assert [o.output_type for o in failing.outputs] == ["stream", "error"]
    assert failing.outputs[1].ename == "CheckFailed"
    assert all(o.output_type == "stream" for o in passing.outputs)
    assert "printed" in passing.outputs[0].text and "ok" in passing.outputs[0].text
    assert "not run when the notebook is graded" in skipped.outputs[0].text
    assert (
        "output-in-test",
        "answer displayed output during a test",
        "t_passes",
    ) in executor.events


def test_the_kernel_reports_the_cpu_seconds_it_used(student):
    kernel, km = student
    before = kernel.cpu_seconds()
    kernel.lookup("spend_cpu")(0.3)
    after = kernel.cpu_seconds()
    assert before is not None and after - before >= 0.25, (before, after)


def test_a_cell_past_its_time_limit_says_so_whatever_the_interrupt_raced(tmp_path):
    # time.sleep stops at once on the interrupt; the kernel's KeyboardInterrupt and its
    # "idle" may arrive before nbclient gives up on IOPub (seen in CI), and then the report,
    # which reads a cell's first error, said KeyboardInterrupt: the limit is the one error.
    cells = [
        _graded("student", "import time\ntime.sleep(60)\nanswer = 2", "sol"),
        _graded("test", "assert answer == 2", "t_answer"),
    ]
    nb = new_notebook(
        cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "P"}}
    )
    executor = SplitExecute(timeout=3, iopub_timeout=20)
    nb, _ = executor.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    errors = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    assert [e.ename for e in errors] == ["CellTimeoutError"], nb.cells[0].outputs
    assert "limit of 3 s" in errors[0].evalue
    assert executor.events == [], "the kernel stopped when interrupted: it is not flagged dead"
    assert [o.ename for o in nb.cells[1].outputs if o.output_type == "error"] == ["NameError"]


def test_graded_kernels_compute_on_one_thread_unless_the_environment_says_otherwise(
    tmp_path, monkeypatch
):
    # Gradings run side by side (the batch grader, the tests); a kernel whose PyTorch used every
    # core beside another grading trained 5 times slower than on one thread.
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    cells = [
        _graded("student", "import torch\nthreads = torch.get_num_threads()", "sol"),
        _graded("test", "assert threads == 1, f'{threads} torch threads'", "t_threads"),
    ]
    nb = new_notebook(
        cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "P"}}
    )
    nb, _ = SplitExecute(timeout=60).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert [o for o in nb.cells[1].outputs if o.output_type == "error"] == [], nb.cells[1].outputs
