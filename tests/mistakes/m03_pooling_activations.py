"""Mistakes for 03_pooling_activations."""

from tests.mistakes import Mistake

ASSIGNMENT = "03_pooling_activations"
MISTAKES = [
    Mistake(
        "divides the window sum by size instead of size * size",
        {
            "avgpool2d_forward": (
                "def avgpool2d_forward(x, size=2, stride=2):\n"
                "    windows = sliding_window_view(x, (size, size), axis=(2, 3))\n"
                "    windows = windows[:, :, ::stride, ::stride]\n"
                "    return windows.sum(axis=(4, 5)) / size, (x, size, stride)\n"
            )
        },
        frozenset({"test_avgpool2d_forward"}),
    ),
    Mistake(
        "max-pools with a reshape, which only works when size == stride (no overlap)",
        {
            "maxpool2d_forward": (
                "def maxpool2d_forward(x, size=2, stride=2):\n"
                "    n, c, h, w = x.shape\n"
                "    out = x.reshape(n, c, h // size, size, w // size, size).max(axis=(3, 5))\n"
                "    return out, (x, size, stride)\n"
            )
        },
        frozenset({"test_maxpool2d_forward"}),
    ),
    Mistake(
        "computes the sigmoid straight from the formula, which overflows for large negative x",
        {
            "sigmoid_forward": (
                "def sigmoid_forward(x):\n    out = 1 / (1 + np.exp(-x))\n    return out, out\n"
            )
        },
        frozenset({"test_sigmoid_forward"}),
    ),
    Mistake(
        "swaps the two constants of the scaled tanh",
        {
            "scaled_tanh_forward": (
                "def scaled_tanh_forward(x):\n"
                "    out = 2 / 3 * np.tanh(1.7159 * x)\n"
                "    return out, out\n"
            )
        },
        frozenset({"test_scaled_tanh_forward"}),
    ),
    Mistake(
        "believes pooling adds trainable parameters",
        {"pooling_benefits": 'pooling_benefits = {"a", "b", "c", "d"}\n'},
        frozenset({"test_pooling_benefits"}),
    ),
    Mistake(
        "scales the sigmoid's weight variance by 1 / slope instead of 1 / slope**2",
        {"sigmoid_variance_scale": "sigmoid_variance_scale = 1 / (0.5 * (1 - 0.5))\n"},
        frozenset({"test_sigmoid_variance_scale"}),
    ),
]
