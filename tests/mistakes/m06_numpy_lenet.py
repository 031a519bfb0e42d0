"""Mistakes for 06_numpy_lenet: each is the solution's own cell with one plausible bug."""

from tests.mistakes import Mistake, with_bug

ASSIGNMENT = "06_numpy_lenet"


MISTAKES = [
    # Fails fast: C5 receives (N, 16, 5, 5), so the first forward pass raises.
    Mistake(
        "forgets the flatten layer between S4 and C5",
        with_bug(ASSIGNMENT, "lenet5", '"flatten": Flatten(),\n', ""),
        frozenset(
            {
                "test_lenet5_structure",
                "test_lenet5_gradients",
                "test_train",
                "test_train_stopping",
                "test_accuracy",
            }
        ),
    ),
    # Runs to the end without an error, but the model never changes: training learns nothing.
    Mistake(
        "rebinds the parameter (p = p - lr * v) instead of updating the model's array in place",
        with_bug(ASSIGNMENT, "sgd", "p -= self.lr * v", "p = p - self.lr * v"),
        frozenset({"test_sgd", "test_train", "test_accuracy"}),
    ),
    # Right values, but all 10,000 images at once: the memory it promised to keep small.
    Mistake(
        "evaluate predicts all the images in one call, ignoring batch_size",
        with_bug(
            ASSIGNMENT,
            "evaluate",
            """    correct = 0
    for i in range(0, len(y), batch_size):
        correct += int(np.sum(model.predict(x[i : i + batch_size]) == y[i : i + batch_size]))
    return correct / len(y)""",
            "    return float(np.mean(model.predict(x) == y))",
        ),
        frozenset({"test_evaluate"}),
    ),
    # Stops at the right epoch, but hands back the last epoch's weights, not the best.
    Mistake(
        "with patience, remembers the best weights but never writes them back",
        with_bug(
            ASSIGNMENT,
            "train",
            """    if best_params is not None:
        for k, v in best_params.items():
            model.params[k] = v
""",
            "",
        ),
        frozenset({"test_train_stopping"}),
    ),
]
