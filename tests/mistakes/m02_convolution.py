"""Mistakes for 02_convolution."""

from tests.mistakes import Mistake

ASSIGNMENT = "02_convolution"
MISTAKES = [
    Mistake(
        "returns a size even when the windows do not tile the input (no ValueError)",
        {
            "conv_output_size": (
                "def conv_output_size(size, kernel, stride=1, pad=0):\n"
                "    return (size + 2 * pad - kernel) // stride + 1\n"
            )
        },
        frozenset({"test_conv_output_size"}),
    ),
    Mistake(
        "flips the kernel (textbook convolution instead of PyTorch's cross-correlation)",
        {
            "conv2d_forward_naive": (
                "def conv2d_forward_naive(x, w, b, stride=1, pad=0):\n"
                "    n_images, _, height, width = x.shape\n"
                "    n_filters, _, kh, kw = w.shape\n"
                "    out_h = conv_output_size(height, kh, stride, pad)\n"
                "    out_w = conv_output_size(width, kw, stride, pad)\n"
                "    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))\n"
                "    out = np.zeros((n_images, n_filters, out_h, out_w), dtype=x.dtype)\n"
                "    for n in range(n_images):\n"
                "        for f in range(n_filters):\n"
                "            for i in range(out_h):\n"
                "                for j in range(out_w):\n"
                "                    top, left = i * stride, j * stride\n"
                "                    window = xp[n, :, top : top + kh, left : left + kw]\n"
                "                    flipped = w[f, :, ::-1, ::-1]\n"
                "                    out[n, f, i, j] = np.sum(window * flipped) + b[f]\n"
                "    return out\n"
            )
        },
        frozenset({"test_conv2d_forward_naive"}),
    ),
    Mistake(
        "forgets the padding in the vectorized convolution",
        {
            "conv2d_forward": (
                "def conv2d_forward(x, w, b, stride=1, pad=0):\n"
                "    _, _, kh, kw = w.shape\n"
                "    windows = sliding_window_view(x, (kh, kw), axis=(2, 3))\n"
                "    windows = windows[:, :, ::stride, ::stride]\n"
                "    out = np.tensordot(windows, w, axes=([1, 4, 5], [1, 2, 3]))\n"
                "    out = out.transpose(0, 3, 1, 2) + b[:, None, None]\n"
                "    return out.astype(x.dtype), (x, w, b, stride, pad)\n"
            )
        },
        frozenset({"test_conv2d_forward"}),
    ),
    Mistake(
        "counts the parameters of a kernel without its bias",
        {
            "weight_sharing": (
                "c1_params = 6 * 5 * 5\n"
                "c1_params_unshared = 6 * 28 * 28 * 5 * 5\n"
                "c3_params = 16 * 6 * 5 * 5\n"
            )
        },
        frozenset({"test_weight_sharing"}),
    ),
    Mistake(
        "grows the receptive field by k - 1 at every layer, forgetting the jump",
        {
            "receptive_fields": (
                "r = 1\n"
                "for k in [5, 2, 5]:\n"
                "    r += k - 1\n"
                "rf_c3 = r\n"
                "for k in [2, 5]:\n"
                "    r += k - 1\n"
                "rf_c5 = r\n"
            )
        },
        frozenset({"test_receptive_fields"}),
    ),
]
