"""Finite-difference gradient checks.

``numerical_gradient(f, x, dout)`` estimates d/dx of ``sum(f(x) * dout)`` by centred differences,
perturbing ``x`` in place (so ``f`` may close over other arrays that share memory) and restoring
it exactly. Compare with an analytic gradient using ``rel_error(a, b)`` = ||a - b|| /
max(1e-12, ||a|| + ||b||) (Frobenius norms over all entries).

Tolerances, measured in float64 with h = 1e-5 (random inputs of unit scale; see
tests/test_gradcheck.py and tests/test_numpy_lenet.py):

- correct code gives rel_error of 1e-12 to 1e-10 for single layers and up to about 2e-9 for
  the loss of the whole LeNet-5 with respect to its parameters, so **rel_error < 1e-7 passes**
  (``TOLERANCE``) with a 50x margin;
- a bug (a missing factor, a transposed weight, a wrong sign) gives 1e-3 or more: a gradient off
  by only 1% already gives 5e-3;
- between 1e-7 and 1e-4: suspect a kink (ReLU or max pooling evaluated within h of a
  non-differentiable point); move the test point and look again.

Always check in float64: in float32 the rounding error of f, divided by 2h, swamps the
estimate (whole network, h = 1e-3: rel_error about 1e-3 even for correct code).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

#: rel_error below this means "the analytic gradient is right" (float64, h = 1e-5).
TOLERANCE = 1e-7


def _evaluate(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    value = f(x)
    if isinstance(value, tuple):
        raise TypeError(
            "numerical_gradient: f returned a tuple; it must return the output array only. "
            "For a layer, wrap it: lambda x: conv2d_forward(x, w, b)[0]."
        )
    # A copy: f may return a view of x (reshape, flatten), which the next perturbation changes.
    return np.array(value, dtype=np.float64)


def numerical_gradient_at(
    f: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    indices: Iterable[tuple[int, ...]],
    dout: np.ndarray | float | None = None,
    h: float = 1e-5,
) -> np.ndarray:
    """Centred-difference estimates of d sum(f(x) * dout) / dx[i] at the given ``indices`` only.

    Returns a float64 array with one estimate per index, in order. Use it for large arrays,
    where checking every entry (two evaluations of f each) would be slow.
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            "numerical_gradient: x must be a floating-point NumPy array (it is perturbed in "
            f"place); got {type(x).__name__} of dtype {getattr(x, 'dtype', None)}."
        )
    if h <= 0:
        raise ValueError(f"numerical_gradient: h must be positive, got {h}.")
    weights = None if dout is None else np.asarray(dout, dtype=np.float64)
    estimates = []
    for index in indices:
        original = x[index]
        x[index] = original + h
        plus = _evaluate(f, x)
        x[index] = original - h
        minus = _evaluate(f, x)
        x[index] = original
        if weights is not None and weights.shape not in ((), plus.shape):
            raise ValueError(
                f"numerical_gradient: dout has shape {weights.shape} but f(x) has shape "
                f"{plus.shape}; they must match (or pass a scalar)."
            )
        diff = plus - minus if weights is None else (plus - minus) * weights
        estimates.append(np.sum(diff) / (2 * h))
    return np.array(estimates, dtype=np.float64)


def numerical_gradient(
    f: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    dout: np.ndarray | float | None = None,
    h: float = 1e-5,
) -> np.ndarray:
    """Centred-difference gradient of ``sum(f(x) * dout)`` with respect to every entry of x.

    f: function of x returning an array (or a scalar); x: float array, perturbed in place one
    entry at a time and restored; dout: array of f(x)'s shape, a scalar, or None (= ones).
    Returns an array of x's shape (float64).
    """
    flat = numerical_gradient_at(f, x, np.ndindex(x.shape), dout, h)
    return flat.reshape(x.shape)


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Norm-based relative error ||a - b|| / max(1e-12, ||a|| + ||b||); 0 for equal arrays."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ: {a.shape} and {b.shape}.")
    return float(np.linalg.norm(a - b) / max(1e-12, np.linalg.norm(a) + np.linalg.norm(b)))
