"""Correct work for 03_pooling_activations, written three ways."""

# ruff: noqa: E501 - notebook code kept in strings (notebooks allow long lines)

from tests.correct_work import Submission, code

ASSIGNMENT = "03_pooling_activations"

CS231N = Submission(
    "CS231n assignment 2 style",
    "max_pool_forward_naive(x, pool_param) with a pool_param dict and loops over the output "
    "positions (all images and channels at once); ReLU as x * (x > 0); the sigmoid with "
    "positive and negative masks as in CS231n's rnn_layers; constants in the input's dtype",
    {
        "avgpool2d_forward": code(
            '''
            def pool_forward_naive(x, pool_param, reduce):
                """CS231n-style pooling: pool_param = {'pool_height', 'pool_width', 'stride'}."""
                N, C, H, W = x.shape
                ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
                H_out = 1 + (H - ph) // stride
                W_out = 1 + (W - pw) // stride
                out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)
                for i in range(H_out):
                    for j in range(W_out):
                        window = x[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw]
                        out[:, :, i, j] = reduce(window, axis=(2, 3))
                return out


            def avgpool2d_forward(x, size=2, stride=2):
                pool_param = {"pool_height": size, "pool_width": size, "stride": stride}
                return pool_forward_naive(x, pool_param, np.mean), (x, size, stride)
            '''
        ),
        "maxpool2d_forward": code(
            """
            def max_pool_forward_naive(x, pool_param):
                return pool_forward_naive(x, pool_param, np.max)


            def maxpool2d_forward(x, size=2, stride=2):
                pool_param = {"pool_height": size, "pool_width": size, "stride": stride}
                return max_pool_forward_naive(x, pool_param), (x, size, stride)
            """
        ),
        "pooling_benefits": 'pooling_benefits = frozenset("abc")\n',
        "relu_tanh": code(
            """
            def relu_forward(x):
                out = x * (x > 0)
                return out, out


            def tanh_forward(x):
                out = np.tanh(x)
                cache = out
                return out, cache
            """
        ),
        "sigmoid_forward": code(
            '''
            def sigmoid_forward(x):
                """A numerically stable sigmoid (CS231n rnn_layers.py style)."""
                pos_mask = x >= 0
                neg_mask = x < 0
                z = np.zeros_like(x)
                z[pos_mask] = np.exp(-x[pos_mask])
                z[neg_mask] = np.exp(x[neg_mask])
                top = np.ones_like(x)
                top[neg_mask] = z[neg_mask]
                out = top / (1 + z)
                return out, out
            '''
        ),
        "scaled_tanh_forward": code(
            """
            def scaled_tanh_forward(x):
                A, S = x.dtype.type(1.7159), x.dtype.type(2 / 3)
                out = A * np.tanh(S * x)
                return out, out
            """
        ),
        "sigmoid_variance_scale": code(
            """
            s0 = 1 / (1 + np.exp(-0.0))  # sigmoid(0), where the slope is largest
            slope = s0 * (1 - s0)  # a NumPy float64
            sigmoid_variance_scale = np.reciprocal(slope * slope)  # n * Var(w) * slope**2 = 1
            """
        ),
    },
)

DEEPLEARNING_AI = Submission(
    'DeepLearning.AI "Convolution model step by step" style',
    "pool_forward(A_prev, hparameters, mode) on channels-last arrays with loops over examples, "
    "rows, columns and channels, taking np.max or np.mean of each a_prev_slice; ReLU with "
    "np.where; the sigmoid as exp(-logaddexp(0, -x)); the scaled tanh with its constants as "
    "keyword arguments; the slope bound found on a grid",
    {
        "avgpool2d_forward": code(
            '''
            def pool_forward(A_prev, hparameters, mode="max"):
                """Pooling of A_prev (m, n_H_prev, n_W_prev, n_C) with hparameters {'f', 'stride'}."""
                (m, n_H_prev, n_W_prev, n_C) = A_prev.shape
                f, stride = hparameters["f"], hparameters["stride"]
                n_H = int(1 + (n_H_prev - f) / stride)
                n_W = int(1 + (n_W_prev - f) / stride)
                A = np.zeros((m, n_H, n_W, n_C), dtype=A_prev.dtype)
                for i in range(m):
                    for h in range(n_H):
                        vert_start, vert_end = h * stride, h * stride + f
                        for w in range(n_W):
                            horiz_start, horiz_end = w * stride, w * stride + f
                            for c in range(n_C):
                                a_prev_slice = A_prev[i, vert_start:vert_end, horiz_start:horiz_end, c]
                                if mode == "max":
                                    A[i, h, w, c] = np.max(a_prev_slice)
                                elif mode == "average":
                                    A[i, h, w, c] = np.mean(a_prev_slice)
                return A


            def avgpool2d_forward(x, size=2, stride=2):
                A = pool_forward(x.transpose(0, 2, 3, 1), {"f": size, "stride": stride}, mode="average")
                return A.transpose(0, 3, 1, 2), (x, size, stride)
            '''
        ),
        "maxpool2d_forward": code(
            """
            def maxpool2d_forward(x, size=2, stride=2):
                A = pool_forward(x.transpose(0, 2, 3, 1), {"f": size, "stride": stride}, mode="max")
                return A.transpose(0, 3, 1, 2), (x, size, stride)
            """
        ),
        "pooling_benefits": 'pooling_benefits = {"c", "b", "a"}\n',
        "relu_tanh": code(
            """
            def relu_forward(x):
                A = np.where(x > 0, x, 0)
                return A, A


            def tanh_forward(x):
                A = np.tanh(x)
                return A, A
            """
        ),
        "sigmoid_forward": code(
            """
            def sigmoid_forward(x):
                # sigmoid(x) = exp(-log(1 + exp(-x))); logaddexp never overflows
                A = np.exp(-np.logaddexp(0, -x))
                return A, A
            """
        ),
        "scaled_tanh_forward": code(
            """
            def scaled_tanh_forward(x, amplitude=1.7159, slope=2 / 3):
                A = amplitude * np.tanh(slope * x)
                return A.astype(x.dtype), A.astype(x.dtype)
            """
        ),
        "sigmoid_variance_scale": code(
            """
            grid = np.linspace(-10, 10, 2001)  # contains 0 exactly
            s = sigmoid_forward(grid)[0]
            sigmoid_max_slope = float(np.max(s * (1 - s)))
            sigmoid_variance_scale = sigmoid_max_slope**-2
            """
        ),
    },
)

OFFSETS = Submission(
    "loops over window offsets, tanh identity",
    "pooling by combining the size x size strided slices of x (np.maximum from the first "
    "offset, a running sum divided by size**2); ReLU with np.clip; the sigmoid through the "
    "identity sigmoid(x) = (1 + tanh(x / 2)) / 2, which never exponentiates at all",
    {
        "avgpool2d_forward": code(
            '''
            def _offset_slices(x, size, stride):
                """Every (u, v) offset of the window: the strided slice of x it sees."""
                oh = (x.shape[2] - size) // stride + 1
                ow = (x.shape[3] - size) // stride + 1
                for u in range(size):
                    for v in range(size):
                        yield x[:, :, u : u + stride * (oh - 1) + 1 : stride, v : v + stride * (ow - 1) + 1 : stride]


            def avgpool2d_forward(x, size=2, stride=2):
                total = sum(_offset_slices(x, size, stride))
                return (total / (size * size)).astype(x.dtype), (x, size, stride)
            '''
        ),
        "maxpool2d_forward": code(
            """
            def maxpool2d_forward(x, size=2, stride=2):
                slices = _offset_slices(x, size, stride)
                out = next(slices).copy()
                for part in slices:
                    np.maximum(out, part, out=out)
                return out, (x, size, stride)
            """
        ),
        "pooling_benefits": 'pooling_benefits = set("cab")\n',
        "relu_tanh": code(
            """
            def relu_forward(x):
                out = np.clip(x, 0, None)
                return out, out


            def tanh_forward(x):
                out = np.tanh(x)
                return out, out
            """
        ),
        "sigmoid_forward": code(
            """
            def sigmoid_forward(x):
                half = x.dtype.type(0.5)
                out = half * (1 + np.tanh(half * x))  # = 1 / (1 + exp(-x)), no exp at all
                return out, out
            """
        ),
        "scaled_tanh_forward": code(
            """
            def scaled_tanh_forward(x):
                out = np.multiply(1.7159, np.tanh(np.multiply(2 / 3, x)), dtype=x.dtype)
                return out, out
            """
        ),
        "sigmoid_variance_scale": code(
            """
            # n * Var(w) * (1/4)**2 = 1 with Var(w) = s / n: s = 4**2, an int
            sigmoid_variance_scale = 4**2
            """
        ),
    },
)

SUBMISSIONS = [CS231N, DEEPLEARNING_AI, OFFSETS]
