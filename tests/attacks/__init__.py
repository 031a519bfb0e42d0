"""Attack submissions per assignment, graded by plain ``nbgrader autograde`` (test_tamper.py).

Each module ``aNN_name.py`` here declares ``ASSIGNMENT``, ``ATTACKS`` and, where the attacks do
not start from the untouched release, ``base(root)``: the notebook an attack's cells are put
into. Every batch also grades the correct solution, the blank release and the base with no
attack ("honest"): an attack may earn no point the honest base does not, and nothing in the
test cells it ``targets``. Classes of attack (``kind``), as issue 12 names them:

- ``output-injection``: student code emits an ``execute_result`` while a test runs (from a
  function the test calls, a dunder of a returned value, a background thread);
- ``takeover``: student code goes after the grader's machinery in its kernel (the agent that
  answers the test runner, anything it can find in ``dir()``);
- ``rebinding``: a student function rebinds ``expect_*`` or patches ``lenet_kit.checks`` while a
  test calls it;
- ``forged-values``: an ndarray / tensor / int subclass whose operators lie;
- ``peeking``: a student function reads the test's expected values (``__main__``, frames);
- ``delegation``: PyTorch, autograd or finite differences doing a NumPy exercise;
- ``poisoned-truth``: a student cell overwrites data a hidden test might take as truth;
- ``leaking``: a student function records the running cell (``get_parent()``, frames) and
  prints it, hoping the feedback shows hidden tests;
- ``classic``: what the corpus held before the trusted runner (transformers, monkeypatching,
  reading solutions, resource exhaustion...).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field

KINDS = {
    "output-injection", "takeover", "rebinding", "forged-values", "peeking", "delegation",
    "poisoned-truth", "leaking", "classic",
}  # fmt: skip


@dataclass(frozen=True)
class Attack:
    """One attack: ``cells`` replaces sources by grade_id in the base notebook.

    ``targets``: test cells that must score 0. ``flags``: flag kinds of which at least one must
    be raised (empty: grading need not have noticed anything). ``edit`` changes the notebook in
    other ways (metadata, deleting or moving cells). ``earns``: test cells the attack answers
    correctly on purpose (it may keep those points).
    """

    name: str
    kind: str
    cells: dict[str, str]
    targets: frozenset[str] = frozenset()
    flags: frozenset[str] = frozenset()
    edit: Callable | None = None
    earns: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: unknown kind {self.kind!r}")


@dataclass(frozen=True)
class Corpus:
    assignment: str
    attacks: list[Attack]
    base: Callable | None = None  # base(root) -> notebook; None: the release
    timeout: int = 60  # seconds per cell (attacks that loop forever end here)
    notes: dict = field(default_factory=dict)


def _collect() -> dict[str, Corpus]:
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        corpus = Corpus(
            module.ASSIGNMENT,
            list(module.ATTACKS),
            getattr(module, "base", None),
            getattr(module, "TIMEOUT", 60),
        )
        names = [a.name for a in corpus.attacks]
        if len(names) != len(set(names)):
            raise ValueError(f"{info.name}: attack names repeat")
        found[corpus.assignment] = corpus
    return found


CORPORA: dict[str, Corpus] = _collect()
