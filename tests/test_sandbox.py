"""The sandbox seen from inside a sandboxed grading kernel, and refusal without one."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import threading
from pathlib import Path

import nbformat
import pytest

from autograder import sandbox
from autograder.nbgrader_cli import REPO, nbgrader
from autograder.release import generate_in_scratch
from autograder.results import db_url, result
from autograder.synthetic import submit

NEEDS_SANDBOX = "no sandbox here: {}; install bubblewrap (make system-deps)"


def _require_sandbox() -> None:
    problem = sandbox.isolation_problem()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must be able to sandbox: {problem}")
        pytest.skip(NEEDS_SANDBOX.format(problem))


class Kernel:
    """A sandboxed kernel driven synchronously: ``run(code)`` returns the last stdout line."""

    def __init__(self, inputs: Path, limits: sandbox.Limits) -> None:
        self.loop = asyncio.new_event_loop()
        self.km = sandbox.SandboxedKernelManager(kernel_name="python3")
        self.km.run_dir = sandbox.RunDir(inputs)
        self.km.mnist = sandbox.readable_mnist()
        self.km.limits = limits
        self.loop.run_until_complete(self.km.start_kernel())
        self.kc = self.km.client()
        self.kc.start_channels()
        self.loop.run_until_complete(self.kc.wait_for_ready(timeout=120))

    def run(self, code: str) -> str:
        out: list[str] = []

        def hook(msg):
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append(f"{msg['content']['ename']}: {msg['content']['evalue']}\n")

        self.loop.run_until_complete(
            self.kc.execute_interactive(code, output_hook=hook, timeout=120)
        )
        return "".join(out).strip().splitlines()[-1]

    def close(self) -> None:
        self.kc.stop_channels()
        self.loop.run_until_complete(self.km.shutdown_kernel(now=True))
        self.km.run_dir.cleanup()
        self.loop.close()


LIMITS = sandbox.Limits(address_space=3 * sandbox.GiB, processes=64)


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A course root with a gradebook, solutions and two students' folders."""
    root = tmp_path_factory.mktemp("course")
    (root / "solutions").mkdir()
    (root / "solutions" / "secret.txt").write_text("answer")
    (root / "autograder").mkdir()
    (root / "autograder" / "gradebook.db").write_text("grades")
    for student in ("alice", "bob"):
        folder = root / "autograder" / "autograded" / student / "01_mnist"
        folder.mkdir(parents=True)
        (folder / "notes.txt").write_text(f"{student}'s file")
        (folder / "01_mnist.ipynb").write_text("{}")
    return root


@pytest.fixture(scope="module")
def kernel(course):
    _require_sandbox()
    k = Kernel(course / "autograder" / "autograded" / "alice" / "01_mnist", LIMITS)
    yield k
    k.close()


def _probe_exists(path: Path | str) -> str:
    return f"import os; print(os.path.exists({str(path)!r}))"


def test_sees_its_own_files_but_not_its_notebook(kernel):
    assert kernel.run("print(open('notes.txt').read())") == "alice's file"
    assert kernel.run("import os; print(sorted(os.listdir('.')))") == "['notes.txt']"


@pytest.mark.parametrize(
    "what",
    ["solutions", "gradebook", "other student", "repository solutions", "reference code"],
)
def test_cannot_see_solutions_gradebook_or_other_students(kernel, course, what):
    path = {
        "solutions": course / "solutions" / "secret.txt",
        "gradebook": course / "autograder" / "gradebook.db",
        "other student": course / "autograder" / "autograded" / "bob" / "01_mnist",
        "repository solutions": REPO / "solutions",
        "reference code": REPO / "lenet_ref",
    }[what]
    assert path.exists()
    assert kernel.run(_probe_exists(path)) == "False"


def test_cannot_read_the_instructors_home():
    probe = Path.home() / ".lenet-sandbox-probe"
    probe.write_text("private")
    try:
        _require_sandbox()
        k = Kernel(Path(__file__).parent / "attacks", LIMITS)
        try:
            assert k.run(_probe_exists(probe)) == "False"
        finally:
            k.close()
    finally:
        probe.unlink()


def test_import_lenet_ref_fails_lenet_kit_and_mnist_work(kernel):
    assert kernel.run("import lenet_ref") == "ModuleNotFoundError: No module named 'lenet_ref'"
    assert kernel.run("import autograder").startswith("ModuleNotFoundError")
    code = "from lenet_kit.data import load_mnist; print(load_mnist('test')[0].shape)"
    assert kernel.run(code) == "(10000, 28, 28)"


def test_writes_only_its_own_folder_and_tmp(kernel):
    assert kernel.run("open('out.txt', 'w').write('x'); print('ok')") == "ok"
    assert kernel.run("open('/tmp/t.txt', 'w').write('x'); print('ok')") == "ok"
    for target in (REPO / "lenet_kit" / "x.py", Path(sys.prefix) / "x", "/etc/x", "/usr/x"):
        got = kernel.run(f"open({str(target)!r}, 'w')")
        assert got.startswith(("PermissionError", "OSError", "FileNotFoundError")), got
        assert not Path(target).exists()


def test_runs_unprivileged(kernel):
    uid = kernel.run("import os; print(os.getuid())")
    if os.geteuid() == 0:
        assert uid != "0"


def test_no_network_even_to_a_local_server(kernel):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True)
    thread.start()
    code = (
        "import socket\ntry:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=3); print('connected')\n"
        "except OSError as e:\n    print('refused', type(e).__name__)"
    )
    try:
        assert kernel.run(code).startswith("refused")
        assert accepted == []
    finally:
        server.close()


def test_process_limit(kernel):
    code = (
        "import os, signal, time\npids = []\ntry:\n    while len(pids) < 1000:\n"
        "        pid = os.fork()\n        if pid == 0:\n            time.sleep(30); os._exit(0)\n"
        "        pids.append(pid)\nexcept OSError:\n    pass\n"
        "for pid in pids:\n    os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0)\nprint(len(pids))"
    )
    assert int(kernel.run(code)) < LIMITS.processes


def test_memory_limit(kernel):
    code = f"x = bytearray({LIMITS.address_space})"
    assert kernel.run(code).startswith("MemoryError")


def test_file_size_limit(kernel):
    chunks = LIMITS.file_size // 2**20 + 2
    code = f"with open('big', 'wb') as f:\n    for _ in range({chunks}):\n"
    code += "        f.write(bytes(2**20))"
    assert "File too large" in kernel.run(code)


@pytest.mark.parametrize("mode", [0o644, 0o600])
def test_mnist_cache_is_copied_only_when_the_grading_user_cannot_read_it(
    tmp_path, monkeypatch, mode
):
    if os.geteuid() != 0:
        pytest.skip("only as root do kernels run as another user (otherwise the cache is yours)")
    cache = tmp_path / "mnist"
    cache.mkdir(mode=0o755)
    cache.chmod(0o755)
    for name in ("test-images.npy", "test-labels.npy"):
        (cache / name).write_bytes(name.encode())
        (cache / name).chmod(mode)
    monkeypatch.setenv("LENET_DATA_DIR", str(cache))
    seen = sandbox.readable_mnist.__wrapped__()  # uncached: this test's own folder
    if mode == 0o644:
        assert seen == cache
    else:  # an older private cache: a readable copy, same contents
        assert seen != cache
        for name in ("test-images.npy", "test-labels.npy"):
            assert (seen / name).read_bytes() == name.encode()
            assert (seen / name).stat().st_mode & 0o777 == 0o644


def test_refuses_without_a_sandbox_unless_opted_out(monkeypatch):
    sandbox.isolation_problem.cache_clear()
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    try:
        monkeypatch.delenv(sandbox.OPT_OUT_ENV, raising=False)
        with pytest.raises(sandbox.SandboxUnavailable, match=sandbox.OPT_OUT_ENV):
            sandbox.require_isolation()
        monkeypatch.setenv(sandbox.OPT_OUT_ENV, "1")
        assert "bubblewrap" in sandbox.require_isolation()
    finally:
        sandbox.isolation_problem.cache_clear()


@pytest.mark.slow
def test_nbgrader_refuses_then_grades_flagged_when_opted_out(tmp_path, mnist_cache):
    generate_in_scratch(tmp_path, ["01_mnist"])
    nb = tmp_path / "solutions" / "01_mnist" / "01_mnist.ipynb"
    submit(tmp_path, "s1", "01_mnist", nbformat.read(nb, as_version=4), "01_mnist.ipynb")
    # No bubblewrap on PATH (the sandbox is found through PATH), as on a machine without it.
    no_bwrap = {"PATH": "/usr/local/bin"}
    refused = nbgrader("autograde", "01_mnist", "--force", root=tmp_path, check=False, env=no_bwrap)
    assert refused.returncode != 0
    assert sandbox.OPT_OUT_ENV in refused.stdout + refused.stderr
    assert (
        result(db_url(tmp_path), "01_mnist", "s1") is None
        or not (
            tmp_path / "autograder" / "autograded" / "s1" / "01_mnist" / "01_mnist.ipynb"
        ).exists()
    )
    nbgrader(
        "autograde",
        "01_mnist",
        "--force",
        root=tmp_path,
        env={**no_bwrap, sandbox.OPT_OUT_ENV: "1"},
    )
    assert result(db_url(tmp_path), "01_mnist", "s1").score == 10
    flags = json.loads((tmp_path / "autograder/autograded/s1/01_mnist/flags.json").read_text())
    assert [f["kind"] for f in flags] == ["no-isolation"]
