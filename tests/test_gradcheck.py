"""lenet_ref.gradcheck itself, and finite-difference checks of every layer (float64); the
convolution and pooling of both lenet_ref.layers and lenet_ref.fast_layers."""

from __future__ import annotations

import numpy as np
import pytest

from lenet_ref import fast_layers
from lenet_ref import layers as L
from lenet_ref.gradcheck import TOLERANCE, numerical_gradient, numerical_gradient_at, rel_error

RNG_SEED = 123


# --- the tools themselves --------------------------------------------------------------------
def test_numerical_gradient_of_known_function():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    dout = rng.standard_normal((3, 4))
    # f(x) = x^3 + sin(x) elementwise: d sum(f * dout)/dx = (3x^2 + cos x) * dout
    grad = numerical_gradient(lambda t: t**3 + np.sin(t), x, dout)
    assert grad.shape == x.shape
    assert rel_error(grad, (3 * x**2 + np.cos(x)) * dout) < 1e-9


def test_numerical_gradient_scalar_function_and_default_dout():
    x = np.array([0.3, -1.2, 2.0])
    grad = numerical_gradient(lambda t: float(np.sum(np.exp(t))), x)
    assert rel_error(grad, np.exp(x)) < 1e-9
    a = np.arange(6.0).reshape(2, 3)  # f(x) = a @ x: d sum(f) / dx = a.sum(axis=0)
    assert rel_error(numerical_gradient(lambda t: a @ t, x), a.sum(axis=0)) < 1e-9


def test_numerical_gradient_restores_x_exactly_and_perturbs_in_place():
    x = np.random.default_rng(1).standard_normal(5)
    before = x.copy()
    alias = x  # a function closing over x sees the perturbation
    grad = numerical_gradient(lambda _t: alias * 2.0, x, np.ones(5))
    np.testing.assert_array_equal(x, before)
    assert rel_error(grad, np.full(5, 2.0)) < 1e-9


def test_numerical_gradient_copies_outputs_that_view_x():
    # f returns a view of x: without a copy, the later perturbations would change f(x + h).
    x = np.random.default_rng(3).standard_normal((2, 3))
    np.testing.assert_allclose(numerical_gradient(lambda t: t.reshape(-1), x), np.ones((2, 3)))


def test_numerical_gradient_at_matches_full():
    x = np.random.default_rng(2).standard_normal((4, 3))
    f = np.tanh
    full = numerical_gradient(f, x)
    picked = [(0, 0), (3, 2), (1, 1)]
    np.testing.assert_array_equal(numerical_gradient_at(f, x, picked), [full[i] for i in picked])


def test_numerical_gradient_bad_inputs():
    with pytest.raises(TypeError, match="returned a tuple"):
        numerical_gradient(L.tanh_forward, np.zeros(3))
    with pytest.raises(TypeError, match="floating-point NumPy array"):
        numerical_gradient(np.tanh, np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match=r"dout has shape \(2,\) but f\(x\) has shape \(3,\)"):
        numerical_gradient(np.tanh, np.zeros(3), np.ones(2))


def test_rel_error():
    a = np.array([1.0, 2.0, 3.0])
    assert rel_error(a, a) == 0.0
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error(a, -a) == pytest.approx(1.0)
    assert rel_error(a, a * (1 + 1e-6)) == pytest.approx(1e-6 / (2 + 1e-6), rel=1e-6)
    assert rel_error(1e-8 * a, 2e-8 * a) == pytest.approx(1 / 3)  # scale-free
    with pytest.raises(ValueError, match="shapes differ"):
        rel_error(a, a[:2])


# --- every layer against finite differences --------------------------------------------------
def _check(forward, backward, inputs: list[np.ndarray]) -> list[float]:
    """Compare each analytic gradient of forward(*inputs) with numerical_gradient."""
    out, cache = forward(*inputs)
    dout = np.random.default_rng(RNG_SEED).standard_normal(out.shape)
    analytic = backward(dout, cache)
    analytic = analytic if isinstance(analytic, tuple) else (analytic,)
    errors = []
    for k, (a, grad) in enumerate(zip(inputs, analytic, strict=True)):

        def f(_a, k=k):
            return forward(*inputs)[0]

        errors.append(rel_error(grad, numerical_gradient(f, a, dout)))
    return errors


CONV_GC = [
    ((2, 3, 7, 7), (4, 3, 3, 3), 1, 1),
    ((1, 2, 9, 7), (3, 2, 3, 3), 2, 2),
    ((2, 2, 8, 8), (2, 2, 2, 5), 3, 0),
]


MODULES = {"layers": L, "fast_layers": fast_layers}


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("xs, ws, stride, pad", CONV_GC)
def test_conv2d_gradcheck(xs, ws, stride, pad, module):
    layers = MODULES[module]
    rng = np.random.default_rng(RNG_SEED)
    inputs = [rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])]
    errors = _check(
        lambda x, w, b: layers.conv2d_forward(x, w, b, stride=stride, pad=pad),
        layers.conv2d_backward,
        inputs,
    )
    assert max(errors) < TOLERANCE, errors


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize(
    "kind, size, stride", [("avg", 2, 2), ("avg", 3, 2), ("max", 2, 2), ("max", 3, 2)]
)
def test_pooling_gradcheck(kind, size, stride, module):
    forward = getattr(MODULES[module], f"{kind}pool2d_forward")
    backward = getattr(MODULES[module], f"{kind}pool2d_backward")
    # Distinct, well-separated values: no maximum is within h of a tie.
    x = np.random.default_rng(5).permutation(2 * 3 * 9 * 9).reshape(2, 3, 9, 9) * 0.01
    if size == 2:
        x = x[:, :, :8, :8].copy()
    errors = _check(lambda t: forward(t, size, stride), backward, [x.astype(np.float64)])
    assert max(errors) < TOLERANCE, errors


@pytest.mark.parametrize(
    "forward, backward",
    [
        (L.tanh_forward, L.tanh_backward),
        (L.scaled_tanh_forward, L.scaled_tanh_backward),
        (L.sigmoid_forward, L.sigmoid_backward),
        (L.relu_forward, L.relu_backward),
    ],
)
def test_activation_gradcheck(forward, backward):
    x = np.random.default_rng(6).standard_normal((3, 2, 4, 5))
    x[np.abs(x) < 1e-3] = 0.5  # keep ReLU away from its kink
    assert max(_check(forward, backward, [x])) < TOLERANCE


def test_dense_and_flatten_gradcheck():
    rng = np.random.default_rng(8)
    inputs = [rng.standard_normal((4, 7)), rng.standard_normal((7, 5)), rng.standard_normal(5)]
    assert max(_check(L.dense_forward, L.dense_backward, inputs)) < TOLERANCE
    x = rng.standard_normal((2, 3, 2, 2))
    assert max(_check(L.flatten_forward, L.flatten_backward, [x])) < TOLERANCE


def test_softmax_cross_entropy_gradcheck():
    rng = np.random.default_rng(9)
    logits, y = rng.standard_normal((5, 10)) * 3, rng.integers(0, 10, 5)
    _, dlogits = L.softmax_cross_entropy(logits, y)
    numeric = numerical_gradient(lambda z: L.softmax_cross_entropy(z, y)[0], logits, 1.0)
    assert rel_error(dlogits, numeric) < TOLERANCE


def test_gradcheck_detects_a_wrong_gradient():
    """The tolerance separates right from wrong: a gradient off by 1% fails it."""
    x = np.random.default_rng(10).standard_normal((2, 3))
    out, cache = L.tanh_forward(x)
    dout = np.ones_like(out)
    wrong = L.tanh_backward(dout, cache) * 1.01
    assert rel_error(wrong, numerical_gradient(np.tanh, x, dout)) > 1e-3 > TOLERANCE
