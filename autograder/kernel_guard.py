"""In-kernel guard: the first cell of every graded run (its source is sent, never imported).

Runs in a fresh kernel before any student cell, so what it records is pristine: the dicts of
the modules tests rely on, IPython's and ipykernel's classes and hooks, sys's streams and hooks.
It then wraps ``shell.transform_cell`` (ipykernel calls it before any transformer sees a cell),
so that before every instructor cell (marked by a first line ``# lenet-guard:NONCE:KIND:ID``)
it puts everything back, clears input/AST transformers, custom exception handlers and trace
functions, rebinds the names instructor cells bound (``np``, ``expect_close``...), and records
what it had to repair. "Everything" includes the classes those modules hold (``torch.Tensor``,
``nn.Module``, ``torch.no_grad``...): a method added to or replaced on them is undone.
A replacement the library makes itself (``torch._dynamo`` wraps ``torch.manual_seed`` the first
time an optimizer steps) is undone too but not reported: a function whose code lives in the
library's own folder and that wraps (``__wrapped__``) the recorded original.
Test cells also call ``enter`` (history scrubbing, repairs again if the wrapper was bypassed)
and ``leave``, which prints a per-cell token: a test cell whose token is missing did not run to
its end, whatever its outputs say.

In-process defences can be defeated by code that runs in the same process and sets out to do
so; the static scan (autograder.tamper) flags the constructs that takes. This layer makes the
straightforward attacks fail and reports them.
"""

# ruff: noqa: B010  (setattr with constant names restores attributes by name on purpose)

import inspect


def guard_cell_source(nonce: str, protect: list[str]) -> str:
    """The source of the first cell: defines and runs the guard, leaving one global name."""
    return (
        f"{inspect.getsource(_install)}\n"
        f"{guard_name(nonce)} = _install({nonce!r}, {protect!r})\n"
        "del _install\n"
    )


def guard_name(nonce: str) -> str:
    return f"__lenet_guard_{nonce}"


def _install(nonce, protect):  # noqa: C901 - one closure on purpose: no reachable attributes
    import importlib
    import json
    import os
    import sys
    import threading
    import types

    shell = get_ipython()  # noqa: F821 - defined in the kernel
    kernel = getattr(shell, "kernel", None)
    modules = {}
    for name in protect:
        try:
            modules[name] = importlib.import_module(name)
        except ImportError:
            pass
    # Names builtins legitimately gains and loses between cells (IPython's builtin trap).
    # ipykernel swaps input() and sys's hooks while a cell runs: those are checked by enter(),
    # inside a running cell, never by the hook that runs between cells.
    volatile = {"_", "__", "___", "exit", "quit", "get_ipython", "display", "__IPYTHON__"}
    volatile |= {"input", "raw_input", "getpass"}
    running_only = {"displayhook"}
    results = {"_", "__", "___", "input", "raw_input", "getpass"}
    mod_dicts = {name: dict(vars(m)) for name, m in modules.items()}
    folders = {}
    for name in modules:
        root = sys.modules.get(name.split(".")[0])
        if getattr(root, "__file__", None):
            folders[name] = os.path.dirname(os.path.realpath(root.__file__)) + os.sep
    # Classes the protected modules hold, and their bases, where Python code can change them
    # (Py_TPFLAGS_IMMUTABLETYPE: int, np.ndarray, torch._C types cannot be).
    lib_classes = {}
    caches = {"__slotnames__"}  # copyreg caches it on a class the first time one is pickled
    for name, m in modules.items():
        for value in list(vars(m).values()):
            if isinstance(value, type):
                for klass in value.__mro__:
                    if klass is not object and not klass.__flags__ & (1 << 8):
                        lib_classes.setdefault(klass, (name, dict(vars(klass))))
    objects = [shell, kernel, shell.events, shell.history_manager, sys.stdout, sys.stderr]
    objects += [getattr(kernel, "session", None), shell.displayhook, shell.display_pub]
    objects = [o for o in objects if o is not None]
    classes = {c for o in objects for c in type(o).__mro__ if c is not object}
    class_dicts = {c: dict(vars(c)) for c in classes}
    inst_dicts = {id(o): (o, set(vars(o))) for o in objects if hasattr(o, "__dict__")}
    lists = {
        n: list(getattr(shell, n))
        for n in ("input_transformers_post", "ast_transformers")  # cleanup: tm_lists below
    }
    scalars = {n: getattr(shell, n) for n in ("custom_exceptions", "CustomTB")}
    scalars["input_transformer_manager"] = shell.input_transformer_manager
    tm = shell.input_transformer_manager
    tm_lists = {n: list(getattr(tm, n)) for n in ("cleanup_transforms", "line_transforms")}
    sys_attrs = {
        n: getattr(sys, n) for n in ("stdout", "stderr", "displayhook", "exit", "breakpointhook")
    }
    events = {k: list(v) for k, v in shell.events.callbacks.items()}
    transform_cell = shell.transform_cell
    marker = f"# lenet-guard:{nonce}:"
    findings = []
    bindings = {}
    state = {"prev": None, "hooked": set()}

    def note(kind, reason, cell):
        if (kind, reason, cell) not in findings:
            findings.append((kind, reason, cell))

    def repair(cell, running=False):
        if sys.gettrace() is not None or sys.getprofile() is not None:
            note("rewrites-cells", "a trace or profile function was installed", cell)
        sys.settrace(None)
        sys.setprofile(None)
        threading.settrace(None)
        threading.setprofile(None)
        for name, value in sys_attrs.items():
            if name in running_only and not running:
                continue
            if getattr(sys, name) is not value:
                note("hides-errors", f"sys.{name} was replaced", cell)
                setattr(sys, name, value)
        for name, saved in mod_dicts.items():
            current = vars(modules[name])
            for key, value in saved.items():
                if name == "builtins" and key in (results if running else volatile):
                    continue
                now = current.get(key, saved)
                if now is not value:
                    if not library_owned(now, value, name):
                        kind = "changes-builtins" if name == "builtins" else "monkeypatch"
                        note(kind, f"{name}.{key} was replaced or deleted", cell)
                    setattr(modules[name], key, value)
        for klass, (name, saved) in lib_classes.items():
            current = vars(klass)
            for key in [k for k in current if k not in saved] + list(saved):
                now, value = current.get(key, saved), saved.get(key, saved)
                if now is value or key in caches:
                    continue
                if not library_owned(now, value, name):
                    what = f"{klass.__module__}.{klass.__qualname__}.{key}"
                    note("monkeypatch", f"{what} was added, replaced or deleted", cell)
                if value is saved:
                    delattr(klass, key)
                else:
                    setattr(klass, key, value)
        for klass, saved in class_dicts.items():
            current = vars(klass)
            for key, value in saved.items():
                if current.get(key, saved) is not value:
                    note("rewrites-cells", f"{klass.__name__}.{key} was replaced", cell)
                    setattr(klass, key, value)
        for obj, keys in inst_dicts.values():
            for key in set(vars(obj)) - keys - {"transform_cell"}:
                if callable(vars(obj)[key]) or key in vars(type(obj)):
                    note("rewrites-cells", f"{type(obj).__name__}.{key} was overridden", cell)
                    delattr(obj, key)
        for name, saved in lists.items():
            if list(getattr(shell, name)) != saved:
                note("rewrites-cells", f"shell.{name} was changed", cell)
            setattr(shell, name, list(saved))
        for name, value in scalars.items():
            if getattr(shell, name) != value:  # bound methods are new objects on each access
                note("rewrites-cells", f"shell.{name} was changed", cell)
                setattr(shell, name, value)
        for name, saved in tm_lists.items():
            if list(getattr(tm, name)) != saved:
                note("rewrites-cells", f"input_transformer_manager.{name} was changed", cell)
            setattr(tm, name, list(saved))
        if shell.transform_cell is not guarded_transform:
            note("rewrites-cells", "shell.transform_cell was replaced", cell)
            shell.transform_cell = guarded_transform
        for key, saved in events.items():
            if list(shell.events.callbacks.get(key, [])) != saved:
                note("rewrites-cells", f"event callbacks for {key} were changed", cell)
            shell.events.callbacks[key] = list(saved)
        if getattr(sys.stderr, "closed", False) or getattr(sys.stdout, "closed", False):
            note("hides-errors", "sys.stdout or sys.stderr was closed", cell)
        ns = shell.user_ns
        for key, value in bindings.items():
            if ns.get(key, bindings) is not value:
                note("monkeypatch", f"the name {key!r} set by an instructor cell was rebound", cell)
                ns[key] = value

    def safe_repair(cell, running=False):
        try:
            repair(cell, running)
        except Exception as exc:  # a broken guard must not fail a student's test
            note("guard-error", f"the guard could not check everything: {exc!r}", cell)

    def library_owned(value, original, module_name):
        # torch._dynamo replaces torch.manual_seed by a wrapper of it: a function whose code
        # is torch's and whose __wrapped__ chain leads to the recorded original. A student's
        # functools.wraps copies __wrapped__ and __module__, never the code's file.
        folder = folders.get(module_name)
        if folder is None or module_name == "builtins" or not isinstance(value, types.FunctionType):
            return False
        if not os.path.realpath(value.__code__.co_filename).startswith(folder):
            return False
        for _ in range(8):
            value = vars(value).get("__wrapped__") if hasattr(value, "__dict__") else None
            if value is original:
                return True
            if value is None:
                return False
        return False

    def remember_bindings():
        # After an instructor cell: what it bound to modules, functions and classes of the
        # protected packages (np, expect_close, load_mnist...), never instances.
        kinds = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type)
        for key, value in list(shell.user_ns.items()):
            if key.startswith("_") or not isinstance(value, kinds):
                continue
            owner = getattr(value, "__module__", None) or getattr(value, "__name__", "")
            if isinstance(owner, str) and owner.split(".")[0] in roots:
                bindings[key] = value

    roots = {name.split(".")[0] for name in modules}

    def guarded_transform(raw_cell, *args, **kwargs):
        if state["prev"] in ("locked", "test"):
            remember_bindings()
            # Instructor cells may register callbacks (%matplotlib inline does): trust them.
            events.update({k: list(v) for k, v in shell.events.callbacks.items()})
        first = raw_cell.lstrip().split("\n", 1)[0]
        kind, cell = "student", None
        if first.startswith(marker):
            kind, _, cell = first[len(marker) :].partition(":")
        if kind in ("locked", "test", "report"):
            safe_repair(cell or None)
            state["hooked"].add(cell)
        state["prev"] = kind
        return transform_cell(raw_cell, *args, **kwargs)

    def scrub_history():
        hm = shell.history_manager
        for hist in (hm.input_hist_parsed, hm.input_hist_raw):
            if hist:
                hist[-1] = ""
        hm.db_input_cache[:] = []
        for key in ("_i", "_ii", "_iii", f"_i{shell.execution_count}"):
            shell.user_ns[key] = ""

    def enter(cell):
        scrub_history()
        if cell is not None and cell not in state["hooked"]:
            note("rewrites-cells", "the guard's cell hook did not run", cell)
        safe_repair(cell, running=True)
        state["hooked"].discard(cell)

    def leave(cell, token):
        sys.stdout.write(f"\n[lenet-guard {token}]\n")
        sys.stdout.flush()

    def report():
        kinds = [{"kind": k, "reason": r, "cell": c} for k, r, c in findings]
        return "[lenet-guard-report " + json.dumps(kinds) + "]"

    shell.transform_cell = guarded_transform
    scrub_history()
    return types.SimpleNamespace(enter=enter, leave=leave, report=report)
