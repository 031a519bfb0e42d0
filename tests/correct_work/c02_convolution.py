"""Correct work for 02_convolution: CS231n assignment 2, DeepLearning.AI, and a third way."""

# ruff: noqa: E501 - notebook code kept in strings (notebooks allow long lines)

from tests.correct_work import Submission, code

ASSIGNMENT = "02_convolution"

CS231N = Submission(
    "CS231n assignment 2 style",
    "conv_forward_naive(x, w, b, conv_param) with a conv_param dict behind the notebook's "
    "signature, a docstring crediting the public CS231n assignment 2 solutions (the word "
    "'solutions' once stopped this cell); the fast version by im2col with explicit index "
    "arrays (get_im2col_indices) and one matrix product; counts from a dict of layer shapes",
    {
        "conv_output_size": code(
            '''
            def conv_output_size(size, kernel, stride=1, pad=0):
                """H' = 1 + (H + 2 * pad - HH) / stride, as in CS231n, checked."""
                padded = size + 2 * pad
                if kernel > padded:
                    raise ValueError(f"kernel {kernel} larger than the padded input {padded}")
                if (padded - kernel) % stride:
                    raise ValueError(
                        f"stride {stride} does not tile input {size} (pad {pad}) with kernel {kernel}"
                    )
                return 1 + (padded - kernel) // stride
            '''
        ),
        "conv2d_forward_naive": code(
            '''
            def conv_forward_naive(x, w, b, conv_param):
                """A naive convolution, adapted from my notes on the public CS231n assignment 2
                solutions (conv_forward_naive, layers.py).

                conv_param: {'stride': int, 'pad': int}.
                """
                stride, pad = conv_param["stride"], conv_param["pad"]
                N, C, H, W = x.shape
                F, _, HH, WW = w.shape
                H_out = conv_output_size(H, HH, stride, pad)
                W_out = conv_output_size(W, WW, stride, pad)
                x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
                out = np.zeros((N, F, H_out, W_out), dtype=x.dtype)
                for n in range(N):
                    for f in range(F):
                        for i in range(H_out):
                            for j in range(W_out):
                                hs, ws = i * stride, j * stride
                                out[n, f, i, j] = np.sum(x_pad[n, :, hs : hs + HH, ws : ws + WW] * w[f]) + b[f]
                return out


            def conv2d_forward_naive(x, w, b, stride=1, pad=0):
                return conv_forward_naive(x, w, b, {"stride": stride, "pad": pad})
            '''
        ),
        "conv2d_forward": code(
            '''
            def get_im2col_indices(x_shape, field_height, field_width, pad, stride):
                """Index arrays (k, i, j) that gather every receptive field of a padded input."""
                _, C, H, W = x_shape
                out_height = conv_output_size(H, field_height, stride, pad)
                out_width = conv_output_size(W, field_width, stride, pad)
                i0 = np.tile(np.repeat(np.arange(field_height), field_width), C)
                i1 = stride * np.repeat(np.arange(out_height), out_width)
                j0 = np.tile(np.arange(field_width), field_height * C)
                j1 = stride * np.tile(np.arange(out_width), out_height)
                i = i0.reshape(-1, 1) + i1.reshape(1, -1)
                j = j0.reshape(-1, 1) + j1.reshape(1, -1)
                k = np.repeat(np.arange(C), field_height * field_width).reshape(-1, 1)
                return k, i, j, out_height, out_width


            def conv2d_forward(x, w, b, stride=1, pad=0):
                """im2col: columns of (C*HH*WW) values, one per output position, then one product."""
                N = x.shape[0]
                F, C, HH, WW = w.shape
                k, i, j, H_out, W_out = get_im2col_indices(x.shape, HH, WW, pad, stride)
                x_padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
                cols = x_padded[:, k, i, j]  # (N, C*HH*WW, H_out*W_out)
                out = np.matmul(w.reshape(F, -1), cols) + b.reshape(1, F, 1)
                out = out.reshape(N, F, H_out, W_out).astype(x.dtype)
                cache = (x, w, b, stride, pad)
                return out, cache
            '''
        ),
        "weight_sharing": code(
            """
            layers = {"C1": (6, 1, 5, 5), "C3": (16, 6, 5, 5)}  # (filters, channels, KH, KW)


            def conv_params(filters, channels, kh, kw, positions=1):
                return positions * filters * (channels * kh * kw + 1)


            c1_params = conv_params(*layers["C1"])
            c1_params_unshared = conv_params(*layers["C1"], positions=28 * 28)
            c3_params = conv_params(*layers["C3"])
            """
        ),
        "receptive_fields": code(
            """
            # (kernel, stride) of C1, S2, C3, S4, C5
            stack = [(5, 1), (2, 2), (5, 1), (2, 2), (5, 1)]
            fields = []
            field, jump = 1, 1
            for kernel, stride in stack:
                field += (kernel - 1) * jump
                jump *= stride
                fields.append(field)
            rf_c3, rf_c5 = fields[2], fields[4]
            """
        ),
    },
)

DEEPLEARNING_AI = Submission(
    'DeepLearning.AI "Convolution model step by step" style',
    "zero_pad and conv_single_step helpers on channels-last (m, n_H, n_W, n_C) arrays with "
    "vert_start/horiz_start loops over examples, rows, columns and filters; the fast version "
    "gathers windows with np.lib.stride_tricks.as_strided and contracts them with np.einsum; "
    "NumPy integers for the counts",
    {
        "conv_output_size": code(
            """
            def conv_output_size(size, kernel, stride=1, pad=0):
                steps, rest = divmod(size + 2 * pad - kernel, stride)
                if size + 2 * pad - kernel < 0 or rest != 0:
                    raise ValueError(
                        f"conv_output_size: size={size}, kernel={kernel}, stride={stride}, pad={pad} "
                        "do not give a whole number of windows"
                    )
                return int(steps) + 1
            """
        ),
        "conv2d_forward_naive": code(
            '''
            def zero_pad(X, pad):
                """Pad the height and width of a channels-last batch (m, n_H, n_W, n_C) with zeros."""
                return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant", constant_values=0)


            def conv_single_step(a_slice_prev, W, b):
                """One filter W (f, f, n_C_prev) on one slice of the input, plus the bias b."""
                s = a_slice_prev * W
                Z = np.sum(s)
                return Z + b


            def conv2d_forward_naive(x, w, b, stride=1, pad=0):
                A_prev = x.transpose(0, 2, 3, 1)  # NCHW -> (m, n_H_prev, n_W_prev, n_C_prev)
                W = w.transpose(2, 3, 1, 0)  # (f_h, f_w, n_C_prev, n_C)
                (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape
                (f_h, f_w, n_C_prev, n_C) = W.shape
                n_H = conv_output_size(n_H_prev, f_h, stride, pad)
                n_W = conv_output_size(n_W_prev, f_w, stride, pad)
                Z = np.zeros((m, n_H, n_W, n_C), dtype=x.dtype)
                A_prev_pad = zero_pad(A_prev, pad)
                for i in range(m):
                    a_prev_pad = A_prev_pad[i]
                    for h in range(n_H):
                        vert_start = h * stride
                        vert_end = vert_start + f_h
                        for w_ in range(n_W):
                            horiz_start = w_ * stride
                            horiz_end = horiz_start + f_w
                            for c in range(n_C):
                                a_slice_prev = a_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :]
                                Z[i, h, w_, c] = conv_single_step(a_slice_prev, W[:, :, :, c], b[c])
                return Z.transpose(0, 3, 1, 2)  # back to (N, F, OH, OW)
            '''
        ),
        "conv2d_forward": code(
            """
            from numpy.lib.stride_tricks import as_strided


            def conv2d_forward(x, w, b, stride=1, pad=0):
                n, c, h, w_in = x.shape
                f, _, kh, kw = w.shape
                oh = conv_output_size(h, kh, stride, pad)
                ow = conv_output_size(w_in, kw, stride, pad)
                xp = np.ascontiguousarray(np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))))
                s0, s1, s2, s3 = xp.strides
                windows = as_strided(
                    xp,
                    shape=(n, c, oh, ow, kh, kw),
                    strides=(s0, s1, s2 * stride, s3 * stride, s2, s3),
                    writeable=False,
                )
                out = np.einsum("ncijuv,fcuv->nfij", windows, w) + b[None, :, None, None]
                return out.astype(x.dtype), (x, w, b, stride, pad)
            """
        ),
        "weight_sharing": code(
            """
            kernel = np.array([5, 5])
            c1_params = np.int64(6) * (np.prod(kernel) * 1 + 1)
            c1_params_unshared = c1_params * 28 * 28
            c3_params = 16 * (6 * np.prod(kernel) + 1)
            """
        ),
        "receptive_fields": code(
            """
            def receptive_field(layers):
                if not layers:
                    return 1, 1
                field, jump = receptive_field(layers[:-1])
                kernel, stride = layers[-1]
                return field + (kernel - 1) * jump, jump * stride


            LENET = [(5, 1), (2, 2), (5, 1), (2, 2), (5, 1)]
            rf_c3 = np.int64(receptive_field(LENET[:3])[0])
            rf_c5 = np.int64(receptive_field(LENET)[0])
            """
        ),
    },
)

FOURIER = Submission(
    "scalar loops and the Fourier transform",
    "the naive convolution as seven nested loops over Python scalars (an accumulator per "
    "output value); the fast one through np.fft (cross-correlation as a product of spectra, "
    "computed in float64, every stride-th value kept, cast back to the input's dtype); "
    "conv_output_size checks with float arithmetic; closed-form receptive fields",
    {
        "conv_output_size": code(
            """
            def conv_output_size(size, kernel, stride=1, pad=0):
                positions = (size + 2 * pad - kernel) / stride + 1
                if positions < 1 or not float(positions).is_integer():
                    raise ValueError(
                        f"{positions} window positions for size {size}, kernel {kernel}, "
                        f"stride {stride}, pad {pad}: not a whole number of windows"
                    )
                return int(positions)
            """
        ),
        "conv2d_forward_naive": code(
            """
            def conv2d_forward_naive(x, w, b, stride=1, pad=0):
                N, C, H, W = x.shape
                F, _, KH, KW = w.shape
                OH, OW = conv_output_size(H, KH, stride, pad), conv_output_size(W, KW, stride, pad)
                out = np.empty((N, F, OH, OW), dtype=x.dtype)
                for n in range(N):
                    for f in range(F):
                        for i in range(OH):
                            for j in range(OW):
                                total = b[f]
                                for c in range(C):
                                    for u in range(KH):
                                        row = i * stride + u - pad
                                        if not 0 <= row < H:
                                            continue  # a padding zero
                                        for v in range(KW):
                                            col = j * stride + v - pad
                                            if 0 <= col < W:
                                                total += x[n, c, row, col] * w[f, c, u, v]
                                out[n, f, i, j] = total
                return out
            """
        ),
        "conv2d_forward": code(
            '''
            def conv2d_forward(x, w, b, stride=1, pad=0):
                """Cross-correlation through the FFT: no loops, in float64, cast to x.dtype."""
                N, C, H, W = x.shape
                F, _, KH, KW = w.shape
                OH, OW = conv_output_size(H, KH, stride, pad), conv_output_size(W, KW, stride, pad)
                xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
                HP, WP = xp.shape[2:]
                # Correlating with w is convolving with w flipped; FFT sizes avoid wrap-around.
                size = (HP + KH - 1, WP + KW - 1)
                X = np.fft.rfft2(xp, s=size)  # (N, C, ...)
                K = np.fft.rfft2(w[:, :, ::-1, ::-1].astype(np.float64), s=size)  # (F, C, ...)
                full = np.fft.irfft2(np.einsum("ncuv,fcuv->nfuv", X, K), s=size)
                valid = full[:, :, KH - 1 : HP, KW - 1 : WP]  # (N, F, HP-KH+1, WP-KW+1)
                out = valid[:, :, ::stride, ::stride][:, :, :OH, :OW] + b[:, None, None]
                return out.astype(x.dtype), (x, w, b, stride, pad)
            '''
        ),
        "weight_sharing": code(
            """
            c1_params = (5 * 5 + 1) * 6
            c1_params_unshared = (5 * 5 + 1) * 6 * 28**2
            c3_params = (5 * 5 * 6 + 1) * 16
            """
        ),
        "receptive_fields": code(
            """
            # r = 1 + sum over layers of (k - 1) * (product of the strides before it)
            kernels, strides = [5, 2, 5, 2, 5], [1, 2, 1, 2, 1]
            jumps = [int(np.prod(strides[:k])) for k in range(len(kernels))]
            rf_c3 = 1 + sum((kernels[k] - 1) * jumps[k] for k in range(3))
            rf_c5 = 1 + sum((k - 1) * j for k, j in zip(kernels, jumps))
            """
        ),
    },
)

SUBMISSIONS = [CS231N, DEEPLEARNING_AI, FOURIER]
