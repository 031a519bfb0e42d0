"""Mistakes for 06_numpy_lenet: each is the solution's own cell with one plausible bug."""

from tests.mistakes import Mistake, with_bug

ASSIGNMENT = "06_numpy_lenet"


MISTAKES = [
    # Fails fast: C5 receives (N, 16, 5, 5), so the first forward pass raises.
    Mistake(
        "forgets the flatten layer between S4 and C5",
        with_bug(ASSIGNMENT, "lenet5", '"flatten": Flatten(),\n', ""),
        frozenset(
            {"test_lenet5_structure", "test_lenet5_gradients", "test_train", "test_accuracy"}
        ),
    ),
    # Runs to the end without an error, but the model never changes: training learns nothing.
    Mistake(
        "rebinds the parameter (p = p - lr * v) instead of updating the model's array in place",
        with_bug(ASSIGNMENT, "sgd", "p -= self.lr * v", "p = p - self.lr * v"),
        frozenset({"test_sgd", "test_train", "test_accuracy"}),
    ),
]
