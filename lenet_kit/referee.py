"""PyTorch as the referee of your NumPy layers, in notebooks 06 and 07.

Before notebooks 06 and 07 build a network on the layer functions you wrote in 01-05, a cell
checks each of them against PyTorch::

    from lenet_kit.referee import check_layers
    check_layers(globals())

:func:`check_against_torch` runs one of your layers and its PyTorch counterpart on the same
random inputs in float64, forward and backward (PyTorch's gradients come from autograd), and
says what disagrees; :func:`check_layers` does it for every function of notebook 06's table,
names a function that is missing or raises, and fails with the list.

This is given check code, not an answer: PyTorch is imported only when a check runs. While a
NumPy notebook is graded PyTorch is not importable in your kernel (:mod:`lenet_kit.policy`), so
notebook 06 skips its check cell there; the tests check your functions anyway.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from lenet_kit.checks import CheckFailed

#: The functions notebooks 06 and 07 build on, by the notebook that asks for them.
LAYER_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "01_mnist": ("pad_to_32", "scale_lecun"),
    "02_convolution": ("conv2d_forward",),
    "03_pooling_activations": (
        "avgpool2d_forward",
        "maxpool2d_forward",
        "relu_forward",
        "tanh_forward",
    ),
    "04_dense_softmax": ("flatten_forward", "dense_forward"),
    "05_backprop": (
        "conv2d_backward",
        "avgpool2d_backward",
        "maxpool2d_backward",
        "relu_backward",
        "tanh_backward",
        "flatten_backward",
        "dense_backward",
        "softmax_cross_entropy",
    ),
}
#: Every name of :data:`LAYER_FUNCTIONS`, in the order of the notebooks.
ALL_LAYER_FUNCTIONS: tuple[str, ...] = tuple(n for names in LAYER_FUNCTIONS.values() for n in names)

#: How closely float64 results must agree with PyTorch's.
RTOL, ATOL = 1e-6, 1e-8


def _agree(a: Any, b: Any) -> bool:
    return np.shape(a) == np.shape(b) and bool(np.allclose(a, b, rtol=RTOL, atol=ATOL))


def _raised(name: str, what: str, exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" (in {frame.name}, line {frame.lineno})" if frame is not None else ""
    message = f": {exc}" if str(exc) else ""
    return f"{name}: {what} raised {type(exc).__name__}{message}{where}"


def check_against_torch(
    name: str,
    ours_fwd: Callable,
    ours_bwd: Callable | None,
    theirs: Callable,
    inputs: Sequence[np.ndarray],
    extra: Sequence[Any] = (),
    *,
    seed: int = 0,
) -> list[str]:
    """What disagrees between your layer and PyTorch's on ``inputs`` (float64); [] if nothing.

    ``ours_fwd(*inputs, *extra)`` must return ``(out, cache)`` and ``ours_bwd(dout, cache)`` the
    gradient of each input (a tuple when there are several), as in notebook 05.
    ``theirs(*tensors, *extra)`` computes the same with PyTorch; its gradients come from
    autograd, for the backward pass of ``sum(out * dout)`` with a random ``dout``. Without
    ``ours_bwd`` only the forward pass is compared.
    """
    import torch

    tensors = [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in inputs]
    expected = theirs(*tensors, *extra)
    try:
        result = ours_fwd(*[np.asarray(a, dtype=np.float64) for a in inputs], *extra)
    except Exception as exc:  # a stub, or a bug: reported by name, the other checks still run
        return [_raised(name, "the forward pass", exc)]
    if not (isinstance(result, tuple) and len(result) == 2):
        return [f"{name}: the forward pass should return (out, cache), got {type(result).__name__}"]
    out, cache = result
    if np.shape(out) != tuple(expected.shape):
        return [
            f"{name}: forward output has shape {np.shape(out)}, PyTorch's {tuple(expected.shape)}"
        ]
    if not _agree(out, expected.detach().numpy()):
        worst = float(np.max(np.abs(np.asarray(out) - expected.detach().numpy())))
        return [f"{name}: forward output differs from PyTorch (largest difference {worst:.2e})"]
    if ours_bwd is None:
        return []
    dout = np.random.default_rng(seed).standard_normal(tuple(expected.shape))
    try:
        grads = ours_bwd(dout, cache)
    except Exception as exc:
        return [_raised(name, "the backward pass", exc)]
    grads = grads if isinstance(grads, tuple) else (grads,)
    (expected * torch.from_numpy(dout)).sum().backward()
    if len(grads) != len(tensors):
        return [
            f"{name}: the backward pass returned {len(grads)} gradients, expected {len(tensors)}"
        ]
    return [
        f"{name}: gradient {i} (of input {i}) differs from PyTorch's autograd"
        for i, (g, t) in enumerate(zip(grads, tensors, strict=True))
        if not _agree(g, t.grad.numpy())
    ]


def _softmax_problems(softmax_cross_entropy: Callable, rng: np.random.Generator) -> list[str]:
    import torch
    import torch.nn.functional as F

    name = "softmax_cross_entropy"
    logits = 30 * rng.standard_normal((5, 10))
    logits[0] += 1000  # exp(1000) overflows float64 (exp(710) already does): subtract the max
    labels = rng.integers(0, 10, 5)
    try:
        with np.errstate(over="raise", invalid="raise"):
            loss, dlogits = softmax_cross_entropy(logits, labels)
    except FloatingPointError as exc:
        return [f"{name}: overflowed on logits near 1000 ({exc}): subtract each row's maximum"]
    except Exception as exc:
        return [_raised(name, "the call", exc)]
    t_logits = torch.tensor(logits, requires_grad=True)
    t_loss = F.cross_entropy(t_logits, torch.from_numpy(labels))
    t_loss.backward()
    if not np.isclose(float(loss), t_loss.item(), rtol=RTOL, atol=ATOL):
        return [f"{name}: loss {float(loss):.6g}, PyTorch's cross_entropy {t_loss.item():.6g}"]
    if not _agree(dlogits, t_logits.grad.numpy()):
        return [f"{name}: dlogits differ from the gradient of PyTorch's cross_entropy"]
    return []


def _transform_problems(pad_to_32: Callable | None, scale_lecun: Callable | None) -> list[str]:
    images = (np.arange(2 * 28 * 28) % 255 + 1).astype(np.uint8).reshape(2, 28, 28)
    problems = []
    try:
        if pad_to_32 is None:
            raise LookupError  # reported as missing
        padded = np.asarray(pad_to_32(images))
        border = np.array(padded, dtype=np.int64)
        if border.shape == (2, 32, 32):
            border[:, 2:30, 2:30] = 0
        if (
            border.shape != (2, 32, 32)
            or border.any()
            or not np.array_equal(padded[:, 2:30, 2:30], images)
        ):
            problems.append(
                "pad_to_32: (2, 28, 28) digits should come back as (2, 32, 32), each digit in "
                "the middle of a 2-pixel frame of zeros"
            )
    except LookupError:
        pass
    except Exception as exc:
        problems.append(_raised("pad_to_32", "the call", exc))
    if scale_lecun is None:
        return problems
    try:
        scaled = np.asarray(scale_lecun(np.array([0, 255], dtype=np.uint8)), dtype=np.float64)
        if not np.allclose(scaled, [-0.1, 1.175], atol=1e-6):
            problems.append(f"scale_lecun: maps 0 and 255 to {scaled}, expected [-0.1, 1.175]")
    except Exception as exc:
        problems.append(_raised("scale_lecun", "the call", exc))
    return problems


def layer_problems(namespace: Mapping[str, Any]) -> list[str]:
    """What is missing from ``namespace`` (a notebook's ``globals()``) or disagrees with PyTorch,
    for every function of :data:`LAYER_FUNCTIONS`; [] if all agree."""
    import torch
    import torch.nn.functional as F

    missing = [n for n in ALL_LAYER_FUNCTIONS if not callable(namespace.get(n))]
    problems = [
        f"{n}: not defined here (notebook {a} was not found, or does not define it): "
        "paste it into the cell above"
        for a, names in LAYER_FUNCTIONS.items()
        for n in names
        if n in missing
    ]
    fn = {n: namespace[n] for n in ALL_LAYER_FUNCTIONS if n not in missing}

    def pair(label: str, forward: str, backward: str, theirs: Callable, inputs, extra=()):
        if forward not in fn or backward not in fn:
            return []  # reported as missing above
        return check_against_torch(label, fn[forward], fn[backward], theirs, inputs, extra)

    def conv(x, w, b, s, p):
        return F.conv2d(x, w, b, stride=s, padding=p)

    rng = np.random.default_rng(6)
    x4 = rng.standard_normal((2, 3, 8, 8))
    problems += _transform_problems(fn.get("pad_to_32"), fn.get("scale_lecun"))
    conv_inputs = [x4, rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)]
    problems += pair(
        "conv2d (pad 1)", "conv2d_forward", "conv2d_backward", conv, conv_inputs, (1, 1)
    )
    strided = [rng.standard_normal(s) for s in ((2, 2, 9, 9), (3, 2, 3, 3), (3,))]
    problems += pair(
        "conv2d (stride 2)", "conv2d_forward", "conv2d_backward", conv, strided, (2, 0)
    )
    for kind, theirs in (("avg", F.avg_pool2d), ("max", F.max_pool2d)):
        forward, backward = f"{kind}pool2d_forward", f"{kind}pool2d_backward"
        problems += pair(f"{kind}pool2d", forward, backward, theirs, [x4], (2, 2))
    problems += pair("relu", "relu_forward", "relu_backward", torch.relu, [x4])
    problems += pair("tanh", "tanh_forward", "tanh_backward", torch.tanh, [x4])
    flat = lambda x: x.flatten(1)  # noqa: E731
    problems += pair("flatten", "flatten_forward", "flatten_backward", flat, [x4])
    dense_inputs = [rng.standard_normal(s) for s in ((4, 5), (5, 3), (3,))]
    dense = lambda x, w, b: x @ w + b  # noqa: E731
    problems += pair("dense", "dense_forward", "dense_backward", dense, dense_inputs)
    if "softmax_cross_entropy" in fn:
        problems += _softmax_problems(fn["softmax_cross_entropy"], rng)
    return problems


def check_layers(namespace: Mapping[str, Any]) -> None:
    """Check every layer function in ``namespace`` against PyTorch; raise :class:`CheckFailed`
    listing what to fix, or print that all agree."""
    problems = layer_problems(namespace)
    if problems:
        raise CheckFailed("Fix these functions before you go on:\n  " + "\n  ".join(problems))
    print(
        f"All {len(ALL_LAYER_FUNCTIONS)} of your layer functions agree with PyTorch, "
        "forward and backward."
    )
