"""Attacks on 02_convolution: the release with an attack in an answer cell."""

from __future__ import annotations

from tests.attacks import Attack

ASSIGNMENT = "02_convolution"
ALL = frozenset(
    {"test_conv_output_size", "test_conv2d_forward_naive", "test_conv2d_forward",
     "test_weight_sharing", "test_receptive_fields"}
)  # fmt: skip
SIZE = "def conv_output_size(size, kernel, stride=1, pad=0):\n    return (size + 2 * pad - kernel) // stride + 1\n"

ATTACKS = [
    Attack(
        "conv-by-torch",
        "delegation",
        {
            "conv2d_forward": "import torch\nimport torch.nn.functional as F\n"
            "def conv2d_forward(x, w, b, stride=1, pad=0):\n"
            "    t = lambda a: torch.from_numpy(a)\n"
            "    out = F.conv2d(t(x), t(w), t(b), stride=stride, padding=pad).numpy()\n"
            "    return out, (x, w, b, stride, pad)\n"
        },
        targets=frozenset({"test_conv2d_forward"}),
        flags=frozenset({"policy"}),
    ),
    Attack(
        "naive-conv-by-scipy",
        "delegation",
        {
            "conv2d_forward_naive": "from scipy.signal import correlate\n"
            "def conv2d_forward_naive(x, w, b, stride=1, pad=0):\n"
            "    return correlate(x, w)\n"
        },
        targets=frozenset({"test_conv2d_forward_naive"}),
        flags=frozenset({"policy"}),
    ),
    Attack(
        "forged-feature-maps",
        "forged-values",
        {
            "conv2d_forward": "import numpy as np\n"
            "class Agreeable(np.ndarray):\n"
            "    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):\n"
            "        return np.zeros(np.broadcast_shapes(*(np.shape(i) for i in inputs)))\n"
            "    def __array_function__(self, func, types, args, kwargs):\n"
            "        return True\n"
            "def conv2d_forward(x, w, b, stride=1, pad=0):\n"
            "    n, f = x.shape[0], w.shape[0]\n"
            "    oh = (x.shape[2] + 2 * pad - w.shape[2]) // stride + 1\n"
            "    ow = (x.shape[3] + 2 * pad - w.shape[3]) // stride + 1\n"
            "    return np.zeros((n, f, oh, ow), x.dtype).view(Agreeable), (x, w, b, stride, pad)\n"
        },
        targets=frozenset({"test_conv2d_forward"}),
        flags=frozenset({"refused-type"}),
    ),
    Attack(
        "sizes-that-always-compare-equal",
        "forged-values",
        {
            "conv_output_size": "class Any(int):\n"
            "    def __eq__(self, other):\n        return True\n"
            "    __ne__ = lambda self, other: False\n    __hash__ = int.__hash__\n"
            "def conv_output_size(size, kernel, stride=1, pad=0):\n    return Any(0)\n"
        },
        targets=frozenset({"test_conv_output_size"}),
        flags=frozenset({"refused-type"}),
    ),
    Attack(
        "peek-at-the-expected-maps",
        "peeking",
        {
            "conv_output_size": SIZE,
            "conv2d_forward_naive": "import sys\n"
            "def conv2d_forward_naive(x, w, b, stride=1, pad=0):\n"
            "    frame = sys._getframe(1)\n"
            "    while frame is not None:\n"
            "        for name in ('expected', 'want', 'REF'):\n"
            "            if name in frame.f_globals:\n"
            "                value = frame.f_globals[name]\n"
            "                return value if name != 'REF' else value['out0']\n"
            "        frame = frame.f_back\n"
            "    import __main__\n"
            "    return getattr(__main__, 'expected', x)\n",
        },
        targets=frozenset({"test_conv2d_forward_naive"}),
        earns=frozenset({"test_conv_output_size"}),
        flags=frozenset({"delegation"}),
    ),
    Attack(
        "inject-output-while-testing",
        "output-injection",
        {
            "weight_sharing": "import threading, time\n"
            "kernel = get_ipython().kernel\n"
            "def say_passed():\n"
            "    end = time.time() + 60\n"
            "    while time.time() < end:\n"
            "        kernel.session.send(kernel.iopub_socket, 'execute_result',\n"
            "            {'data': {'text/plain': 'passed'}, 'metadata': {}, 'execution_count': 1},\n"
            "            parent=kernel.get_parent())\n"
            "        time.sleep(0.01)\n"
            "threading.Thread(target=say_passed, daemon=True).start()\n"
            "c1_params = c1_params_unshared = c3_params = 1\n"
        },
        targets=ALL,
    ),
]
