"""The student's side of trusted grading: answers the test runner's requests, in the kernel.

While a notebook is graded (or validated), its test cells run in a separate, trusted process
(:mod:`lenet_kit.runner`); the students' cells run in their own kernel, where :func:`install`
registers a Jupyter comm target. The runner asks through it for what a test uses: a name's
value, an attribute, a call with arguments, an item, an iteration. Values go back as plain data
(:mod:`lenet_kit.wire`); objects that are not data (a model, a function, a class) stay here and
the runner gets a reference to them.

Nothing here needs to be trusted: this code runs in the student's process, which the student
controls, so whatever it answers is treated as the student's answer. What keeps grades honest
is that the runner rebuilds answers as plain data and decides pass or fail itself.

``install`` also enforces the assignment's module policy as far as a kernel can: an import of a
blocked module (``torch`` in the NumPy notebooks) raises ``ModuleNotFoundError`` with a message
that says why. In grading the sandbox also removes those modules' files.
"""

from __future__ import annotations

import builtins
import importlib.abc
import os
import resource
import sys
import traceback
from typing import Any

import numpy as np

from lenet_kit import wire

#: The comm target name the runner opens.
TARGET = "lenet_grading"
#: A name's value larger than this (bytes) is looked up by reference, fetched only in parts.
LAZY_BYTES = 16 * 2**20
#: Longest error message and traceback sent back.
MAX_TEXT = 6000
_AGENT_FILE = os.path.abspath(__file__)


class BlockedImport(importlib.abc.MetaPathFinder):
    """Refuse to import the given top-level modules, with a message that says why."""

    def __init__(self, modules: tuple[str, ...], reason: str) -> None:
        self.modules = tuple(modules)
        self.reason = reason

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.modules:
            raise ModuleNotFoundError(
                f"No module named {name!r} here: {self.reason}", name=name.split(".")[0]
            )
        return None


def block_imports(modules: tuple[str, ...] | list[str], reason: str) -> None:
    """Make ``import m`` fail for each of ``modules`` (and their submodules) from now on."""
    if not modules:
        return
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, BlockedImport)]
    sys.meta_path.insert(0, BlockedImport(tuple(modules), reason))
    for name in list(sys.modules):
        if name.split(".")[0] in modules:
            del sys.modules[name]


def _short(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 20] + "\n... (cut)"


def describe_error(exc: BaseException) -> dict[str, Any]:
    """An exception as data: its type's name and bases, message, and the student's frames."""
    try:
        message = str(exc)
    except Exception:  # a student's __str__ may fail too
        message = "(the error's message could not be read)"
    tb = exc.__traceback__
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) == _AGENT_FILE:
        tb = tb.tb_next  # the agent's own frames say nothing about the student's code
    try:
        lines = traceback.format_exception(type(exc), exc, tb)
    except Exception:
        lines = [f"{type(exc).__name__}: {message}\n"]
    bases = [k.__name__ for k in type(exc).__mro__ if k.__module__ == "builtins"]
    return {
        "type": type(exc).__name__,
        "builtins": bases,
        "message": _short(message),
        "traceback": _short("".join(lines)),
    }


class Agent:
    """Answers requests against the notebook namespace ``ns`` (``get_ipython().user_ns``)."""

    def __init__(self, ns: dict[str, Any]) -> None:
        self.ns = ns
        self.refs = wire.Refs()

    # -- encoding ------------------------------------------------------------------------------
    def _refer(self, obj: Any) -> list:
        return ["ref", self.refs.add(obj), wire.ref_info(obj)]

    def _lazy(self, value: Any) -> list | None:
        """A reference, with shape and dtype, for a name bound to a large array or tensor."""
        torch = sys.modules.get("torch")
        is_tensor = torch is not None and type(value) in (torch.Tensor, torch.nn.Parameter)
        if type(value) is not np.ndarray and not is_tensor:
            return None
        nbytes = value.nbytes if not is_tensor else value.element_size() * value.nelement()
        if nbytes <= LAZY_BYTES:
            return None
        info = wire.ref_info(value)
        info["data"] = {
            "shape": list(value.shape),
            "dtype": str(value.dtype).removeprefix("torch."),
            "nbytes": int(nbytes),
            "tensor": bool(is_tensor),
            "device": str(value.device) if is_tensor else "cpu",
        }
        return ["ref", self.refs.add(value), info]

    def _resolve(self, node: list) -> Any:
        if len(node) < 2 or type(node[1]) is not int:
            raise wire.WireError("a reference holds an integer id")
        return self.refs.get(node[1])

    # -- requests ------------------------------------------------------------------------------
    def handle(self, data: dict, buffers: list) -> tuple[dict, list]:
        """Answer one request: ``{"ok": node, "mutated": [...]}`` or ``{"error": {...}}``."""
        try:
            self.refs.release(list(data.get("release", [])))
            loader = wire.Loader(buffers, self._resolve)
            args = loader.load(data.get("args", ["tuple", []]))
            op = getattr(self, f"op_{data.get('op')}", None)
            if op is None or type(args) is not tuple:
                raise wire.WireError(f"unknown request {data.get('op')!r}")
            value, what, lazy = op(*args)
            dumper = wire.Dumper(self._refer)
            reply = {"ok": (lazy and self._lazy(value)) or dumper.dump(value, what)}
            if data.get("watch"):
                changed = self._mutated(loader)
                if changed:
                    reply["mutated"] = dumper.dump(changed, "an argument")
            return reply, dumper.buffers
        except BaseException as exc:  # noqa: BLE001 - every failure is the answer to the request
            reply = {"error": describe_error(exc)}
            if isinstance(exc, wire.NotPlainData):
                reply["refused"] = str(exc)
            return reply, []

    @staticmethod
    def _mutated(loader: wire.Loader) -> list[tuple[tuple, Any]]:
        """The array and tensor arguments whose contents the call changed: (path, new value)."""
        return [
            (tuple(path), leaf)
            for path, leaf, original in loader.leaves
            if wire.leaf_changed(leaf, original)
        ]

    def op_lookup(self, name: str):
        if type(name) is not str:
            raise wire.WireError("lookup takes a name")
        if name not in self.ns:
            raise NameError(f"name {name!r} is not defined")
        return self.ns[name], name, True

    def op_getattr(self, obj, name: str):
        return getattr(obj, name), f"the attribute {name!r}", False

    def op_setattr(self, obj, name: str, value):
        setattr(obj, name, value)
        return None, "None", False

    def op_getitem(self, obj, key):
        return obj[key], "the item", False

    def op_setitem(self, obj, key, value):
        obj[key] = value
        return None, "None", False

    def op_call(self, fn, args, kwargs):
        name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or "it"
        return fn(*args, **kwargs), f"what {name} returned", False

    def op_len(self, obj):
        return len(obj), "its length", False

    def op_iter(self, obj):
        return list(obj), "its items", False

    def op_contains(self, obj, value):
        return value in obj, "the answer", False

    def op_bool(self, obj):
        return bool(obj), "its truth value", False

    def op_repr(self, obj):
        return _short(repr(obj)), "its repr", False

    def op_str(self, obj):
        return _short(str(obj)), "its text", False

    def op_isinstance(self, obj, cls):
        return isinstance(obj, cls), "the answer", False

    def op_issubclass(self, obj, cls):
        return issubclass(obj, cls), "the answer", False

    def op_probe(self, source: str, name: str, filename: str, args, kwargs):
        """Define function ``name`` from ``source`` over the notebook's names, and call it."""
        scope = dict(self.ns)
        scope.setdefault("__builtins__", builtins)
        exec(compile(source, filename, "exec"), scope)  # the instructor's visible test code
        return scope[name](*args, **kwargs), f"what {name} returned", False

    def op_ping(self):
        return "pong", "the answer", False

    def op_usage(self):
        """CPU seconds this kernel and its waited-for children used (benchmarks only: a kernel
        in the sandbox is killed with its PID namespace, so no process of the grader's ever
        collects its usage)."""
        cpu = 0.0
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
            usage = resource.getrusage(who)
            cpu += usage.ru_utime + usage.ru_stime
        return cpu, "the CPU seconds", False


def skip_figures() -> None:
    """Close matplotlib figures instead of rendering them (grading looks at no picture)."""
    try:
        import matplotlib_inline.backend_inline as inline
    except ImportError:
        return

    def close_all(*args, **kwargs):
        import matplotlib.pyplot as plt

        plt.close("all")

    close_all._draw_called = False  # what the inline backend keeps on its ``show``
    close_all._to_draw = []
    # %matplotlib inline registers flush_figures after every cell, and plt.show() calls show:
    # both are looked up in the module when they run, so replacing them here is enough.
    inline.flush_figures = inline.show = close_all


def install(
    blocked: list[str] | tuple[str, ...] = (), reason: str = "", figures: bool = True
) -> Agent:
    """Register the comm target in this kernel (and block ``blocked`` imports); returns the agent.

    Called by the first cell the grader runs in a student's kernel, before any of theirs.
    ``figures=False`` closes figures instead of rendering them (see :func:`skip_figures`).
    """
    shell = get_ipython()  # noqa: F821 - this runs in an IPython kernel
    agent = Agent(shell.user_ns)
    block_imports(tuple(blocked), reason or "this notebook's exercises are NumPy only")
    if not figures:
        skip_figures()

    def opened(comm, open_msg):
        @comm.on_msg
        def received(msg):
            reply, buffers = agent.handle(msg["content"]["data"], msg.get("buffers") or [])
            comm.send(reply, buffers=buffers)

        comm.send({"ready": True, "pid": os.getpid()})

    shell.kernel.comm_manager.register_target(TARGET, opened)
    return agent
