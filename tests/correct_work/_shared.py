"""Code that several notebooks ask students to paste: one student's layers from 01-05.

Notebooks 06 and 07 start with "paste your functions from notebooks 01-05". This is such a
paste, written independently of lenet_ref and of the reference solutions: im2col with the
windows as rows (one matrix product per convolution, the columns kept in the cache), col2im by
kernel offsets, max pooling routed with np.bincount (overlapping windows add up), average
pooling spread with np.repeat when windows tile the input, and a loss through log-softmax.
"""

# ruff: noqa: E501 - notebook code kept in strings (notebooks allow long lines)

from tests.correct_work import code

NUMPY_LAYERS = code(
    '''
    """My layers from 01_mnist.ipynb, 02_convolution.ipynb, 03_pooling_activations.ipynb,
    04_dense_softmax.ipynb and 05_backprop.ipynb, pasted as the table above asks.

    Caches: conv2d_forward keeps (x, w, b, stride, pad, rows), rows being the im2col matrix its
    backward pass reuses; the others keep what notebook 05 says.
    """
    from numpy.lib.stride_tricks import sliding_window_view


    def pad_to_32(images):
        out = np.zeros(images.shape[:-2] + (32, 32), dtype=images.dtype)
        out[..., 2:30, 2:30] = images
        return out


    def scale_lecun(images):
        return images.astype(np.float32) * np.float32(1.275 / 255) - np.float32(0.1)


    def _im2row(xp, kh, kw, stride):
        """(N, C, H, W) padded input -> (N*OH*OW, C*KH*KW): one row per output position."""
        windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
        n, c, oh, ow = windows.shape[:4]
        return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kh * kw), oh, ow


    def conv2d_forward(x, w, b, stride=1, pad=0):
        f, c, kh, kw = w.shape
        xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
        rows, oh, ow = _im2row(xp, kh, kw, stride)
        out = rows @ w.reshape(f, -1).T + b  # (N*OH*OW, F)
        out = out.reshape(x.shape[0], oh, ow, f).transpose(0, 3, 1, 2)
        return np.ascontiguousarray(out, dtype=x.dtype), (x, w, b, stride, pad, rows)


    def conv2d_backward(dout, cache):
        x, w, b, stride, pad, rows = cache
        n, c, h, wd = x.shape
        f, _, kh, kw = w.shape
        oh, ow = dout.shape[2:]
        g = dout.transpose(0, 2, 3, 1).reshape(-1, f)  # (N*OH*OW, F), rows' order
        dw = (g.T @ rows).reshape(w.shape)
        db = g.sum(axis=0)
        drows = (g @ w.reshape(f, -1)).reshape(n, oh, ow, c, kh, kw)
        dxp = np.zeros((n, c, h + 2 * pad, wd + 2 * pad), dtype=drows.dtype)
        for u in range(kh):
            for v in range(kw):
                dxp[:, :, u : u + stride * oh : stride, v : v + stride * ow : stride] += (
                    drows[..., u, v].transpose(0, 3, 1, 2)
                )
        return dxp[:, :, pad : pad + h, pad : pad + wd], dw, db


    def _pool_windows(x, size, stride):
        return sliding_window_view(x, (size, size), axis=(2, 3))[:, :, ::stride, ::stride]


    def avgpool2d_forward(x, size=2, stride=2):
        out = _pool_windows(x, size, stride).sum(axis=(4, 5)) / (size * size)
        return out.astype(x.dtype), (x, size, stride)


    def avgpool2d_backward(dout, cache):
        x, size, stride = cache
        n, c, oh, ow = dout.shape
        share = dout / (size * size)
        dx = np.zeros_like(x)
        if size == stride:  # the windows tile the input: repeat each share over its window
            spread = np.repeat(np.repeat(share, size, axis=2), size, axis=3)
            dx[:, :, : oh * size, : ow * size] = spread
            return dx
        for u in range(size):
            for v in range(size):
                dx[:, :, u : u + stride * oh : stride, v : v + stride * ow : stride] += share
        return dx


    def maxpool2d_forward(x, size=2, stride=2):
        return _pool_windows(x, size, stride).max(axis=(4, 5)), (x, size, stride)


    def maxpool2d_backward(dout, cache):
        """Each window's gradient goes to its first maximum; np.bincount adds up overlaps."""
        x, size, stride = cache
        n, c, oh, ow = dout.shape
        h, wd = x.shape[2:]
        first = _pool_windows(x, size, stride).reshape(n, c, oh, ow, -1).argmax(axis=-1)
        row = np.arange(oh)[:, None] * stride + first // size  # (N, C, OH, OW)
        col = np.arange(ow)[None, :] * stride + first % size
        plane = (np.arange(n * c) * (h * wd)).reshape(n, c, 1, 1)
        flat = plane + row * wd + col
        dx = np.bincount(flat.ravel(), weights=dout.ravel(), minlength=x.size)
        return dx.reshape(x.shape).astype(x.dtype)


    def relu_forward(x):
        out = np.maximum(x, 0)
        return out, out


    def relu_backward(dout, cache):
        return np.where(cache > 0, dout, 0)


    def tanh_forward(x):
        out = np.tanh(x)
        return out, out


    def tanh_backward(dout, cache):
        return dout * (1 - np.square(cache))


    def flatten_forward(x):
        return x.reshape(len(x), -1), x.shape


    def flatten_backward(dout, cache):
        return dout.reshape(cache)


    def dense_forward(x, w, b):
        if x.shape[1] != w.shape[0]:
            raise ValueError(f"dense_forward: x {x.shape} does not fit w {w.shape}")
        return x @ w + b, (x, w, b)


    def dense_backward(dout, cache):
        x, w, _ = cache
        return dout @ w.T, x.T @ dout, dout.sum(axis=0)


    def softmax_cross_entropy(logits, y):
        m = logits.max(axis=1, keepdims=True)
        log_p = logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
        n = len(logits)
        loss = -float(np.take_along_axis(log_p, np.asarray(y)[:, None], axis=1).mean())
        dlogits = np.exp(log_p)
        dlogits[np.arange(n), y] -= 1
        return loss, dlogits / n
    '''
)
