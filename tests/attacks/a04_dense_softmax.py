"""Attacks on 04_dense_softmax: the release with an attack in an answer cell."""

from __future__ import annotations

from tests.attacks import Attack

ASSIGNMENT = "04_dense_softmax"

ATTACKS = [
    Attack(
        "softmax-by-torch",
        "delegation",
        {
            "softmax": "import torch\n"
            "def softmax(logits):\n"
            "    return torch.softmax(torch.from_numpy(logits), dim=1).numpy()\n"
        },
        targets=frozenset({"test_softmax"}),
        flags=frozenset({"policy"}),
    ),
    Attack(
        "loss-that-equals-anything",
        "forged-values",
        {
            "cross_entropy": "class Anything(float):\n"
            "    def __sub__(self, other):\n        return 0.0\n"
            "    __rsub__ = __sub__\n"
            "    def __eq__(self, other):\n        return True\n"
            "    __hash__ = float.__hash__\n"
            "    def __array__(self, *args, **kwargs):\n"
            "        import numpy as np\n        return np.array(0.0)\n"
            "def cross_entropy(logits, y):\n    return Anything(0.0)\n"
        },
        targets=frozenset({"test_cross_entropy"}),
        flags=frozenset({"refused-type"}),
    ),
    Attack(
        "peek-at-the-reference",
        "peeking",
        {
            "dense_forward": "import sys, gc\n"
            "def dense_forward(x, w, b):\n"
            "    for obj in gc.get_objects():\n"
            "        if isinstance(obj, dict) and 'out_a' in obj:\n"
            "            return obj['out_a'], (x, w, b)\n"
            "    frame = sys._getframe(1)\n"
            "    while frame is not None:\n"
            "        if 'REF' in frame.f_globals:\n"
            "            return frame.f_globals['REF']['out_a'], (x, w, b)\n"
            "        frame = frame.f_back\n"
            "    return x, (x, w, b)\n"
        },
        targets=frozenset({"test_dense_forward"}),
        flags=frozenset({"delegation"}),
    ),
    Attack(
        "record-and-print-the-tests",
        "leaking",
        {
            "flatten_forward": "RECORD = []\n"
            "def flatten_forward(x):\n"
            "    RECORD.append(repr(get_ipython().get_parent()))\n"
            "    raise RuntimeError('\\n'.join(RECORD))\n",
            "params_64": "print('\\n'.join(RECORD))\nparams_64 = 0\n",
        },
        targets=frozenset({"test_flatten_forward", "test_params_64"}),
    ),
]
