"""lenet_ref.layers (the taught layers) and lenet_ref.fast_layers (the fast ones) against
PyTorch autograd (float64), plus dtypes, ties and error messages: both modules pass every test."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lenet_ref import fast_layers, layers

torch.set_num_threads(1)
TOL = 1e-9  # max |ours - torch| / max |torch|, float64
MODULES = {"layers": layers, "fast_layers": fast_layers}


@pytest.fixture(params=list(MODULES))
def L(request):
    """Each layer module in turn: the tests below run once for each."""
    return MODULES[request.param]


def max_rel(ours: np.ndarray, ref: torch.Tensor | np.ndarray) -> float:
    ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    return float(np.max(np.abs(ours - ref)) / max(np.max(np.abs(ref)), 1e-300))


def torch_vjp(fn, arrays: list[np.ndarray], dout: np.ndarray):
    """PyTorch's output of fn(*arrays) and the gradients of sum(out * dout) w.r.t. each array."""
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    out.backward(torch.tensor(dout))
    return out, [t.grad for t in tensors]


# (N, C, H, W, F, KH, KW, stride, pad): kernel sizes 1-5, stride 1-3, pad 0-2, odd and
# non-square inputs and kernels, batch 1.
CONV_CASES = [
    (1, 1, 32, 32, 6, 5, 5, 1, 0),  # LeNet C1, batch 1
    (2, 6, 14, 14, 16, 5, 5, 1, 0),  # LeNet C3
    (2, 1, 28, 28, 6, 5, 5, 1, 2),  # C1 on unpadded MNIST, pad 2
    (2, 3, 7, 9, 4, 3, 3, 1, 1),  # odd, non-square input
    (3, 2, 11, 11, 3, 5, 5, 3, 0),  # stride 3
    (2, 2, 9, 7, 3, 3, 3, 2, 2),  # stride 2, pad 2, odd sizes
    (2, 3, 6, 5, 2, 1, 1, 1, 0),  # 1x1 kernel
    (1, 3, 6, 6, 2, 2, 2, 2, 0),  # 2x2 kernel, stride 2
    (1, 2, 8, 10, 2, 2, 4, 2, 0),  # non-square kernel
    (2, 4, 11, 11, 3, 4, 4, 3, 1),  # 4x4 kernel, stride 3, pad 1
    (1, 2, 5, 5, 3, 5, 5, 1, 0),  # output 1x1
    (8, 1, 32, 32, 6, 5, 5, 1, 0),  # 6,272 columns of 25 rows: the blocked matrix products
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[str(c) for c in CONV_CASES])
def test_conv2d_matches_torch(case, L):
    n, c, h, w_, f, kh, kw, stride, pad = case
    rng = np.random.default_rng(sum(case))
    x = rng.standard_normal((n, c, h, w_))
    w = rng.standard_normal((f, c, kh, kw))
    b = rng.standard_normal(f)
    out, cache = L.conv2d_forward(x, w, b, stride=stride, pad=pad)
    dout = rng.standard_normal(out.shape)
    ref, (dx_ref, dw_ref, db_ref) = torch_vjp(
        lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=pad), [x, w, b], dout
    )
    dx, dw, db = L.conv2d_backward(dout, cache)
    assert max_rel(out, ref) <= TOL
    assert max_rel(dx, dx_ref) <= TOL
    assert max_rel(dw, dw_ref) <= TOL
    assert max_rel(db, db_ref) <= TOL


@pytest.mark.parametrize("case", CONV_CASES[2:], ids=[str(c) for c in CONV_CASES[2:]])
def test_conv2d_naive_agrees_with_vectorized(case, L):
    n, c, h, w_, f, kh, kw, stride, pad = case
    rng = np.random.default_rng(sum(case) + 1)
    x, w, b = (rng.standard_normal(s) for s in ((n, c, h, w_), (f, c, kh, kw), (f,)))
    naive = layers.conv2d_forward_naive(x, w, b, stride=stride, pad=pad)
    fast, _ = L.conv2d_forward(x, w, b, stride=stride, pad=pad)
    assert naive.shape == fast.shape
    assert max_rel(naive, fast) <= 1e-12


def test_conv2d_backward_accepts_any_dout_layout(L):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3)), np.zeros(4)
    out, cache = L.conv2d_forward(x, w, b)
    dout = rng.standard_normal(out.shape)
    grads_c = L.conv2d_backward(np.ascontiguousarray(dout), cache)
    grads_f = L.conv2d_backward(np.asfortranarray(dout), cache)
    for a, b_ in zip(grads_c, grads_f, strict=True):
        np.testing.assert_array_equal(a, b_)


# (N, C, H, W, size, stride): overlapping (3/2, 4/2) and non-overlapping windows, odd and
# non-square inputs, batch 1.
POOL_CASES = [
    (2, 6, 28, 28, 2, 2),
    (1, 16, 10, 10, 2, 2),
    (2, 3, 7, 7, 3, 2),
    (2, 2, 9, 5, 3, 2),
    (1, 2, 6, 9, 3, 3),
    (2, 2, 8, 8, 4, 2),
    (2, 1, 5, 5, 1, 1),
]
POOLS = {"avg": F.avg_pool2d, "max": F.max_pool2d}


def pair(module, name: str):
    """The forward and backward functions called ``name`` in ``module``."""
    return getattr(module, f"{name}_forward"), getattr(module, f"{name}_backward")


@pytest.mark.parametrize("kind", POOLS)
@pytest.mark.parametrize("case", POOL_CASES, ids=[str(c) for c in POOL_CASES])
def test_pooling_matches_torch(kind, case, L):
    n, c, h, w, size, stride = case
    (forward, backward), torch_pool = pair(L, f"{kind}pool2d"), POOLS[kind]
    rng = np.random.default_rng(sum(case))
    x = rng.standard_normal((n, c, h, w))
    out, cache = forward(x, size=size, stride=stride)
    dout = rng.standard_normal(out.shape)
    ref, (dx_ref,) = torch_vjp(lambda x: torch_pool(x, size, stride), [x], dout)
    assert max_rel(out, ref) <= TOL
    assert max_rel(backward(dout, cache), dx_ref) <= TOL


@pytest.mark.parametrize("hw, size, stride", [(8, 2, 2), (7, 3, 2), (7, 3, 1)])
def test_maxpool_ties_go_to_first_maximum(hw, size, stride, L):
    """Constant input: every window is a tie; each window's gradient goes to its top-left."""
    x = np.full((1, 2, hw, hw), 0.5)
    out, cache = L.maxpool2d_forward(x, size=size, stride=stride)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    dx = L.maxpool2d_backward(dout, cache)
    expected = np.zeros_like(x)
    oh, ow = out.shape[2:]
    for i in range(oh):
        for j in range(ow):
            expected[:, :, i * stride, j * stride] += dout[:, :, i, j]
    np.testing.assert_allclose(dx, expected, rtol=0, atol=1e-15)
    _, (dx_ref,) = torch_vjp(lambda t: F.max_pool2d(t, size, stride), [x], dout)
    assert max_rel(dx, dx_ref) <= TOL


def test_maxpool_partial_tie_row_major_order(L):
    # Window [[1, 3], [3, 2]]: the maximum 3 appears at (0, 1) and (1, 0); (0, 1) comes first.
    x = np.array([[[[1.0, 3.0], [3.0, 2.0]]]])
    out, cache = L.maxpool2d_forward(x)
    assert out.item() == 3.0
    dx = L.maxpool2d_backward(np.ones_like(out), cache)
    np.testing.assert_array_equal(dx, [[[[0.0, 1.0], [0.0, 0.0]]]])


def _scaled_tanh_torch(x):
    return 1.7159 * torch.tanh(x * (2.0 / 3.0))


ACTIVATIONS = {
    "tanh": torch.tanh,
    "scaled_tanh": _scaled_tanh_torch,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
}


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (4, 9), (1,)])
def test_activation_matches_torch(name, shape, L):
    (forward, backward), torch_fn = pair(L, name), ACTIVATIONS[name]
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape) * 3
    x.flat[0] = 0.0  # ReLU's kink: gradient 0, as in PyTorch
    if x.size > 2:
        x.flat[1], x.flat[2] = 40.0, -40.0  # saturation; sigmoid must not overflow
    out, cache = forward(x)
    dout = rng.standard_normal(shape)
    ref, (dx_ref,) = torch_vjp(torch_fn, [x], dout)
    assert max_rel(out, ref) <= TOL
    assert max_rel(backward(dout, cache), dx_ref) <= TOL


def test_sigmoid_extreme_inputs_exact_and_quiet(L):
    x = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        out, _ = L.sigmoid_forward(x)
    ref = torch.sigmoid(torch.tensor(x)).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=0)


@pytest.mark.parametrize("n, d, m", [(1, 7, 3), (5, 400, 120), (3, 84, 10)])
def test_dense_matches_torch(n, d, m, L):
    rng = np.random.default_rng(n * d * m)
    x, w, b = rng.standard_normal((n, d)), rng.standard_normal((d, m)), rng.standard_normal(m)
    out, cache = L.dense_forward(x, w, b)
    dout = rng.standard_normal(out.shape)
    ref, (dx_ref, dw_ref, db_ref) = torch_vjp(lambda x, w, b: x @ w + b, [x, w, b], dout)
    dx, dw, db = L.dense_backward(dout, cache)
    for ours, theirs in ((out, ref), (dx, dx_ref), (dw, dw_ref), (db, db_ref)):
        assert max_rel(ours, theirs) <= TOL


def test_flatten_matches_torch_order(L):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 16, 5, 5))
    out, cache = L.flatten_forward(x)
    dout = rng.standard_normal(out.shape)
    ref, (dx_ref,) = torch_vjp(lambda t: torch.flatten(t, 1), [x], dout)
    np.testing.assert_array_equal(out, ref.detach().numpy())
    np.testing.assert_array_equal(L.flatten_backward(dout, cache), dx_ref.numpy())


@pytest.mark.parametrize("scale", [1.0, 1e4])
def test_softmax_cross_entropy_matches_torch(scale, L):
    rng = np.random.default_rng(7)
    logits = rng.standard_normal((6, 10)) * scale
    logits[0, :2] = [1e4, -1e4]
    y = rng.integers(0, 10, size=6)
    loss, dlogits = L.softmax_cross_entropy(logits, y)
    t = torch.tensor(logits, requires_grad=True)
    ref = F.cross_entropy(t, torch.tensor(y))
    ref.backward()
    assert isinstance(loss, float) and np.isfinite(loss)
    assert abs(loss - ref.item()) <= TOL * max(1.0, abs(ref.item()))
    assert max_rel(dlogits, t.grad) <= TOL
    assert max_rel(L.softmax(logits), torch.softmax(t, dim=1)) <= TOL


def test_softmax_cross_entropy_batch_of_one_float32(L):
    logits = np.array([[2.0, -1.0, 0.5]], dtype=np.float32)
    loss, dlogits = L.softmax_cross_entropy(logits, np.array([2]))
    p = np.exp(logits[0] - logits[0].max())
    p /= p.sum()
    assert loss == pytest.approx(-np.log(p[2]), rel=1e-6)
    assert dlogits.dtype == np.float32
    np.testing.assert_allclose(dlogits[0], p - np.eye(3)[2], rtol=1e-5)


def test_cross_entropy_is_the_loss_of_softmax_cross_entropy():
    rng = np.random.default_rng(8)
    logits, y = rng.standard_normal((5, 10)) * 30, rng.integers(0, 10, size=5)
    ref = F.cross_entropy(torch.tensor(logits), torch.tensor(y)).item()
    assert layers.cross_entropy(logits, y) == pytest.approx(ref, rel=TOL)
    assert layers.cross_entropy(logits, y) == layers.softmax_cross_entropy(logits, y)[0]


def test_conv_output_size():
    assert layers.conv_output_size(32, 5) == 28
    assert layers.conv_output_size(7, 3, stride=2, pad=1) == 4
    with pytest.raises(ValueError, match="stride 2 does not fit"):
        layers.conv_output_size(8, 5, stride=2)
    with pytest.raises(ValueError, match="does not fit"):
        layers.conv_output_size(3, 5)


def test_fast_conv2d_backward_can_skip_the_input_gradient():
    rng = np.random.default_rng(9)
    x, w, b = rng.standard_normal((2, 1, 8, 8)), rng.standard_normal((3, 1, 5, 5)), np.zeros(3)
    out, cache = fast_layers.conv2d_forward(x, w, b)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = fast_layers.conv2d_backward(dout, cache, input_grad=False)
    _, dw_all, db_all = fast_layers.conv2d_backward(dout, cache)
    assert dx is None
    np.testing.assert_array_equal(dw, dw_all)
    np.testing.assert_array_equal(db, db_all)


# --- dtypes ----------------------------------------------------------------------------------
def _all_layers_once(L, dtype):
    """Run every forward and backward in ``dtype``; yield (name, array) for each output."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 8, 8)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    out, cache = L.conv2d_forward(x, w, b, pad=1)
    yield "conv2d_forward_naive", layers.conv2d_forward_naive(x, w, b, pad=1)
    yield "conv2d_forward", out
    yield from zip(("conv dx", "conv dw", "conv db"), L.conv2d_backward(out, cache), strict=True)
    for name in [f"{kind}pool2d" for kind in POOLS] + list(ACTIVATIONS):
        fwd, bwd = pair(L, name)
        o, c = fwd(x)
        yield name, o
        yield name + " backward", bwd(o, c)
    o, c = L.flatten_forward(x)
    yield "flatten", o
    wd, bd = rng.standard_normal((192, 5)).astype(dtype), np.zeros(5, dtype)
    o, c = L.dense_forward(o, wd, bd)
    yield "dense", o
    yield from zip(("dense dx", "dense dw", "dense db"), L.dense_backward(o, c), strict=True)
    _, d = L.softmax_cross_entropy(o, np.array([0, 4]))
    yield "dlogits", d


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_output_dtype_follows_input(dtype, L):
    for name, array in _all_layers_once(L, dtype):
        assert array.dtype == dtype, f"{name}: {array.dtype}"


# --- errors ----------------------------------------------------------------------------------
def _conv(L, x_shape, w_shape, b_shape=None, **kw):
    b_shape = (w_shape[0],) if b_shape is None else b_shape
    return L.conv2d_forward(np.zeros(x_shape), np.zeros(w_shape), np.zeros(b_shape), **kw)


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda L: _conv(L, (2, 3, 32, 32), (6, 1, 5, 5)),
            r"x has 3 channels but w expects 1 \(.*w.shape=\(6, 1, 5, 5\)",
        ),
        (lambda L: _conv(L, (2, 1, 32, 32), (6, 1, 5, 5), (5,)), r"b has shape \(5,\).*\(6,\)"),
        (lambda L: _conv(L, (1, 32, 32), (6, 1, 5, 5)), r"x must be 4-D.*\(1, 32, 32\).*x\[None\]"),
        (
            lambda L: _conv(L, (1, 1, 3, 3), (6, 1, 5, 5)),
            r"does not fit.*output height would be < 1",
        ),
        (lambda L: _conv(L, (1, 1, 8, 8), (6, 1, 5, 5), stride=2), r"stride 2 does not fit"),
        (
            lambda L: _conv(L, (1, 1, 8, 8), (6, 1, 5, 5), stride=0),
            r"stride must be an integer >= 1",
        ),
        (lambda L: _conv(L, (1, 1, 8, 8), (6, 1, 5, 5), pad=-1), r"pad must be an integer >= 0"),
        (
            lambda L: layers.conv2d_forward_naive(
                np.zeros((1, 2, 8, 8)), np.zeros((3, 1, 3, 3)), [0.0] * 3
            ),
            r"x has 2 channels but w expects 1",
        ),
        (
            lambda L: L.dense_forward(np.zeros((2, 400)), np.zeros((120, 84)), np.zeros(84)),
            r"x has 400 features but w expects 120",
        ),
        (
            lambda L: L.dense_forward(np.zeros((2, 3, 4)), np.zeros((12, 2)), np.zeros(2)),
            r"x must be 2-D",
        ),
        (lambda L: L.maxpool2d_forward(np.zeros((1, 1, 7, 7)), 2, 2), r"stride 2 does not fit"),
        (lambda L: L.avgpool2d_forward(np.zeros((1, 1, 1, 1)), 2, 2), r"output height would be"),
        (lambda L: L.avgpool2d_forward(np.zeros((8, 8))), r"x must be 4-D"),
        (
            lambda L: L.softmax_cross_entropy(np.zeros((3, 10)), np.array([0, 1])),
            r"y has shape \(2,\).*\(3, 10\)",
        ),
        (
            lambda L: L.softmax_cross_entropy(np.zeros((2, 10)), np.array([0, 10])),
            r"labels must be in \[0, 10\)",
        ),
    ],
)
def test_bad_input_raises_value_error(call, match, L):
    with pytest.raises(ValueError, match=match):
        call(L)


def test_integer_input_raises_type_error(L):
    with pytest.raises(TypeError, match=r"x must be a floating-point array, got dtype int64"):
        L.conv2d_forward(np.zeros((1, 1, 5, 5), dtype=np.int64), np.zeros((1, 1, 3, 3)), [0.0])
    with pytest.raises(TypeError, match="integer class labels"):
        L.softmax_cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0]))


def test_backward_rejects_wrong_dout_shape(L):
    out, cache = L.conv2d_forward(np.zeros((2, 1, 8, 8)), np.zeros((3, 1, 5, 5)), np.zeros(3))
    with pytest.raises(ValueError, match=r"dout has shape \(2, 3, 3, 3\).*\(2, 3, 4, 4\)"):
        L.conv2d_backward(np.zeros((2, 3, 3, 3)), cache)
    _, cache = L.maxpool2d_forward(np.zeros((1, 2, 4, 4)))
    with pytest.raises(ValueError, match=r"dout has shape"):
        L.maxpool2d_backward(np.zeros((1, 2, 4, 4)), cache)
    _, cache = L.dense_forward(np.zeros((2, 3)), np.zeros((3, 4)), np.zeros(4))
    with pytest.raises(ValueError, match=r"dout has shape \(2, 3\).*\(2, 4\)"):
        L.dense_backward(np.zeros((2, 3)), cache)
    for name in ACTIVATIONS:
        forward, backward = pair(L, name)
        _, cache = forward(np.zeros((2, 3)))
        with pytest.raises(ValueError, match=r"dout has shape \(2, 1\).*\(2, 3\)"):
            backward(np.zeros((2, 1)), cache)  # would broadcast silently
