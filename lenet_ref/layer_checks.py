"""Input checks shared by :mod:`lenet_ref.layers` and :mod:`lenet_ref.fast_layers`.

Each check raises a ``ValueError`` (a ``TypeError`` for a wrong dtype) whose message names the
function, the argument and what would fix it, so that both modules fail the same way.
"""

from __future__ import annotations

import numpy as np


def check_float(fn: str, name: str, a: np.ndarray) -> np.ndarray:
    """``a`` as an array; raises ``TypeError`` unless its dtype is floating point."""
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(
            f"{fn}: {name} must be a floating-point array, got dtype {a.dtype}. "
            f"Convert it first, e.g. {name}.astype(np.float32)."
        )
    return a


def check_ndim(fn: str, name: str, a: np.ndarray, ndim: int, layout: str) -> None:
    """Raise unless ``a`` has ``ndim`` axes; ``layout`` names them, e.g. "(N, C, H, W)"."""
    if a.ndim != ndim:
        hint = f" For a single example use {name}[None]." if a.ndim == ndim - 1 else ""
        raise ValueError(f"{fn}: {name} must be {ndim}-D {layout}, got shape {a.shape}.{hint}")


def check_int(fn: str, name: str, value: int, minimum: int) -> int:
    """``value`` as an int; raises unless it is an integer >= ``minimum`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{fn}: {name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def window_positions(fn: str, size: int, k: int, stride: int, pad: int, axis: str) -> int:
    """Number of positions of a window of ``k`` along an axis of ``size`` pixels padded by
    ``pad`` on each side: ``(size + 2*pad - k) // stride + 1``.

    Raises if the window does not fit, or if the windows do not tile the padded axis exactly.
    """
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


def check_x_w_b(
    fn: str,
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    layouts: tuple[str, str],
    w_axes: tuple[int, int],
    names: tuple[str, str],
    hint: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check a layer's input x, weights w and bias b: floats, numbers of axes,
    ``x.shape[1] == w.shape[w_in]`` and ``b.shape == (w.shape[w_out],)``.

    layouts: the axis names of x and of w; names: what x.shape[1] counts and what w's output
    axis counts; hint: what to do when x and w disagree.
    """
    x = check_float(fn, "x", x)
    w = check_float(fn, "w", w)
    b = check_float(fn, "b", b)
    check_ndim(fn, "x", x, layouts[0].count(",") + 1, layouts[0])
    check_ndim(fn, "w", w, layouts[1].count(",") + 1, layouts[1])
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


def check_conv(
    fn: str, x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int, int]:
    """Checked convolution arguments ``(x, w, b, stride, pad)`` and the output size (OH, OW).

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,).
    """
    x, w, b = check_x_w_b(
        fn, x, w, b, ("(N, C, H, W)", "(F, C, KH, KW)"), (1, 0), ("channels", "filters"),
        "The second axis of both must match.",
    )  # fmt: skip
    stride = check_int(fn, "stride", stride, 1)
    pad = check_int(fn, "pad", pad, 0)
    out_h = window_positions(fn, x.shape[2], w.shape[2], stride, pad, "height")
    out_w = window_positions(fn, x.shape[3], w.shape[3], stride, pad, "width")
    return x, w, b, stride, pad, out_h, out_w


def check_pool(
    fn: str, x: np.ndarray, size: int, stride: int
) -> tuple[np.ndarray, int, int, int, int]:
    """Checked pooling arguments ``(x, size, stride)`` and the output size (OH, OW).

    x: (N, C, H, W); size x size windows, no padding.
    """
    x = check_float(fn, "x", x)
    check_ndim(fn, "x", x, 4, "(N, C, H, W)")
    size = check_int(fn, "size", size, 1)
    stride = check_int(fn, "stride", stride, 1)
    out_h = window_positions(fn, x.shape[2], size, stride, 0, "height")
    out_w = window_positions(fn, x.shape[3], size, stride, 0, "width")
    return x, size, stride, out_h, out_w


def check_dout(fn: str, dout: np.ndarray, expected: tuple[int, ...]) -> None:
    """Raise unless the upstream gradient has the forward output's shape (no broadcasting)."""
    if np.shape(dout) != tuple(expected):
        raise ValueError(
            f"{fn}: dout has shape {np.shape(dout)} but the forward output had shape "
            f"{tuple(expected)}; pass the gradient of that output (the same shape exactly, "
            "no broadcasting)."
        )


def check_logits_labels(fn: str, logits: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Checked ``logits`` (N, K) float and integer labels ``y`` (N,) in [0, K), N >= 1."""
    logits = check_float(fn, "logits", logits)
    check_ndim(fn, "logits", logits, 2, "(N, K)")
    y = np.asarray(y)
    n, k = logits.shape
    if y.shape != (n,):
        raise ValueError(
            f"{fn}: y has shape {y.shape} but logits has shape {logits.shape}; "
            f"expected one integer label per row, y.shape == ({n},)."
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{fn}: y must hold integer class labels, got dtype {y.dtype}.")
    if n == 0:
        raise ValueError(f"{fn}: the batch is empty (logits.shape={logits.shape}).")
    if y.min() < 0 or y.max() >= k:
        raise ValueError(
            f"{fn}: labels must be in [0, {k}), got values from {y.min()} to {y.max()}."
        )
    return logits, y
