"""LeNet-5 layers in NumPy: one function per layer and direction, in the style of CS231n.

Every ``*_forward`` returns ``(out, cache)`` and every ``*_backward`` takes ``(dout, cache)`` and
returns the gradient(s) of the loss with respect to the forward's inputs, in the forward's
argument order. Shapes are NCHW; convolution weights are ``(F, C, KH, KW)``; dense weights are
``(D, M)`` with ``out = x @ w + b``. Outputs have the dtype of the input ``x`` (float32 or
float64); parameter gradients have the dtype of the parameter.

Conventions shared with PyTorch (and tested against it):

- Convolution is cross-correlation (the kernel is not flipped), as in ``torch.nn.functional``.
- Windows must tile the (padded) input exactly: ``(H + 2*pad - KH) % stride == 0``. PyTorch
  silently drops the rows and columns that do not fill a last window; here that raises a
  ``ValueError`` instead, because it is nearly always a mistake in a hand-built network.
- Max-pool ties: the whole gradient of a window goes to its FIRST maximum in row-major window
  order (top-left first), as in PyTorch's CPU ``max_pool2d``.
- ReLU's gradient at exactly 0 is 0.

Speed: the vectorized convolution keeps its arrays in memory ordered (C, H, W, N), batch
innermost. It gathers the input windows once (``sliding_window_view`` plus one copy whose inner
loop runs along the batch) into a column matrix (C*KH*KW, OH*OW*N), so that the forward pass, the
weight gradient and the input gradient are each one matrix product, and the input gradient's
scatter-add runs along the batch too. Its output is an NCHW *view* of (F, OH, OW, N) memory.
Elementwise NumPy operations and the pooling functions keep that layout, so the next layer and
the backward pass read it without copying. Call ``np.ascontiguousarray`` if you need C order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

#: The squashing function of the paper: f(a) = A tanh(S a), so that f(1) = 1 and f(-1) = -1.
SCALED_TANH_A = 1.7159
SCALED_TANH_S = 2.0 / 3.0

Cache = Any


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------
def _check_float(fn: str, name: str, a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(
            f"{fn}: {name} must be a floating-point array, got dtype {a.dtype}. "
            f"Convert it first, e.g. {name}.astype(np.float32)."
        )
    return a


def _check_ndim(fn: str, name: str, a: np.ndarray, ndim: int, layout: str) -> None:
    if a.ndim != ndim:
        hint = f" For a single example use {name}[None]." if a.ndim == ndim - 1 else ""
        raise ValueError(f"{fn}: {name} must be {ndim}-D {layout}, got shape {a.shape}.{hint}")


def _check_int(fn: str, name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{fn}: {name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _output_size(fn: str, size: int, k: int, stride: int, pad: int, axis: str) -> int:
    """Number of window positions along one axis; raises if none fit or they do not tile."""
    span = size + 2 * pad - k
    if span < 0:
        raise ValueError(
            f"{fn}: the window of {axis} {k} does not fit the input {axis} {size} with "
            f"pad={pad} (output {axis} would be < 1). Use a smaller window or more padding."
        )
    if span % stride != 0:
        raise ValueError(
            f"{fn}: stride {stride} does not fit: input {axis} {size} + 2*pad {2 * pad} - window "
            f"{k} = {span} is not a multiple of the stride, so the last {span % stride} "
            f"row(s)/column(s) would be ignored (PyTorch silently drops them). "
            f"Change the stride or padding, or crop the input."
        )
    return span // stride + 1


def _window_slices(kh: int, kw: int, stride: int, out_h: int, out_w: int):
    """Yield, for each offset (i, j) of a KH x KW window in row-major order, the slices of the
    input that hold that offset of every window: x[..., rows, cols] has shape (..., OH, OW)."""
    for i in range(kh):
        for j in range(kw):
            yield (
                slice(i, i + stride * (out_h - 1) + 1, stride),
                slice(j, j + stride * (out_w - 1) + 1, stride),
            )


def _check_x_w_b(
    fn: str,
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    layouts: tuple[str, str],
    w_axes: tuple[int, int],
    names: tuple[str, str],
    hint: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check x, weights w and bias b of a layer: floats, ndims, x.shape[1] == w.shape[w_in],
    b.shape == (w.shape[w_out],). layouts: x's and w's axis names; names: what x.shape[1]
    counts and what w's output axis counts."""
    x = _check_float(fn, "x", x)
    w = _check_float(fn, "w", w)
    b = _check_float(fn, "b", b)
    _check_ndim(fn, "x", x, layouts[0].count(",") + 1, layouts[0])
    _check_ndim(fn, "w", w, layouts[1].count(",") + 1, layouts[1])
    w_in, w_out = w_axes
    if x.shape[1] != w.shape[w_in]:
        raise ValueError(
            f"{fn}: x has {x.shape[1]} {names[0]} but w expects {w.shape[w_in]} "
            f"(x.shape={x.shape}, w.shape={w.shape}). {hint}"
        )
    if b.shape != (w.shape[w_out],):
        raise ValueError(
            f"{fn}: b has shape {b.shape} but w has {w.shape[w_out]} {names[1]} "
            f"(w.shape={w.shape}); expected b.shape == ({w.shape[w_out]},)."
        )
    return x, w, b


def _check_conv(
    fn: str, x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int, int]:
    """Checked (x, w, b, stride, pad) and the output size (OH, OW) of a convolution."""
    x, w, b = _check_x_w_b(
        fn, x, w, b, ("(N, C, H, W)", "(F, C, KH, KW)"), (1, 0), ("channels", "filters"),
        "The second axis of both must match.",
    )  # fmt: skip
    stride = _check_int(fn, "stride", stride, 1)
    pad = _check_int(fn, "pad", pad, 0)
    out_h = _output_size(fn, x.shape[2], w.shape[2], stride, pad, "height")
    out_w = _output_size(fn, x.shape[3], w.shape[3], stride, pad, "width")
    return x, w, b, stride, pad, out_h, out_w


# --------------------------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------------------------
def conv2d_forward_naive(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0
) -> np.ndarray:
    """Convolution with explicit loops: clear, slow (hundreds of times slower), for teaching.

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) -> out: (N, F, OH, OW) with
    OH = (H + 2*pad - KH) // stride + 1 (same for OW). Cross-correlation, as in PyTorch.
    """
    x, w, b, stride, pad, out_h, out_w = _check_conv("conv2d_forward_naive", x, w, b, stride, pad)
    n_images = x.shape[0]
    n_filters, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n_images, n_filters, out_h, out_w), dtype=x.dtype)
    for n in range(n_images):
        for f in range(n_filters):
            for i in range(out_h):
                for j in range(out_w):
                    top, left = i * stride, j * stride
                    window = xp[n, :, top : top + kh, left : left + kw]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out


def _to_chwn(x: np.ndarray, pad: int) -> np.ndarray:
    """x (N, C, H, W) as a C-contiguous (C, H + 2*pad, W + 2*pad, N) array, zero-padded.

    No copy when x is already an NCHW view of (C, H, W, N) memory and pad is 0.
    """
    n, c, h, w = x.shape
    if not pad:
        return np.ascontiguousarray(x.transpose(1, 2, 3, 0))
    xp = np.zeros((c, h + 2 * pad, w + 2 * pad, n), dtype=x.dtype)
    xp[:, pad : pad + h, pad : pad + w, :] = x.transpose(1, 2, 3, 0)
    return xp


# Products with a column matrix of few rows and very many columns (C1: 25 x 50,176 for 64 images)
# run faster in blocks of columns that stay in the L2 cache (measured 1.1x to 2x); with more rows,
# BLAS does better on its own.
_BLOCK_ROWS_MAX = 64
_BLOCK_COLS = 2048


def _mat_cols(a: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """a (M, K) @ cols (K, P) -> (M, P), in column blocks when K is small."""
    if cols.shape[0] > _BLOCK_ROWS_MAX or cols.shape[1] <= 2 * _BLOCK_COLS:
        return a @ cols
    out = np.empty((a.shape[0], cols.shape[1]), dtype=np.result_type(a, cols))
    for start in range(0, cols.shape[1], _BLOCK_COLS):
        block = slice(start, start + _BLOCK_COLS)
        np.matmul(a, cols[:, block], out=out[:, block])
    return out


def _mat_cols_t(d: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """d (M, P) @ cols.T (P, K) -> (M, K), accumulated over column blocks when K is small."""
    if cols.shape[0] > _BLOCK_ROWS_MAX or cols.shape[1] <= 2 * _BLOCK_COLS:
        return (cols @ d.T).T
    acc = np.zeros((cols.shape[0], d.shape[0]), dtype=np.result_type(d, cols))
    for start in range(0, cols.shape[1], _BLOCK_COLS):
        block = slice(start, start + _BLOCK_COLS)
        acc += cols[:, block] @ d[:, block].T
    return acc.T


def conv2d_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0
) -> tuple[np.ndarray, Cache]:
    """Vectorized convolution (cross-correlation) of a batch of images.

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,), stride and pad in pixels (same on both axes)
    -> out: (N, F, OH, OW), OH = (H + 2*pad - KH) // stride + 1, and a cache for the backward.
    """
    x, w, b, stride, pad, out_h, out_w = _check_conv("conv2d_forward", x, w, b, stride, pad)
    n_images, channels = x.shape[:2]
    n_filters, _, kh, kw = w.shape
    xp = _to_chwn(x, pad)
    windows = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    # Columns (C*KH*KW, OH*OW*N): one copy whose inner loop runs along the batch axis.
    cols = np.ascontiguousarray(windows.transpose(0, 4, 5, 1, 2, 3))
    cols = cols.reshape(channels * kh * kw, out_h * out_w * n_images)
    w_mat = w.reshape(n_filters, -1).astype(x.dtype, copy=False)
    out = _mat_cols(w_mat, cols)  # (F, OH*OW*N)
    out += b.astype(x.dtype, copy=False)[:, None]
    out = out.reshape(n_filters, out_h, out_w, n_images).transpose(3, 0, 1, 2)
    cache = (x.shape, x.dtype, cols, w, b.dtype, stride, pad)
    return out, cache


def _conv2d_backward(
    dout: np.ndarray, cache: Cache, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    x_shape, x_dtype, cols, w, b_dtype, stride, pad = cache
    n_images, channels, height, width = x_shape
    n_filters, _, kh, kw = w.shape
    out_h = (height + 2 * pad - kh) // stride + 1
    out_w = (width + 2 * pad - kw) // stride + 1
    expected = (n_images, n_filters, out_h, out_w)
    if dout.shape != expected:
        raise ValueError(
            f"conv2d_backward: dout has shape {dout.shape} but the forward output had shape "
            f"{expected}; pass the gradient of that output."
        )
    # (F, OH*OW*N): free when dout has the forward output's (F, OH, OW, N) memory layout.
    dout_mat = _to_chwn(dout.astype(x_dtype, copy=False), 0).reshape(n_filters, -1)
    db = dout_mat.sum(axis=1).astype(b_dtype, copy=False)
    dw = np.ascontiguousarray(_mat_cols_t(dout_mat, cols), dtype=w.dtype).reshape(w.shape)
    if not need_dx:
        return None, dw, db
    w_mat = w.reshape(n_filters, -1).astype(x_dtype, copy=False)
    dcols = _mat_cols(w_mat.T, dout_mat).reshape(channels, kh * kw, out_h, out_w, n_images)
    # Scatter-add the columns back onto the (padded) input, one kernel offset at a time.
    dxp = np.zeros((channels, height + 2 * pad, width + 2 * pad, n_images), dtype=x_dtype)
    for k, (rows, cols_) in enumerate(_window_slices(kh, kw, stride, out_h, out_w)):
        dxp[:, rows, cols_] += dcols[:, k]
    dx = dxp[:, pad : pad + height, pad : pad + width].transpose(3, 0, 1, 2)
    return dx, dw, db


def conv2d_backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of the convolution.

    dout: (N, F, OH, OW), cache from :func:`conv2d_forward`
    -> dx: (N, C, H, W), dw: (F, C, KH, KW), db: (F,).
    """
    dx, dw, db = _conv2d_backward(dout, cache, need_dx=True)
    assert dx is not None
    return dx, dw, db


# --------------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------------
def _in_layout_of(a: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """a (same shape as ref), in the axis order of ref's memory (copied only if it is not).

    Elementwise operations between arrays of different layouts are several times slower.
    """
    out = np.empty_like(ref, dtype=a.dtype)  # contiguous, ref's axis order
    if a.strides == out.strides:
        return a
    out[...] = a
    return out


def _pool_setup(fn: str, x: np.ndarray, size: int, stride: int) -> tuple[np.ndarray, int, int]:
    x = _check_float(fn, "x", x)
    _check_ndim(fn, "x", x, 4, "(N, C, H, W)")
    size = _check_int(fn, "size", size, 1)
    stride = _check_int(fn, "stride", stride, 1)
    out_h = _output_size(fn, x.shape[2], size, stride, 0, "height")
    out_w = _output_size(fn, x.shape[3], size, stride, 0, "width")
    return x, out_h, out_w


def _check_pool_dout(fn: str, dout: np.ndarray, x_shape: tuple, out_h: int, out_w: int) -> None:
    expected = (*x_shape[:2], out_h, out_w)
    if dout.shape != expected:
        raise ValueError(
            f"{fn}: dout has shape {dout.shape} but the forward output had shape {expected}."
        )


def avgpool2d_forward(x: np.ndarray, size: int = 2, stride: int = 2) -> tuple[np.ndarray, Cache]:
    """Average pooling over size x size windows (no padding, no trainable coefficient).

    x: (N, C, H, W) -> out: (N, C, OH, OW), OH = (H - size) // stride + 1.
    """
    x, out_h, out_w = _pool_setup("avgpool2d_forward", x, size, stride)
    slices = list(_window_slices(size, size, stride, out_h, out_w))
    out = x[:, :, slices[0][0], slices[0][1]].copy(order="K")  # keep x's memory layout
    for rows, cols in slices[1:]:
        out += x[:, :, rows, cols]
    out *= x.dtype.type(1.0 / (size * size))
    return out, (x, size, stride)


def avgpool2d_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """dout: (N, C, OH, OW), cache from :func:`avgpool2d_forward` -> dx: (N, C, H, W)."""
    x, size, stride = cache
    out_h, out_w = (x.shape[2] - size) // stride + 1, (x.shape[3] - size) // stride + 1
    _check_pool_dout("avgpool2d_backward", dout, x.shape, out_h, out_w)
    share = _in_layout_of(dout, x[:, :, :out_h, :out_w]) * x.dtype.type(1.0 / (size * size))
    dx = np.zeros_like(x)  # same memory layout as x
    for rows, cols in _window_slices(size, size, stride, out_h, out_w):
        dx[:, :, rows, cols] += share
    return dx


def maxpool2d_forward(x: np.ndarray, size: int = 2, stride: int = 2) -> tuple[np.ndarray, Cache]:
    """Max pooling over size x size windows (no padding).

    x: (N, C, H, W) -> out: (N, C, OH, OW), OH = (H - size) // stride + 1. The cache records
    which offset of each window won: the first maximum in row-major order (PyTorch's rule).
    """
    x, out_h, out_w = _pool_setup("maxpool2d_forward", x, size, stride)
    slices = list(_window_slices(size, size, stride, out_h, out_w))
    out = x[:, :, slices[0][0], slices[0][1]].copy(order="K")  # keep x's memory layout
    winner = np.zeros_like(out, dtype=np.int16)
    better = np.empty_like(out, dtype=bool)
    for k, (rows, cols) in enumerate(slices[1:], start=1):
        candidate = x[:, :, rows, cols]
        # Strict: an equal later value never displaces the first maximum. Offsets grow with k,
        # so max(winner, k * better) records k exactly where this offset is better.
        np.greater(candidate, out, out=better)
        np.maximum(out, candidate, out=out)
        np.maximum(winner, better * np.int16(k), out=winner)
    return out, (x, winner, size, stride)


def maxpool2d_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """dout: (N, C, OH, OW), cache from :func:`maxpool2d_forward` -> dx: (N, C, H, W).

    Each window's gradient goes to its first maximum in row-major order (ties: top-left wins).
    """
    x, winner, size, stride = cache
    out_h, out_w = winner.shape[2:]
    _check_pool_dout("maxpool2d_backward", dout, x.shape, out_h, out_w)
    dout = _in_layout_of(dout.astype(x.dtype, copy=False), x[:, :, :out_h, :out_w])
    dx = np.zeros_like(x)  # same memory layout as x
    for k, (rows, cols) in enumerate(_window_slices(size, size, stride, out_h, out_w)):
        dx[:, :, rows, cols] += dout * (winner == k)
    return dx


# --------------------------------------------------------------------------------------------
# Activations (elementwise: any shape)
# --------------------------------------------------------------------------------------------
def _check_elementwise_dout(fn: str, dout: np.ndarray, out: np.ndarray) -> None:
    if np.shape(dout) != out.shape:
        raise ValueError(
            f"{fn}: dout has shape {np.shape(dout)} but the forward output had shape "
            f"{out.shape}; they must match exactly (no broadcasting)."
        )


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """x: any shape -> out = tanh(x), same shape; the cache is out."""
    out = np.tanh(_check_float("tanh_forward", "x", x))
    return out, out


def tanh_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """dx = dout * (1 - tanh(x)^2); dout and the cached output have the same shape."""
    out = cache
    _check_elementwise_dout("tanh_backward", dout, out)
    return dout * (1 - out * out)


def scaled_tanh_forward(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """The paper's squashing function: out = 1.7159 tanh(2x/3); x: any shape."""
    x = _check_float("scaled_tanh_forward", "x", x)
    t = np.tanh(x * x.dtype.type(SCALED_TANH_S))
    return t * x.dtype.type(SCALED_TANH_A), t


def scaled_tanh_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """dx = dout * A * S * (1 - tanh(S x)^2)."""
    t = cache
    _check_elementwise_dout("scaled_tanh_backward", dout, t)
    return dout * (t.dtype.type(SCALED_TANH_A * SCALED_TANH_S) * (1 - t * t))


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """out = 1 / (1 + exp(-x)), computed without overflow for any x; x: any shape."""
    x = _check_float("sigmoid_forward", "x", x)
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    out = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
    return out, out


def sigmoid_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """dx = dout * s * (1 - s), s the cached output."""
    out = cache
    _check_elementwise_dout("sigmoid_backward", dout, out)
    return dout * out * (1 - out)


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """out = max(x, 0); x: any shape."""
    out = np.maximum(_check_float("relu_forward", "x", x), 0)
    return out, out


def relu_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """dx = dout where x > 0, else 0 (also 0 at x == 0, as in PyTorch)."""
    out = cache
    _check_elementwise_dout("relu_backward", dout, out)
    return dout * (out > 0)


# --------------------------------------------------------------------------------------------
# Dense, flatten, loss
# --------------------------------------------------------------------------------------------
def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Cache]:
    """Fully connected layer: out = x @ w + b.

    x: (N, D), w: (D, M), b: (M,) -> out: (N, M).
    """
    x, w, b = _check_x_w_b(
        "dense_forward", x, w, b, ("(N, D)", "(D, M)"), (0, 1), ("features", "outputs"),
        "Flatten x first, or fix w's first axis.",
    )  # fmt: skip
    out = x @ w.astype(x.dtype, copy=False)
    out += b.astype(x.dtype, copy=False)
    return out, (x, w, b.dtype)


def dense_backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dout: (N, M), cache from :func:`dense_forward` -> dx: (N, D), dw: (D, M), db: (M,)."""
    x, w, b_dtype = cache
    expected = (x.shape[0], w.shape[1])
    if dout.shape != expected:
        raise ValueError(
            f"dense_backward: dout has shape {dout.shape} but the forward output had shape "
            f"{expected}."
        )
    dout = dout.astype(x.dtype, copy=False)
    dx = dout @ w.T.astype(x.dtype, copy=False)
    dw = (x.T @ dout).astype(w.dtype, copy=False)
    db = dout.sum(axis=0).astype(b_dtype, copy=False)
    return dx, dw, db


def flatten_forward(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """x: (N, ...) -> out: (N, prod(...)), C order (the same order as torch.flatten(x, 1))."""
    x = np.asarray(x)
    if x.ndim < 1:
        raise ValueError(f"flatten_forward: x needs a batch axis, got a scalar of shape {x.shape}.")
    return x.reshape(x.shape[0], -1), x.shape


def flatten_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """dout: (N, D) -> dx with the forward input's shape (N, ...)."""
    shape = cache
    if dout.size != int(np.prod(shape)):
        raise ValueError(
            f"flatten_backward: dout has shape {dout.shape}, which cannot be reshaped to the "
            f"forward input's shape {shape}."
        )
    return dout.reshape(shape)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for logits of any size: (N, K) -> probabilities (N, K)."""
    logits = _check_float("softmax", "logits", logits)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(logits) against integer labels, and its gradient.

    logits: (N, K) float, y: (N,) integers in [0, K) -> loss (Python float, mean over the
    batch), dlogits: (N, K) = (softmax(logits) - onehot(y)) / N. Stable for any logit size.
    """
    fn = "softmax_cross_entropy"
    logits = _check_float(fn, "logits", logits)
    _check_ndim(fn, "logits", logits, 2, "(N, K)")
    y = np.asarray(y)
    n, k = logits.shape
    if y.shape != (n,):
        raise ValueError(
            f"{fn}: y has shape {y.shape} but logits has shape {logits.shape}; "
            f"expected one integer label per row, y.shape == ({n},)."
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{fn}: y must hold integer class labels, got dtype {y.dtype}.")
    if n and (y.min() < 0 or y.max() >= k):
        raise ValueError(
            f"{fn}: labels must be in [0, {k}), got values from {y.min()} to {y.max()}."
        )
    if n == 0:
        raise ValueError(f"{fn}: the batch is empty (logits.shape={logits.shape}).")
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_probs = shifted - log_norm
    rows = np.arange(n)
    loss = -float(np.mean(log_probs[rows, y], dtype=np.float64))
    dlogits = np.exp(log_probs)
    dlogits[rows, y] -= 1
    dlogits /= n
    return loss, dlogits
