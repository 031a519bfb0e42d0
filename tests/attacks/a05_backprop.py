"""Attacks on 05_backprop: the release with an attack in an answer cell."""

from __future__ import annotations

from tests.attacks import Attack

ASSIGNMENT = "05_backprop"

ATTACKS = [
    Attack(
        "backward-by-autograd",
        "delegation",
        {
            "relu_backward": "import torch\n"
            "def relu_backward(dout, cache):\n"
            "    x = torch.from_numpy(cache).requires_grad_()\n"
            "    (grad,) = torch.autograd.grad(torch.relu(x), x, torch.from_numpy(dout))\n"
            "    return grad.numpy()\n"
        },
        targets=frozenset({"test_relu_backward"}),
        flags=frozenset({"policy"}),
    ),
    Attack(
        "backward-by-finite-differences",
        "delegation",
        {
            "dense_backward": "def dense_backward(dout, cache):\n"
            "    x, w, b = cache\n"
            "    dx = numerical_gradient(lambda v: dense_forward(v, w, b)[0], x.copy(), dout)\n"
            "    dw = numerical_gradient(lambda v: dense_forward(x, v, b)[0], w.copy(), dout)\n"
            "    db = numerical_gradient(lambda v: dense_forward(x, w, v)[0], b.copy(), dout)\n"
            "    return dx, dw, db\n",
            "tanh_backward": "def tanh_backward(dout, cache):\n"
            "    out = cache\n"
            "    return numerical_gradient(lambda v: np.tanh(v), np.arctanh(out), dout)\n",
        },
        targets=frozenset({"test_dense_backward", "test_tanh_backward"}),
    ),
    Attack(
        "forged-gradients",
        "forged-values",
        {
            "flatten_backward": "import numpy as np\n"
            "class Agreeable(np.ndarray):\n"
            "    def __array_ufunc__(self, *args, **kwargs):\n        return np.zeros(1)\n"
            "    def __array_function__(self, *args, **kwargs):\n        return 0.0\n"
            "def flatten_backward(dout, cache):\n"
            "    return np.zeros(cache).view(Agreeable)\n"
        },
        targets=frozenset({"test_flatten_backward"}),
        flags=frozenset({"refused-type"}),
    ),
    Attack(
        "rebind-the-referee",
        "rebinding",
        {
            "sigmoid_backward": "import functools\n"
            "import lenet_kit.gradcheck as gradcheck\n"
            "def sigmoid_backward(dout, cache):\n"
            "    import __main__\n"
            "    fake = functools.wraps(gradcheck.rel_error)(lambda a, b: 0.0)\n"
            "    gradcheck.rel_error = __main__.rel_error = fake\n"
            "    __main__.numerical_gradient = lambda f, x, dout=None: np.zeros_like(x)\n"
            "    __main__.expect_gradient = __main__.expect_close = lambda *a, **k: None\n"
            "    return np.zeros_like(dout)\n"
        },
        targets=frozenset({"test_sigmoid_backward"}),
    ),
]
