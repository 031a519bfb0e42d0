"""Mistakes for 04_dense_softmax."""

from tests.mistakes import Mistake

ASSIGNMENT = "04_dense_softmax"
MISTAKES = [
    Mistake(
        "forgets the bias in the dense layer",
        {
            "dense_forward": (
                "def dense_forward(x, w, b):\n"
                "    if x.shape[1] != w.shape[0]:\n"
                "        raise ValueError(f'x {x.shape} does not fit w {w.shape}')\n"
                "    return x @ w, (x, w, b)\n"
            )
        },
        frozenset({"test_dense_forward"}),
    ),
    Mistake(
        "the naive softmax, without subtracting the maximum (overflows)",
        {
            "softmax": (
                "def softmax(logits):\n"
                "    e = np.exp(logits)\n"
                "    return e / e.sum(axis=1, keepdims=True)\n"
            )
        },
        frozenset({"test_softmax"}),
    ),
    Mistake(
        "sums the cross-entropy over the batch instead of averaging",
        {
            "cross_entropy": (
                "def cross_entropy(logits, y):\n"
                "    shifted = logits - logits.max(axis=1, keepdims=True)\n"
                "    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))\n"
                "    return float(-log_probs[np.arange(len(y)), y].sum())\n"
            )
        },
        frozenset({"test_cross_entropy"}),
    ),
    Mistake(
        "keeps 5x5 maps after S4 on a larger image: the count for 32x32",
        {
            "params_64": (
                "params_64 = (6 * 25 + 6) + (16 * 6 * 25 + 16) + (16 * 5 * 5 * 120 + 120)"
                " + (120 * 84 + 84) + (84 * 10 + 10)\n"
            )
        },
        frozenset({"test_params_64"}),
    ),
    Mistake(
        "takes the difference of the probabilities for the difference of the logits",
        {"logit_gap": "logit_gap = 0.9 - 0.1\n"},
        frozenset({"test_logit_gap"}),
    ),
]
