"""Mistakes for 05_backprop."""

from tests.mistakes import Mistake

ASSIGNMENT = "05_backprop"
MISTAKES = [
    Mistake(
        "sums the bias gradient over the wrong axis",
        {
            "dense_backward": (
                "def dense_backward(dout, cache):\n"
                "    x, w, b = cache\n"
                "    return dout @ w.T, x.T @ dout, dout.sum(axis=1)\n"
            )
        },
        frozenset({"test_dense_backward"}),
    ),
    Mistake(
        "forgets to divide the softmax cross-entropy gradient by the batch size",
        {
            "softmax_cross_entropy": (
                "def softmax_cross_entropy(logits, y):\n"
                "    rows = np.arange(logits.shape[0])\n"
                "    shifted = logits - logits.max(axis=1, keepdims=True)\n"
                "    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))\n"
                "    dlogits = np.exp(log_probs)\n"
                "    dlogits[rows, y] -= 1\n"
                "    return float(-log_probs[rows, y].mean()), dlogits\n"
            )
        },
        frozenset({"test_softmax_cross_entropy"}),
    ),
    Mistake(
        "max pooling gives the gradient to every tied maximum",
        {
            "maxpool2d_backward": (
                "def maxpool2d_backward(dout, cache):\n"
                "    x, size, stride = cache\n"
                "    dx = np.zeros_like(x)\n"
                "    for i in range(dout.shape[2]):\n"
                "        for j in range(dout.shape[3]):\n"
                "            t, l = i * stride, j * stride\n"
                "            window = x[:, :, t : t + size, l : l + size]\n"
                "            mask = window == window.max(axis=(2, 3), keepdims=True)\n"
                "            g = mask * dout[:, :, i, j, None, None]\n"
                "            dx[:, :, t : t + size, l : l + size] += g\n"
                "    return dx\n"
            )
        },
        frozenset({"test_maxpool2d_backward"}),
    ),
    Mistake(
        "returns the gradient of the padded input (forgets to cut the padding away)",
        {
            "conv2d_backward": (
                "def conv2d_backward(dout, cache):\n"
                "    x, w, b, stride, pad = cache\n"
                "    kh, kw = w.shape[2:]\n"
                "    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))\n"
                "    dxp, dw = np.zeros_like(xp), np.zeros_like(w)\n"
                "    for i in range(dout.shape[2]):\n"
                "        for j in range(dout.shape[3]):\n"
                "            t, l = i * stride, j * stride\n"
                "            g = dout[:, :, i, j]\n"
                "            window = xp[:, :, t : t + kh, l : l + kw]\n"
                "            dw += np.tensordot(g, window, axes=([0], [0]))\n"
                "            gx = np.tensordot(g, w, axes=([1], [0]))\n"
                "            dxp[:, :, t : t + kh, l : l + kw] += gx\n"
                "    return dxp, dw, dout.sum(axis=(0, 2, 3))\n"
            )
        },
        frozenset({"test_conv2d_backward"}),
    ),
    Mistake(
        "counts one forward pass per parameter for the centred difference",
        {"fd_forward_passes": "fd_forward_passes = 61_706\n"},
        frozenset({"test_fd_forward_passes"}),
    ),
]
