"""What each assignment's answers may use while it is graded (and validated).

The NumPy notebooks (02 to 06) ask for layers, their backward passes and a trained network
written with NumPy: while they are graded, the modules below are not importable in the
student's kernel (the sandbox removes their files; :func:`lenet_kit.agent.block_imports` also
refuses the import with a message). The tests keep PyTorch on the trusted side, as a reference.
05's backward passes must also be analytic: its hidden tests call them on inputs large enough
that finite differences cannot finish within the time limit the notebook states.
"""

from __future__ import annotations

#: Libraries that would do a NumPy exercise for the student (convolution, pooling, autograd).
NUMPY_ONLY = ("torch", "torchvision", "torchaudio", "functorch", "jax", "tensorflow", "keras",
              "scipy", "sklearn", "cupy", "numba")  # fmt: skip

BLOCKED: dict[str, tuple[str, ...]] = {
    "02_convolution": NUMPY_ONLY,
    "03_pooling_activations": NUMPY_ONLY,
    "04_dense_softmax": NUMPY_ONLY,
    "05_backprop": NUMPY_ONLY,
    "06_numpy_lenet": NUMPY_ONLY,
}


def blocked_modules(assignment: str | None) -> tuple[str, ...]:
    """Top-level modules the student's code may not import while ``assignment`` is graded."""
    return BLOCKED.get(assignment or "", ())


def reason(assignment: str | None) -> str:
    """The sentence a blocked import's error gives the student."""
    return (
        f"while {assignment} is graded your answers must use NumPy only (PyTorch and other "
        "deep-learning libraries are for the tests' reference values); write the operation "
        "with NumPy"
    )
