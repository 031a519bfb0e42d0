"""LeNet-5's layers in NumPy, as the course teaches them: one function per layer and direction.

These are the functions notebooks 02-05 ask for, with the notebooks' signatures and caches: the
truth of the hidden tests (``python -m autograder.fixtures`` builds their data from here).
Every ``*_forward`` returns ``(out, cache)`` and every ``*_backward`` takes ``(dout, cache)``
and returns the gradient(s) of the loss with respect to the forward's inputs, in the forward's
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

Written to be read, not to be fast: :mod:`lenet_ref.fast_layers` computes the same functions
(the convolution and pooling with other caches) fast enough to train on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from lenet_ref.layer_checks import (
    check_conv,
    check_dout,
    check_float,
    check_logits_labels,
    check_pool,
    check_x_w_b,
    window_positions,
)

#: The squashing function of the paper: f(a) = A tanh(S a), so that f(1) = 1 and f(-1) = -1.
SCALED_TANH_A = 1.7159
SCALED_TANH_S = 2.0 / 3.0

Cache = Any


# --------------------------------------------------------------------------------------------
# Convolution (notebook 02 forward, notebook 05 backward)
# --------------------------------------------------------------------------------------------
def conv_output_size(size: int, kernel: int, stride: int = 1, pad: int = 0) -> int:
    """Number of positions of a window along one axis of a padded input.

    size: input length (H or W); kernel: window length (KH or KW); stride, pad: in pixels
    -> ``(size + 2*pad - kernel) // stride + 1``. Raises ``ValueError`` if the window does not
    fit or the windows do not tile the padded input.
    """
    return window_positions("conv_output_size", size, kernel, stride, pad, "size")


def _pad(x: np.ndarray, pad: int) -> np.ndarray:
    """x (N, C, H, W) with ``pad`` zeros on each side of H and W: (N, C, H + 2*pad, W + 2*pad)."""
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


def conv2d_forward_naive(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0
) -> np.ndarray:
    """Convolution with explicit loops: clear, slow (hundreds of times slower), for teaching.

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) -> out: (N, F, OH, OW) with
    OH = (H + 2*pad - KH) // stride + 1 (same for OW). Cross-correlation, as in PyTorch.
    """
    x, w, b, stride, pad, out_h, out_w = check_conv("conv2d_forward_naive", x, w, b, stride, pad)
    n_images = x.shape[0]
    n_filters, _, kh, kw = w.shape
    xp = _pad(x, pad)
    out = np.zeros((n_images, n_filters, out_h, out_w), dtype=x.dtype)
    for n in range(n_images):
        for f in range(n_filters):
            for i in range(out_h):
                for j in range(out_w):
                    top, left = i * stride, j * stride
                    window = xp[n, :, top : top + kh, left : left + kw]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out


def conv2d_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0
) -> tuple[np.ndarray, Cache]:
    """Vectorized convolution (cross-correlation, as in PyTorch).

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,), stride and pad in pixels (same on both axes)
    -> out: (N, F, OH, OW) with the dtype of x, OH = (H + 2*pad - KH) // stride + 1;
    cache: ``(x, w, b, stride, pad)``.
    """
    x, w, b, stride, pad, _, _ = check_conv("conv2d_forward", x, w, b, stride, pad)
    kh, kw = w.shape[2:]
    windows = sliding_window_view(_pad(x, pad), (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    out = np.tensordot(windows, w, axes=([1, 4, 5], [1, 2, 3]))  # (N, OH, OW, F)
    out = out.transpose(0, 3, 1, 2) + b[:, None, None]
    return out.astype(x.dtype, copy=False), (x, w, b, stride, pad)


def conv2d_backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of the convolution, one output position at a time.

    dout: (N, F, OH, OW); cache: ``(x, w, b, stride, pad)`` with x (N, C, H, W),
    w (F, C, KH, KW), b (F,) -> dx: (N, C, H, W), dw: (F, C, KH, KW), db: (F,).
    """
    x, w, b, stride, pad = cache
    height, width = x.shape[2:]
    kh, kw = w.shape[2:]
    out_h, out_w = (height + 2 * pad - kh) // stride + 1, (width + 2 * pad - kw) // stride + 1
    check_dout("conv2d_backward", dout, (x.shape[0], w.shape[0], out_h, out_w))
    dout = np.ascontiguousarray(dout, dtype=x.dtype)
    xp = _pad(x, pad)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3)).astype(b.dtype, copy=False)
    for i in range(out_h):
        for j in range(out_w):
            top, left = i * stride, j * stride
            window = xp[:, :, top : top + kh, left : left + kw]  # (N, C, KH, KW)
            g = dout[:, :, i, j]  # (N, F)
            dw += np.tensordot(g, window, axes=([0], [0]))
            dxp[:, :, top : top + kh, left : left + kw] += np.tensordot(g, w, axes=([1], [0]))
    dx = dxp[:, :, pad : pad + height, pad : pad + width]
    return dx, dw, db


# --------------------------------------------------------------------------------------------
# Pooling (notebook 03 forward, notebook 05 backward)
# --------------------------------------------------------------------------------------------
def _windows(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    """x (N, C, H, W) -> a view (N, C, OH, OW, size, size) of every pooling window."""
    return sliding_window_view(x, (size, size), axis=(2, 3))[:, :, ::stride, ::stride]


def _pool_output_shape(x: np.ndarray, size: int, stride: int) -> tuple[int, int, int, int]:
    n, c, height, width = x.shape
    return n, c, (height - size) // stride + 1, (width - size) // stride + 1


def avgpool2d_forward(x: np.ndarray, size: int = 2, stride: int = 2) -> tuple[np.ndarray, Cache]:
    """Average pooling over size x size windows (no padding, no trainable coefficient).

    x: (N, C, H, W) -> out: (N, C, OH, OW) with the dtype of x, OH = (H - size) // stride + 1;
    cache: ``(x, size, stride)``.
    """
    x, size, stride, _, _ = check_pool("avgpool2d_forward", x, size, stride)
    out = _windows(x, size, stride).mean(axis=(4, 5)).astype(x.dtype, copy=False)
    return out, (x, size, stride)


def avgpool2d_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """Gradient of average pooling: each input gets 1/size^2 of the dout of every window it is in.

    dout: (N, C, OH, OW); cache: ``(x, size, stride)`` with x (N, C, H, W) -> dx: (N, C, H, W).
    """
    x, size, stride = cache
    check_dout("avgpool2d_backward", dout, _pool_output_shape(x, size, stride))
    dx = np.zeros_like(x)
    share = (dout / (size * size)).astype(x.dtype, copy=False)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            top, left = i * stride, j * stride
            dx[:, :, top : top + size, left : left + size] += share[:, :, i, j, None, None]
    return dx


def maxpool2d_forward(x: np.ndarray, size: int = 2, stride: int = 2) -> tuple[np.ndarray, Cache]:
    """Max pooling over size x size windows (no padding).

    x: (N, C, H, W) -> out: (N, C, OH, OW) with the dtype of x, OH = (H - size) // stride + 1;
    cache: ``(x, size, stride)``.
    """
    x, size, stride, _, _ = check_pool("maxpool2d_forward", x, size, stride)
    return _windows(x, size, stride).max(axis=(4, 5)), (x, size, stride)


def maxpool2d_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """Gradient of max pooling: each window's dout goes to its first maximum (row-major order,
    so ties go to the top-left one, as in PyTorch).

    dout: (N, C, OH, OW); cache: ``(x, size, stride)`` with x (N, C, H, W) -> dx: (N, C, H, W).
    """
    x, size, stride = cache
    check_dout("maxpool2d_backward", dout, _pool_output_shape(x, size, stride))
    n, c = x.shape[:2]
    dx = np.zeros_like(x)
    offsets = np.arange(size * size)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            top, left = i * stride, j * stride
            window = x[:, :, top : top + size, left : left + size].reshape(n, c, -1)
            winner = window.argmax(axis=2)  # first maximum in row-major order
            mask = offsets == winner[..., None]  # (N, C, size*size), one True per window
            grad = mask * dout[:, :, i, j, None]
            dx[:, :, top : top + size, left : left + size] += grad.reshape(n, c, size, size)
    return dx


# --------------------------------------------------------------------------------------------
# Activations, elementwise on any shape (notebook 03 forward, notebook 05 backward); each
# forward caches its output, from which the backward computes the derivative.
# --------------------------------------------------------------------------------------------
def relu_forward(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """ReLU: out = max(x, 0); x: any shape -> out of the same shape; cache: out."""
    out = np.maximum(check_float("relu_forward", "x", x), 0)
    return out, out


def relu_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """dx = dout where x > 0, else 0 (also 0 at x == 0, as in PyTorch); cache: the output."""
    out = cache
    check_dout("relu_backward", dout, out.shape)
    return dout * (out > 0)


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """out = tanh(x); x: any shape -> out of the same shape; cache: out."""
    out = np.tanh(check_float("tanh_forward", "x", x))
    return out, out


def tanh_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """dx = dout * (1 - tanh(x)^2); cache: the output tanh(x)."""
    out = cache
    check_dout("tanh_backward", dout, out.shape)
    return dout * (1 - out * out)


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """Logistic sigmoid 1 / (1 + exp(-x)), without overflow for any x.

    x: any shape -> out in (0, 1), the shape and dtype of x; cache: out.
    """
    x = check_float("sigmoid_forward", "x", x)
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    out = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
    return out, out


def sigmoid_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """dx = dout * s * (1 - s); cache: the output s."""
    out = cache
    check_dout("sigmoid_backward", dout, out.shape)
    return dout * out * (1 - out)


def scaled_tanh_forward(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """The 1998 paper's squashing function: out = 1.7159 tanh(2x/3).

    x: any shape -> out, the shape and dtype of x; cache: out.
    """
    x = check_float("scaled_tanh_forward", "x", x)
    out = (SCALED_TANH_A * np.tanh(SCALED_TANH_S * x)).astype(x.dtype, copy=False)
    return out, out


def scaled_tanh_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """dx = dout * A * S * (1 - tanh(S x)^2), with tanh(S x) = out / A; cache: the output."""
    out = cache
    check_dout("scaled_tanh_backward", dout, out.shape)
    t = out / out.dtype.type(SCALED_TANH_A)
    return dout * (out.dtype.type(SCALED_TANH_A * SCALED_TANH_S) * (1 - t * t))


# --------------------------------------------------------------------------------------------
# Flatten, dense, softmax and the loss (notebook 04 forward, notebook 05 backward)
# --------------------------------------------------------------------------------------------
def flatten_forward(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """Flatten every axis but the first, in C order (as torch.flatten(x, 1)).

    x: (N, d1, d2, ...) -> out: (N, d1 * d2 * ...); cache: x.shape.
    """
    x = np.asarray(x)
    if x.ndim < 1:
        raise ValueError(f"flatten_forward: x needs a batch axis, got a scalar of shape {x.shape}.")
    return x.reshape(x.shape[0], -1), x.shape


def flatten_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """dout: (N, d1 * d2 * ...); cache: the forward input's shape -> dx of that shape."""
    shape = cache
    if np.size(dout) != int(np.prod(shape)):
        raise ValueError(
            f"flatten_backward: dout has shape {np.shape(dout)}, which cannot be reshaped to the "
            f"forward input's shape {shape}."
        )
    return dout.reshape(shape)


def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Cache]:
    """Fully connected layer: out = x @ w + b.

    x: (N, D), w: (D, M), b: (M,) -> out: (N, M) with the dtype of x; cache: ``(x, w, b)``.
    """
    x, w, b = check_x_w_b(
        "dense_forward", x, w, b, ("(N, D)", "(D, M)"), (0, 1), ("features", "outputs"),
        "Flatten x first, or fix w's first axis.",
    )  # fmt: skip
    out = x @ w + b
    return out.astype(x.dtype, copy=False), (x, w, b)


def dense_backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of out = x @ w + b.

    dout: (N, M); cache: ``(x, w, b)`` with x (N, D), w (D, M), b (M,)
    -> dx: (N, D), dw: (D, M), db: (M,).
    """
    x, w, b = cache
    check_dout("dense_backward", dout, (x.shape[0], w.shape[1]))
    dx = dout @ w.T
    dw = x.T @ dout
    db = dout.sum(axis=0)
    return (
        dx.astype(x.dtype, copy=False),
        dw.astype(w.dtype, copy=False),
        db.astype(b.dtype, copy=False),
    )


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for logits of any size: (N, K) -> probabilities (N, K), same
    dtype; each row sums to 1."""
    logits = check_float("softmax", "logits", logits)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log(softmax(logits)), computed stably: (N, K) -> (N, K)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def cross_entropy(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy of softmax(logits) against integer labels, computed stably.

    logits: (N, K) float, y: (N,) integers in [0, K) -> loss: float (mean over the batch).
    """
    logits, y = check_logits_labels("cross_entropy", logits, y)
    log_probs = _log_softmax(logits)
    return -float(np.mean(log_probs[np.arange(len(y)), y], dtype=np.float64))


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(logits) against integer labels, and its gradient.

    logits: (N, K) float, y: (N,) integers in [0, K) -> loss (Python float, mean over the
    batch), dlogits: (N, K) = (softmax(logits) - onehot(y)) / N. Stable for any logit size.
    """
    logits, y = check_logits_labels("softmax_cross_entropy", logits, y)
    n = len(y)
    rows = np.arange(n)
    log_probs = _log_softmax(logits)
    loss = -float(np.mean(log_probs[rows, y], dtype=np.float64))
    dlogits = np.exp(log_probs)
    dlogits[rows, y] -= 1
    dlogits /= n
    return loss, dlogits
