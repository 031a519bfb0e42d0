"""The layers of :mod:`lenet_ref.layers`, fast: what the NumPy LeNet-5 trains with.

Same functions, arguments, results and errors as :mod:`lenet_ref.layers` (tested against
PyTorch like them); the convolution and the pooling are rewritten for speed and keep other
caches, which only their own backward functions read. Activations, flatten, dense and the loss
are already vectorized and are the same functions as there.

Speed: the convolution keeps its arrays in memory ordered (C, H, W, N), batch innermost. It
gathers the input windows once (``sliding_window_view`` plus one copy whose inner loop runs
along the batch) into a column matrix (C*KH*KW, OH*OW*N), so that the forward pass, the weight
gradient and the input gradient are each one matrix product, and the input gradient's
scatter-add runs along the batch too. Its output is an NCHW *view* of (F, OH, OW, N) memory.
Elementwise NumPy operations and the pooling functions here keep that layout, so the next layer
and the backward pass read it without copying. Call ``np.ascontiguousarray`` if you need C order.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from lenet_ref.layer_checks import check_conv, check_dout, check_pool
from lenet_ref.layers import (
    Cache,
    dense_backward,
    dense_forward,
    flatten_backward,
    flatten_forward,
    relu_backward,
    relu_forward,
    scaled_tanh_backward,
    scaled_tanh_forward,
    sigmoid_backward,
    sigmoid_forward,
    softmax,
    softmax_cross_entropy,
    tanh_backward,
    tanh_forward,
)

__all__ = [
    "avgpool2d_backward",
    "avgpool2d_forward",
    "conv2d_backward",
    "conv2d_forward",
    "dense_backward",
    "dense_forward",
    "flatten_backward",
    "flatten_forward",
    "maxpool2d_backward",
    "maxpool2d_forward",
    "relu_backward",
    "relu_forward",
    "scaled_tanh_backward",
    "scaled_tanh_forward",
    "sigmoid_backward",
    "sigmoid_forward",
    "softmax",
    "softmax_cross_entropy",
    "tanh_backward",
    "tanh_forward",
]


def _window_slices(
    kh: int, kw: int, stride: int, out_h: int, out_w: int
) -> Iterator[tuple[slice, slice]]:
    """Yield, for each offset (i, j) of a KH x KW window in row-major order, the slices of the
    input that hold that offset of every window: x[..., rows, cols] has shape (..., OH, OW)."""
    for i in range(kh):
        for j in range(kw):
            yield (
                slice(i, i + stride * (out_h - 1) + 1, stride),
                slice(j, j + stride * (out_w - 1) + 1, stride),
            )


# --------------------------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------------------------
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
    """Convolution (cross-correlation) of a batch of images, as one matrix product.

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,), stride and pad in pixels (same on both axes)
    -> out: (N, F, OH, OW), OH = (H + 2*pad - KH) // stride + 1, an NCHW view of (F, OH, OW, N)
    memory; cache: what :func:`conv2d_backward` needs (the column matrix, not x).
    """
    x, w, b, stride, pad, out_h, out_w = check_conv("conv2d_forward", x, w, b, stride, pad)
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


def conv2d_backward(
    dout: np.ndarray, cache: Cache, *, input_grad: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of the convolution.

    dout: (N, F, OH, OW), cache from :func:`conv2d_forward` -> dx: (N, C, H, W) (None when
    ``input_grad`` is False: the first layer needs no gradient of the image), dw: (F, C, KH, KW),
    db: (F,).
    """
    x_shape, x_dtype, cols, w, b_dtype, stride, pad = cache
    n_images, channels, height, width = x_shape
    n_filters, _, kh, kw = w.shape
    out_h = (height + 2 * pad - kh) // stride + 1
    out_w = (width + 2 * pad - kw) // stride + 1
    check_dout("conv2d_backward", dout, (n_images, n_filters, out_h, out_w))
    # (F, OH*OW*N): free when dout has the forward output's (F, OH, OW, N) memory layout.
    dout_mat = _to_chwn(dout.astype(x_dtype, copy=False), 0).reshape(n_filters, -1)
    db = dout_mat.sum(axis=1).astype(b_dtype, copy=False)
    dw = np.ascontiguousarray(_mat_cols_t(dout_mat, cols), dtype=w.dtype).reshape(w.shape)
    if not input_grad:
        return None, dw, db
    w_mat = w.reshape(n_filters, -1).astype(x_dtype, copy=False)
    dcols = _mat_cols(w_mat.T, dout_mat).reshape(channels, kh * kw, out_h, out_w, n_images)
    # Scatter-add the columns back onto the (padded) input, one kernel offset at a time.
    dxp = np.zeros((channels, height + 2 * pad, width + 2 * pad, n_images), dtype=x_dtype)
    for k, (rows, cols_) in enumerate(_window_slices(kh, kw, stride, out_h, out_w)):
        dxp[:, rows, cols_] += dcols[:, k]
    dx = dxp[:, pad : pad + height, pad : pad + width].transpose(3, 0, 1, 2)
    return dx, dw, db


# --------------------------------------------------------------------------------------------
# Pooling: one strided slice per window offset, in the input's own memory layout
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


def avgpool2d_forward(x: np.ndarray, size: int = 2, stride: int = 2) -> tuple[np.ndarray, Cache]:
    """Average pooling over size x size windows (no padding, no trainable coefficient).

    x: (N, C, H, W) -> out: (N, C, OH, OW), OH = (H - size) // stride + 1, in x's memory layout;
    cache: ``(x, size, stride)``.
    """
    x, size, stride, out_h, out_w = check_pool("avgpool2d_forward", x, size, stride)
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
    check_dout("avgpool2d_backward", dout, (*x.shape[:2], out_h, out_w))
    share = _in_layout_of(dout, x[:, :, :out_h, :out_w]) * x.dtype.type(1.0 / (size * size))
    dx = np.zeros_like(x)  # same memory layout as x
    for rows, cols in _window_slices(size, size, stride, out_h, out_w):
        dx[:, :, rows, cols] += share
    return dx


def maxpool2d_forward(x: np.ndarray, size: int = 2, stride: int = 2) -> tuple[np.ndarray, Cache]:
    """Max pooling over size x size windows (no padding).

    x: (N, C, H, W) -> out: (N, C, OH, OW), OH = (H - size) // stride + 1, in x's memory layout;
    cache: ``(x, winner, size, stride)``, winner (N, C, OH, OW) the offset of each window's
    first maximum in row-major order (PyTorch's rule for ties).
    """
    x, size, stride, out_h, out_w = check_pool("maxpool2d_forward", x, size, stride)
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
    check_dout("maxpool2d_backward", dout, (*x.shape[:2], out_h, out_w))
    dout = _in_layout_of(dout.astype(x.dtype, copy=False), x[:, :, :out_h, :out_w])
    dx = np.zeros_like(x)  # same memory layout as x
    for k, (rows, cols) in enumerate(_window_slices(size, size, stride, out_h, out_w)):
        dx[:, :, rows, cols] += dout * (winner == k)
    return dx
