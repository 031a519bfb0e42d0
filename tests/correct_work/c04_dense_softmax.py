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
        "params_64": code(
            """
            side = 64
            for step in ["C1", "S2", "C3", "S4"]:
                if step.startswith("C"):
                    side = side - 5 + 1  # a 5x5 kernel, no padding
                else:
                    side = side // 2
            params_64 = 0
            for c_in, c_out in [(1, 6), (6, 16)]:
                params_64 += c_out * c_in * 5 * 5 + c_out
            for d_in, d_out in [(16 * side * side, 120), (120, 84), (84, 10)]:
                params_64 += d_in * d_out + d_out
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
        "logit_gap": code(
            """
            # softmax([z0, z1]) = [0.9, 0.1] and p0 / p1 = exp(z0 - z1)
            ratio = 0.9 / 0.1
            logit_gap = float(np.log(ratio))
            """
        ),
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
        "params_64": code(
            """
            H = W = 64
            H, W = (H - 5 + 1) // 2, (W - 5 + 1) // 2  # conv1 5x5, pool 2x2
            H, W = (H - 5 + 1) // 2, (W - 5 + 1) // 2  # conv2 5x5, pool 2x2
            shapes = [(6, 1, 5, 5), (6,), (16, 6, 5, 5), (16,), (16 * H * W, 120), (120,)]
            shapes += [(120, 84), (84,), (84, 10), (10,)]
            params_64 = np.sum([np.prod(s) for s in shapes])  # a NumPy int64
            """
        ),
        "softmax": code(
            """
            def log_softmax(z):
                m = np.max(z, axis=1, keepdims=True)
                return z - (m + np.log(np.sum(np.exp(z - m), axis=1, keepdims=True)))


            def softmax(logits):
                return np.exp(log_softmax(logits))
            """
        ),
        "logit_gap": "logit_gap = np.log(0.9) - np.log(0.1)  # np.float64\n",
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
        "params_64": code(
            """
            def lenet_params(side, kernel=5, maps=(1, 6, 16), units=(120, 84, 10)):
                total = 0
                for c_in, c_out in zip(maps[:-1], maps[1:]):
                    total += c_out * (c_in * kernel * kernel + 1)
                    side = (side - kernel + 1) // 2
                sizes = [maps[-1] * side * side, *units]
                total += sum(d_in * d_out + d_out for d_in, d_out in zip(sizes[:-1], sizes[1:]))
                return total


            assert lenet_params(32) == 61_706
            params_64 = lenet_params(64)
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
        "logit_gap": code(
            """
            p = np.array([0.9, 0.1], dtype=np.float32)
            z = np.log(p)  # one choice of logits: softmax(log p) = p
            logit_gap = z[0] - z[1]  # a NumPy float32
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
