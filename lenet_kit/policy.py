"""What each assignment's answers may use while it is graded (and validated).

The NumPy notebooks (02 to 06) ask for layers, their backward passes and a trained network
written with NumPy: while they are graded, the modules below are not importable in the
student's kernel (the sandbox removes their files; :func:`lenet_kit.agent.block_imports` also
refuses the import with a message). The tests keep PyTorch on the trusted side, as a reference.
05's backward passes must also be analytic: its hidden tests call them on inputs large enough
that finite differences cannot finish within the time limit the notebook states.

The notebooks that train a network (06, 08, 10) grade it by the test accuracy its weights reach;
the bar each must clear is :data:`ACCURACY_BARS`, read by their hidden tests, the grader's
accuracy-claim flags and benchmarks/calibrate_accuracy.py.
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


#: Test accuracy each trained network must reach, calibrated over seeds 0-9 of the solution
#: (benchmarks/calibrate_accuracy.py): every calibrated seed clears it.
ACCURACY_BARS: dict[str, float] = {
    "06_numpy_lenet": 0.965,
    "08_gpu_training": 0.99,
    "10_lecun1998": 0.985,
}


def accuracy_bar(assignment: str | None) -> float | None:
    """The test accuracy ``assignment``'s trained network must reach (None: not graded so)."""
    return ACCURACY_BARS.get(assignment or "")
