"""Mistakes for 09_experiments: each is the solution's own cell with one plausible bug."""

from tests.mistakes import Mistake, with_bug

ASSIGNMENT = "09_experiments"


MISTAKES = [
    # Counts the kernels right but forgets the one bias per output map (1,500 instead of 1,516).
    Mistake(
        "forgets the biases in c3_parameters",
        with_bug(
            ASSIGNMENT,
            "c3_parameters",
            "return pairs * kernel_size * kernel_size + len(table)",
            "return pairs * kernel_size * kernel_size",
        ),
        frozenset({"test_c3_parameters"}),
    ),
    # np.roll wraps the pixels that leave one edge around to the other instead of filling zeros;
    # on MNIST digits with blank borders the visible checks still pass.
    Mistake(
        "shifts with np.roll, so pixels wrap around instead of zeros moving in",
        with_bug(
            ASSIGNMENT,
            "random_shift",
            "out[i] = padded[i, top : top + h, left : left + w]",
            "out[i] = np.roll(images[i], (dy, dx), axis=(0, 1))",
        ),
        frozenset({"test_random_shift", "test_random_shift_rule"}),
    ),
    # Floor division: counts the 19 full batches and forgets the last, smaller one.
    Mistake(
        "counts only the full batches of 256",
        with_bug(
            ASSIGNMENT,
            "updates_batch_256",
            "updates_batch_256 = -(-5_000 // 256)",
            "updates_batch_256 = 5_000 // 256",
        ),
        frozenset({"test_updates_batch_256"}),
    ),
    # 0.25**4 = 1/256 looks small enough: one layer short.
    Mistake(
        "stops one sigmoid layer short (0.25**4 = 1/256)",
        with_bug(ASSIGNMENT, "sigmoid_layers", "sigmoid_layers = 5", "sigmoid_layers = 4"),
        frozenset({"test_sigmoid_layers"}),
    ),
]
