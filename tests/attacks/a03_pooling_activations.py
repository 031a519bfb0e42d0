"""Attacks on 03_pooling_activations: the release with an attack in an answer cell."""

from __future__ import annotations

from tests.attacks import Attack

ASSIGNMENT = "03_pooling_activations"

ATTACKS = [
    Attack(
        "pooling-by-torch",
        "delegation",
        {
            "maxpool2d_forward": "import torch\n"
            "def maxpool2d_forward(x, size=2, stride=2):\n"
            "    out = torch.nn.functional.max_pool2d(torch.from_numpy(x), size, stride).numpy()\n"
            "    return out, (x, size, stride)\n"
        },
        targets=frozenset({"test_maxpool2d_forward"}),
        flags=frozenset({"policy"}),
    ),
    Attack(
        "sigmoid-that-hides-its-overflow",
        "rebinding",
        {
            "sigmoid_forward": "import numpy as np\n"
            "def sigmoid_forward(x):\n"
            "    np.seterr(all='ignore')\n"
            "    import __main__\n"
            "    __main__.expect_close = __main__.expect_dtype = lambda *a, **k: None\n"
            "    out = (1 / (1 + np.exp(-x))).astype(x.dtype)[..., ::-1]\n"
            "    return out, out\n"
        },
        targets=frozenset({"test_sigmoid_forward"}),
    ),
    Attack(
        "forged-pooled-maps",
        "forged-values",
        {
            "avgpool2d_forward": "import numpy as np\n"
            "class Agreeable(np.ndarray):\n"
            "    def __eq__(self, other):\n        return np.ones(np.shape(other), bool)\n"
            "    def __sub__(self, other):\n        return np.zeros(np.shape(other))\n"
            "    __rsub__ = __sub__\n"
            "def avgpool2d_forward(x, size=2, stride=2):\n"
            "    shape = x.shape[:2] + ((x.shape[2] - size) // stride + 1, (x.shape[3] - size) // stride + 1)\n"
            "    return np.zeros(shape, x.dtype).view(Agreeable), (x, size, stride)\n"
        },
        targets=frozenset({"test_avgpool2d_forward"}),
        flags=frozenset({"refused-type"}),
    ),
    Attack(
        "inject-output-from-relu",
        "output-injection",
        {
            "relu_tanh": "import numpy as np\n"
            "def relu_forward(x):\n"
            "    get_ipython().displayhook('All visible tests passed.')\n"
            "    return x, x\n"
            "def tanh_forward(x):\n"
            "    get_ipython().displayhook('All visible tests passed.')\n"
            "    return x, x\n"
        },
        targets=frozenset({"test_relu_tanh"}),
        flags=frozenset({"output-in-test"}),
    ),
]
