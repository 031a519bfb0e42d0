"""Correct work for 05_backprop: CS231n assignment 2, DeepLearning.AI, and a third way."""

# ruff: noqa: E501 - notebook code kept in strings (notebooks allow long lines)

from tests.correct_work import Submission, code

ASSIGNMENT = "05_backprop"

CS231N = Submission(
    "CS231n assignment 2 style",
    "affine_backward with dout.dot(w.T); relu_backward by copying dout and zeroing where "
    "out <= 0; softmax_loss with probs[range(N), y] -= 1; naive pooling backward looping over "
    "images, channels and output positions (np.unravel_index of each window's argmax); the "
    "convolution backward by im2col and col2im, scattering with np.add.at",
    {
        "dense_backward": code(
            '''
            def dense_backward(dout, cache):
                """affine_backward of CS231n assignment 2."""
                x, w, b = cache
                dx = dout.dot(w.T).reshape(x.shape)
                dw = x.reshape(x.shape[0], -1).T.dot(dout)
                db = np.sum(dout, axis=0)
                return dx, dw, db
            '''
        ),
        "flatten_backward": code(
            """
            def flatten_backward(dout, cache):
                x_shape = cache
                return np.reshape(dout, x_shape)
            """
        ),
        "relu_backward": code(
            """
            def relu_backward(dout, cache):
                out = cache
                dx = dout.copy()
                dx[out <= 0] = 0
                return dx
            """
        ),
        "tanh_backward": code(
            """
            def tanh_backward(dout, cache):
                out = cache
                return (1 - out**2) * dout
            """
        ),
        "sigmoid_backward": code(
            """
            def sigmoid_backward(dout, cache):
                out = cache
                return dout * (out - out**2)
            """
        ),
        "softmax_cross_entropy": code(
            '''
            def softmax_cross_entropy(logits, y):
                """softmax_loss of CS231n assignment 2 (log-sum-exp on shifted logits)."""
                N = logits.shape[0]
                shifted_logits = logits - np.max(logits, axis=1, keepdims=True)
                Z = np.sum(np.exp(shifted_logits), axis=1, keepdims=True)
                log_probs = shifted_logits - np.log(Z)
                probs = np.exp(log_probs)
                loss = -np.sum(log_probs[np.arange(N), y]) / N
                dx = probs.copy()
                dx[np.arange(N), y] -= 1
                dx /= N
                return float(loss), dx
            '''
        ),
        "avgpool2d_backward": code(
            """
            def avgpool2d_backward(dout, cache):
                x, size, stride = cache
                N, C, H_out, W_out = dout.shape
                dx = np.zeros_like(x)
                for n in range(N):
                    for c in range(C):
                        for i in range(H_out):
                            for j in range(W_out):
                                hs, ws = i * stride, j * stride
                                dx[n, c, hs : hs + size, ws : ws + size] += dout[n, c, i, j] / (size * size)
                return dx
            """
        ),
        "maxpool2d_backward": code(
            '''
            def maxpool2d_backward(dout, cache):
                """max_pool_backward_naive: each window's gradient goes to its (first) maximum."""
                x, size, stride = cache
                N, C, H_out, W_out = dout.shape
                dx = np.zeros_like(x)
                for n in range(N):
                    for c in range(C):
                        for i in range(H_out):
                            for j in range(W_out):
                                hs, ws = i * stride, j * stride
                                window = x[n, c, hs : hs + size, ws : ws + size]
                                r, s = np.unravel_index(np.argmax(window), window.shape)
                                dx[n, c, hs + r, ws + s] += dout[n, c, i, j]
                return dx
            '''
        ),
        "conv2d_backward": code(
            '''
            def im2col_indices(x_shape, kh, kw, pad, stride):
                """(k, i, j) index arrays of every receptive field of the padded input."""
                _, C, H, W = x_shape
                out_h = (H + 2 * pad - kh) // stride + 1
                out_w = (W + 2 * pad - kw) // stride + 1
                i0 = np.tile(np.repeat(np.arange(kh), kw), C)
                i1 = stride * np.repeat(np.arange(out_h), out_w)
                j0 = np.tile(np.arange(kw), kh * C)
                j1 = stride * np.tile(np.arange(out_w), out_h)
                i = i0.reshape(-1, 1) + i1.reshape(1, -1)
                j = j0.reshape(-1, 1) + j1.reshape(1, -1)
                k = np.repeat(np.arange(C), kh * kw).reshape(-1, 1)
                return k, i, j


            def conv2d_backward(dout, cache):
                """conv_backward via im2col: dw and dx are matrix products, col2im adds back."""
                x, w, b, stride, pad = cache
                N, C, H, W = x.shape
                F, _, HH, WW = w.shape
                k, i, j = im2col_indices(x.shape, HH, WW, pad, stride)
                x_padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
                cols = x_padded[:, k, i, j]  # (N, C*HH*WW, positions)
                dout_r = dout.reshape(N, F, -1)  # (N, F, positions)
                db = np.sum(dout, axis=(0, 2, 3))
                dw = np.einsum("nfp,nkp->fk", dout_r, cols).reshape(w.shape)
                dcols = np.einsum("fk,nfp->nkp", w.reshape(F, -1), dout_r)
                dx_padded = np.zeros_like(x_padded)
                np.add.at(dx_padded, (slice(None), k, i, j), dcols)
                dx = dx_padded[:, :, pad : pad + H, pad : pad + W]
                return dx, dw, db
            '''
        ),
        "fd_forward_passes": "fd_forward_passes = 2 * (156 + 2_416 + 48_120 + 10_164 + 850)\n",
    },
)

DEEPLEARNING_AI = Submission(
    'DeepLearning.AI "Convolution model step by step" style',
    "conv_backward on channels-last arrays with vert_start/horiz_start loops over rows, "
    "columns and filters (dA_prev_pad, dW, db accumulated per slice, all examples at once); "
    "pool_backward with create_mask_from_window (the first maximum: argmax, not x == max) and "
    "distribute_value; linear_backward; the loss computed in float64 and its gradient cast to "
    "the logits' dtype",
    {
        "dense_backward": code(
            """
            def linear_backward(dZ, A_prev, W):
                dW = np.dot(A_prev.T, dZ)
                db = np.sum(dZ, axis=0, keepdims=True)
                dA_prev = np.dot(dZ, W.T)
                return dA_prev, dW, db


            def dense_backward(dout, cache):
                x, w, b = cache
                dA_prev, dW, db = linear_backward(dout, x, w)
                return dA_prev, dW, db.reshape(b.shape)
            """
        ),
        "flatten_backward": code(
            """
            def flatten_backward(dout, cache):
                return dout.reshape(*cache)
            """
        ),
        "relu_backward": code(
            """
            def relu_backward(dout, cache):
                A = cache
                dZ = np.array(dout, copy=True)
                dZ[A <= 0] = 0
                return dZ
            """
        ),
        "tanh_backward": code(
            """
            def tanh_backward(dout, cache):
                A = cache
                return dout * (1 - np.power(A, 2))
            """
        ),
        "sigmoid_backward": code(
            """
            def sigmoid_backward(dout, cache):
                s = cache
                return dout * s * (1 - s)
            """
        ),
        "softmax_cross_entropy": code(
            """
            def softmax_cross_entropy(logits, y):
                Z = logits.astype(np.float64)
                m = Z.shape[0]
                Z = Z - Z.max(axis=1, keepdims=True)
                log_A = Z - np.log(np.sum(np.exp(Z), axis=1, keepdims=True))
                Y = np.zeros_like(Z)
                Y[np.arange(m), y] = 1  # one-hot labels
                cost = -np.sum(Y * log_A) / m
                dZ = (np.exp(log_A) - Y) / m
                return float(cost), dZ.astype(logits.dtype)
            """
        ),
        "avgpool2d_backward": code(
            '''
            def distribute_value(dz, shape):
                """Spread dz (one value per example) evenly over a window of the given shape."""
                (n_H, n_W) = shape
                average = dz / (n_H * n_W)
                return np.ones((len(dz), n_H, n_W), dtype=dz.dtype) * average[:, None, None]


            def avgpool2d_backward(dout, cache):
                x, f, stride = cache
                A_prev = x.transpose(0, 2, 3, 1)  # channels last, as in the course
                dA = dout.transpose(0, 2, 3, 1)
                m, n_H, n_W, n_C = dA.shape
                dA_prev = np.zeros_like(A_prev)
                for h in range(n_H):
                    vert_start, vert_end = h * stride, h * stride + f
                    for w in range(n_W):
                        horiz_start, horiz_end = w * stride, w * stride + f
                        for c in range(n_C):
                            da = dA[:, h, w, c]
                            dA_prev[:, vert_start:vert_end, horiz_start:horiz_end, c] += distribute_value(da, (f, f))
                return dA_prev.transpose(0, 3, 1, 2)
            '''
        ),
        "maxpool2d_backward": code(
            '''
            def create_mask_from_window(x):
                """x: (m, f, f) windows -> a mask with True at each window's FIRST maximum."""
                m = x.shape[0]
                flat = x.reshape(m, -1)
                mask = np.zeros(flat.shape, dtype=bool)
                mask[np.arange(m), np.argmax(flat, axis=1)] = True  # ties: the first one
                return mask.reshape(x.shape)


            def maxpool2d_backward(dout, cache):
                x, f, stride = cache
                A_prev = x.transpose(0, 2, 3, 1)
                dA = dout.transpose(0, 2, 3, 1)
                m, n_H, n_W, n_C = dA.shape
                dA_prev = np.zeros_like(A_prev)
                for h in range(n_H):
                    vert_start, vert_end = h * stride, h * stride + f
                    for w in range(n_W):
                        horiz_start, horiz_end = w * stride, w * stride + f
                        for c in range(n_C):
                            a_prev_slice = A_prev[:, vert_start:vert_end, horiz_start:horiz_end, c]
                            mask = create_mask_from_window(a_prev_slice)
                            dA_prev[:, vert_start:vert_end, horiz_start:horiz_end, c] += (
                                mask * dA[:, h, w, c][:, None, None]
                            )
                return dA_prev.transpose(0, 3, 1, 2)
            '''
        ),
        "conv2d_backward": code(
            '''
            def zero_pad(X, pad):
                return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant", constant_values=0)


            def conv_backward(dZ, cache):
                """DeepLearning.AI's conv_backward, vectorized over the examples of the batch."""
                (A_prev, W, b, hparameters) = cache
                stride, pad = hparameters["stride"], hparameters["pad"]
                (f_h, f_w, n_C_prev, n_C) = W.shape
                (m, n_H, n_W, n_C) = dZ.shape
                dA_prev = np.zeros_like(A_prev)
                dW = np.zeros_like(W)
                db = np.zeros((1, 1, 1, n_C), dtype=W.dtype)
                A_prev_pad = zero_pad(A_prev, pad)
                dA_prev_pad = zero_pad(dA_prev, pad)
                for h in range(n_H):
                    vert_start = h * stride
                    vert_end = vert_start + f_h
                    for w in range(n_W):
                        horiz_start = w * stride
                        horiz_end = horiz_start + f_w
                        a_slice = A_prev_pad[:, vert_start:vert_end, horiz_start:horiz_end, :]
                        for c in range(n_C):
                            dz = dZ[:, h, w, c]  # (m,)
                            dA_prev_pad[:, vert_start:vert_end, horiz_start:horiz_end, :] += (
                                W[None, :, :, :, c] * dz[:, None, None, None]
                            )
                            dW[:, :, :, c] += np.tensordot(dz, a_slice, axes=(0, 0))
                            db[:, :, :, c] += dz.sum()
                dA_prev = dA_prev_pad[:, pad : dA_prev_pad.shape[1] - pad, pad : dA_prev_pad.shape[2] - pad, :]
                return dA_prev, dW, db


            def conv2d_backward(dout, cache):
                x, w, b, stride, pad = cache
                dl_cache = (x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0), b, {"stride": stride, "pad": pad})
                dA_prev, dW, db = conv_backward(dout.transpose(0, 2, 3, 1), dl_cache)
                return dA_prev.transpose(0, 3, 1, 2), dW.transpose(3, 2, 0, 1), db.reshape(-1)
            '''
        ),
        "fd_forward_passes": code(
            """
            n_parameters = np.int64(61_706)
            fd_forward_passes = n_parameters * 2  # f(p + h) and f(p - h) for every parameter
            """
        ),
    },
)

TRANSPOSED = Submission(
    "transposed convolution, float64 gradients",
    "for float32 input the gradients come back in float64 (the notebook accepts both); dx of "
    "the convolution as a full correlation of the dilated, padded dout with the flipped "
    "kernels, dw as one einsum over a sliding_window_view; pooling gradients routed over the "
    "window offsets with a one-hot of each window's argmax; ReLU through np.heaviside",
    {
        "dense_backward": code(
            """
            def dense_backward(dout, cache):
                x, w, b = cache
                g = dout.astype(np.float64)
                return g @ w.T, np.einsum("nd,nm->dm", x, g), g.sum(axis=0)
            """
        ),
        "flatten_backward": code(
            """
            def flatten_backward(dout, cache):
                shape = tuple(cache)
                return dout.reshape(shape)
            """
        ),
        "relu_backward": code(
            """
            def relu_backward(dout, cache):
                return dout.astype(np.float64) * np.heaviside(cache, 0.0)
            """
        ),
        "tanh_backward": code(
            """
            def tanh_backward(dout, cache):
                out = cache.astype(np.float64)
                return dout - dout * out * out
            """
        ),
        "sigmoid_backward": code(
            """
            def sigmoid_backward(dout, cache):
                out = cache.astype(np.float64)
                return dout * out * (1.0 - out)
            """
        ),
        "softmax_cross_entropy": code(
            """
            def softmax_cross_entropy(logits, y):
                n = len(y)
                rows = np.arange(n)
                m = logits.max(axis=1, keepdims=True)
                lse = np.log(np.exp(logits - m).sum(axis=1)) + m[:, 0]  # log-sum-exp per row
                loss = float(np.mean(lse - logits[rows, y]))
                dlogits = np.exp(logits - (lse[:, None]))  # softmax, from the log-sum-exp
                dlogits[rows, y] -= 1
                return loss, dlogits / logits.dtype.type(n)
            """
        ),
        "avgpool2d_backward": code(
            """
            def _window_slices(size, stride, out_h, out_w):
                for u in range(size):
                    for v in range(size):
                        rows = slice(u, u + stride * (out_h - 1) + 1, stride)
                        cols = slice(v, v + stride * (out_w - 1) + 1, stride)
                        yield u * size + v, rows, cols


            def avgpool2d_backward(dout, cache):
                x, size, stride = cache
                dx = np.zeros(x.shape, dtype=np.float64)
                for _, rows, cols in _window_slices(size, stride, *dout.shape[2:]):
                    dx[:, :, rows, cols] += dout / size**2
                return dx
            """
        ),
        "maxpool2d_backward": code(
            """
            from numpy.lib.stride_tricks import sliding_window_view


            def maxpool2d_backward(dout, cache):
                x, size, stride = cache
                n, c, oh, ow = dout.shape
                windows = sliding_window_view(x, (size, size), axis=(2, 3))[:, :, ::stride, ::stride]
                first = windows.reshape(n, c, oh, ow, size * size).argmax(axis=-1)
                onehot = np.eye(size * size, dtype=np.float64)[first]  # (n, c, oh, ow, size*size)
                routed = onehot * dout[..., None]
                dx = np.zeros(x.shape, dtype=np.float64)
                for k, rows, cols in _window_slices(size, stride, oh, ow):
                    dx[:, :, rows, cols] += routed[..., k]
                return dx
            """
        ),
        "conv2d_backward": code(
            '''
            def conv2d_backward(dout, cache):
                """dx: full correlation of the dilated dout with the flipped kernels; dw: einsum."""
                x, w, b, stride, pad = cache
                n, c, h, wd = x.shape
                f, _, kh, kw = w.shape
                oh, ow = dout.shape[2:]
                g = dout.astype(np.float64)
                db = g.sum(axis=(0, 2, 3))
                xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
                windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
                dw = np.einsum("nfij,ncijuv->fcuv", g, windows)
                # Put dout back on the stride grid of the padded input, pad by kernel - 1, and
                # correlate with the kernels rotated by 180 degrees.
                dilated = np.zeros((n, f, (oh - 1) * stride + 1, (ow - 1) * stride + 1))
                dilated[:, :, ::stride, ::stride] = g
                around = np.pad(dilated, ((0, 0), (0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1)))
                rotated = w[:, :, ::-1, ::-1].astype(np.float64)
                dxp = np.einsum(
                    "nfijuv,fcuv->ncij", sliding_window_view(around, (kh, kw), axis=(2, 3)), rotated
                )  # (n, c, h + 2 pad, w + 2 pad)
                return dxp[:, :, pad : pad + h, pad : pad + wd], dw, db
            '''
        ),
        "fd_forward_passes": code(
            """
            layer_params = {"C1": 156, "C3": 2_416, "C5": 48_120, "F6": 10_164, "OUT": 850}
            fd_forward_passes = sum(2 * count for count in layer_params.values())
            """
        ),
    },
)

SUBMISSIONS = [CS231N, DEEPLEARNING_AI, TRANSPOSED]
