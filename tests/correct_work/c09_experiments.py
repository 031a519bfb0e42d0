"""Correct work for 09_experiments: one submission (its experiments train many small networks)."""

# ruff: noqa: E501 - notebook code kept in strings (notebooks allow long lines)

from tests.correct_work import Submission, code

ASSIGNMENT = "09_experiments"

VECTORIZED = Submission(
    "computed answers, a vectorized shift",
    "the concept checks computed (a while loop for the layers, math.ceil for the updates, "
    "dict(zip(...)) for the legacy); c3_parameters with NumPy, returning a NumPy integer, and "
    "an extra keyword argument; random_shift without padding or a loop: one gather with "
    "advanced indexing and a mask, the shifts drawn with rng.integers(..., endpoint=True), "
    "the same draws as the notebook's rule",
    {
        "sigmoid_layers": code(
            """
            sigmoid_layers, bound = 0, 1.0
            while bound >= 1 / 1000:
                sigmoid_layers += 1
                bound *= 0.25
            """
        ),
        "c3_parameters": code(
            '''
            def c3_parameters(table, kernel_size=5, bias=True):
                """kernel_size**2 weights per (output, input) pair, plus a bias per output map."""
                pairs = np.sum([len(inputs) for inputs in table])
                return pairs * kernel_size**2 + (len(table) if bias else 0)
            '''
        ),
        "updates_batch_256": code(
            """
            import math

            updates_batch_256 = math.ceil(N_TRAIN / 256)
            """
        ),
        "random_shift": code(
            '''
            def random_shift(images, max_shift, rng):
                """Shift image i by (dy, dx) = rng.integers(-m, m, size=(N, 2), endpoint=True)[i]."""
                if max_shift < 0:
                    raise ValueError(f"random_shift: max_shift must not be negative, got {max_shift}")
                n, h, w = images.shape
                dy, dx = rng.integers(-max_shift, max_shift, size=(n, 2), endpoint=True).T
                rows = np.arange(h)[None, :, None] - dy[:, None, None]  # source row of each pixel
                cols = np.arange(w)[None, None, :] - dx[:, None, None]
                inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
                picked = images[np.arange(n)[:, None, None], rows.clip(0, h - 1), cols.clip(0, w - 1)]
                return np.where(inside, picked, np.zeros((), dtype=images.dtype))
            '''
        ),
        "legacy": code(
            """
            networks = ["AlexNet", "VGG", "ResNet"]
            legacy = dict(zip(networks, ["b", "a", "c"]))
            """
        ),
    },
)

SUBMISSIONS = [VECTORIZED]
