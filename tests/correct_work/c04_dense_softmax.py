"""Correct work for 04_dense_softmax, written three ways."""

# ruff: noqa: E501 - notebook code kept in strings (notebooks allow long lines)

from tests.correct_work import Submission, code

ASSIGNMENT = "04_dense_softmax"

LOOPS = Submission(
    "loops over rows and units",
    "flatten by stacking each image's ravel(); the dense layer as one dot product per "
    "(image, output unit); softmax and cross-entropy one row at a time, the loss summed in a "
    "Python float",
    {
        "flatten_forward": code(
            """
            def flatten_forward(x):
                rows = [image.ravel() for image in x]  # C order, one row per image
                return np.stack(rows), x.shape
            """
        ),
        "dense_forward": code(
            """
            def dense_forward(x, w, b):
                n, d = x.shape
                if w.shape[0] != d:
                    raise ValueError(f"x {x.shape} has {d} features, but w {w.shape} has {w.shape[0]} rows")
                out = np.empty((n, w.shape[1]), dtype=np.result_type(x, w, b))
                for i in range(n):
                    for j in range(w.shape[1]):
                        out[i, j] = x[i] @ w[:, j] + b[j]
                return out, (x, w, b)
            """
        ),
        "dense_params": code(
            """
            dense_params = 0
            for name, (d_in, d_out) in dense_shapes.items():
                dense_params += d_in * d_out + d_out
            """
        ),
        "softmax": code(
            """
            def softmax(logits):
                probs = np.empty_like(logits)
                for i, row in enumerate(logits):
                    e = np.exp(row - row.max())
                    probs[i] = e / e.sum()
                return probs
            """
        ),
        "softmax_unchanged_by": 'softmax_unchanged_by = "b"  # adding a constant cancels\n',
        "cross_entropy": code(
            """
            def cross_entropy(logits, y):
                total = 0.0
                for row, label in zip(logits, y):
                    m = row.max()
                    log_sum = m + np.log(np.sum(np.exp(row - m)))  # log-sum-exp
                    total += float(log_sum - row[label])
                return total / len(y)
            """
        ),
    },
)

CS231N = Submission(
    "CS231n assignment 2 style",
    "affine_forward-like dense layer with np.dot and a shape check; softmax through "
    "log-probabilities (z - logsumexp z); cross-entropy as in CS231n's softmax_loss with "
    "np.take_along_axis; NumPy integers for the count",
    {
        "flatten_forward": code(
            """
            def flatten_forward(x):
                N = x.shape[0]
                D = int(np.prod(x.shape[1:], dtype=np.int64))
                return np.reshape(x, (N, D)), tuple(x.shape)
            """
        ),
        "dense_forward": code(
            '''
            def dense_forward(x, w, b):
                """Like CS231n's affine_forward: out = x.dot(w) + b, cache = (x, w, b)."""
                if x.shape[-1] != w.shape[0]:
                    raise ValueError(f"shapes {x.shape} and {w.shape} are not aligned")
                out = x.dot(w) + b
                cache = (x, w, b)
                return out, cache
            '''
        ),
        "dense_params": "dense_params = sum(np.prod(s) + s[1] for s in dense_shapes.values())\n",
        "softmax": code(
            """
            def log_softmax(z):
                m = np.max(z, axis=1, keepdims=True)
                return z - (m + np.log(np.sum(np.exp(z - m), axis=1, keepdims=True)))


            def softmax(logits):
                return np.exp(log_softmax(logits))
            """
        ),
        "softmax_unchanged_by": "softmax_unchanged_by = 'b'\n",
        "cross_entropy": code(
            """
            def cross_entropy(logits, y):
                N = logits.shape[0]
                shifted_logits = logits - np.max(logits, axis=1, keepdims=True)
                Z = np.sum(np.exp(shifted_logits), axis=1, keepdims=True)
                log_probs = shifted_logits - np.log(Z)
                picked = np.take_along_axis(log_probs, y.astype(np.int64)[:, None], axis=1)
                loss = -np.sum(picked) / N
                return float(loss)
            """
        ),
    },
)

FLOAT64 = Submission(
    "float64 inside, extra keyword arguments",
    "softmax and cross-entropy computed in float64 whatever the input, the probabilities cast "
    "back to the logits' dtype; an axis keyword for the softmax and a reduction keyword for "
    "the loss; the correct class picked with a one-hot matrix; einsum for the dense layer",
    {
        "flatten_forward": code(
            """
            def flatten_forward(x, start_axis=1):
                shape = x.shape
                out = x.reshape(shape[:start_axis] + (-1,), order="C")
                return out, shape
            """
        ),
        "dense_forward": code(
            """
            def dense_forward(x, w, b):
                (n, d), (d_w, m) = x.shape, w.shape
                if d != d_w:
                    raise ValueError(
                        f"dense_forward: x of shape {x.shape} has {d} features, w of shape {w.shape} "
                        f"expects {d_w}"
                    )
                return np.einsum("nd,dm->nm", x, w) + b, (x, w, b)
            """
        ),
        "dense_params": code(
            """
            dense_params = int(
                np.sum([d_in * d_out for d_in, d_out in dense_shapes.values()])
                + np.sum([d_out for _, d_out in dense_shapes.values()])
            )
            """
        ),
        "softmax": code(
            """
            def softmax(logits, axis=1):
                z = logits.astype(np.float64)
                z = z - z.max(axis=axis, keepdims=True)
                p = np.exp(z)
                p /= p.sum(axis=axis, keepdims=True)
                return p.astype(logits.dtype)
            """
        ),
        "softmax_unchanged_by": code(
            """
            choices = {"a": "times 2", "b": "plus 100", "c": "largest plus 100", "d": "abs"}
            softmax_unchanged_by = next(k for k, v in choices.items() if v == "plus 100")
            """
        ),
        "cross_entropy": code(
            """
            def cross_entropy(logits, y, reduction="mean"):
                z = np.asarray(logits, dtype=np.float64)
                z = z - z.max(axis=1, keepdims=True)
                log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
                onehot = np.eye(z.shape[1])[np.asarray(y)]
                losses = -(onehot * log_probs).sum(axis=1)
                return float(losses.mean() if reduction == "mean" else losses.sum())
            """
        ),
    },
)

SUBMISSIONS = [LOOPS, CS231N, FLOAT64]
