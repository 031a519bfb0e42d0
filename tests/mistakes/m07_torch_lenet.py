"""Mistakes for 07_torch_lenet: each is the solution's own cell with one plausible bug."""

from tests.mistakes import Mistake, with_bug

ASSIGNMENT = "07_torch_lenet"


MISTAKES = [
    # Shapes and parameter counts are right; only the outputs of the classic variant differ.
    Mistake(
        "uses max pooling in both variants",
        with_bug(
            ASSIGNMENT,
            "lenet5",
            'pool = nn.AvgPool2d if variant == "classic" else nn.MaxPool2d',
            "pool = nn.MaxPool2d",
        ),
        frozenset({"test_lenet5", "test_autograd_gradients"}),
    ),
    # Shapes fit, values are scrambled: the loaded network computes something else.
    Mistake(
        "reshapes the dense weights to (out, in) instead of transposing them",
        with_bug(
            ASSIGNMENT,
            "exchange",
            "                array = array.T\n",
            "                array = array.reshape(array.shape[::-1])\n",
        ),
        frozenset({"test_exchange", "test_autograd_gradients"}),
    ),
    # Right on a fresh model; a second call returns the sum of both calls' gradients.
    Mistake(
        "forgets model.zero_grad(), so gradients accumulate across calls",
        with_bug(ASSIGNMENT, "autograd_gradients", "    model.zero_grad()\n", ""),
        frozenset({"test_autograd_gradients"}),
    ),
    # Counts C5 on 64x64 digits as a dense layer on the flattened 13x13 maps.
    Mistake(
        "thinks a convolution's parameters grow with the input (counts a dense C5 on 13x13 maps)",
        with_bug(
            ASSIGNMENT,
            "c5_conv_params",
            "c5_conv_params = 120 * 16 * 5 * 5 + 120",
            "c5_conv_params = 16 * 13 * 13 * 120 + 120",
        ),
        frozenset({"test_c5_conv_params"}),
    ),
    # Takes autograd for the finite differences of notebook 05.
    Mistake(
        "answers that autograd uses finite differences",
        with_bug(ASSIGNMENT, "autograd_method", 'autograd_method = "c"', 'autograd_method = "a"'),
        frozenset({"test_autograd_method"}),
    ),
]
