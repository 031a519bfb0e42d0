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
]
