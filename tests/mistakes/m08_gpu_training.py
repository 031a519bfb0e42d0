"""Mistakes for 08_gpu_training: each is the solution's own cell with one plausible bug.

Both leave the trained model alone, so each costs exactly its own test and fails in seconds.
"""

from tests.mistakes import Mistake, with_bug

ASSIGNMENT = "08_gpu_training"


MISTAKES = [
    # Right when every batch is full; too low when the last batch is smaller.
    Mistake(
        "divides by (number of batches x batch size), as if every batch were full",
        with_bug(
            ASSIGNMENT,
            "evaluate",
            "return correct.item() / len(x)",
            "return correct.item() / (-(-len(x) // batch_size) * batch_size)",
        ),
        frozenset({"test_evaluate"}),
    ),
    # Builds the right architecture but keeps its fresh random weights.
    Mistake(
        "load_checkpoint rebuilds the model but never loads the saved weights",
        with_bug(ASSIGNMENT, "checkpoint", '    model.load_state_dict(saved["state_dict"])\n', ""),
        frozenset({"test_checkpoint"}),
    ),
    # Sizes the images as load_mnist returned them, forgetting that to_device padded them.
    Mistake(
        "counts x_train's digits as 28 x 28 (before the padding to 32 x 32)",
        with_bug(ASSIGNMENT, "train_megabytes", "32 * 32 * 4", "28 * 28 * 4"),
        frozenset({"test_train_megabytes"}),
    ),
]
