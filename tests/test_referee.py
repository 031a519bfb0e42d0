"""lenet_kit.referee: PyTorch checks the NumPy layers of notebooks 06 and 07.

Correct layers (lenet_ref's, and the same written another way) pass; a wrong gradient, a
forward pass of the wrong shape, an overflowing softmax, a stub that raises and a function
that is not defined are each named in the failure, and the other functions are still checked.
"""

from __future__ import annotations

import numpy as np
import pytest

import lenet_ref.layers as layers
from lenet_kit.checks import CheckFailed
from lenet_kit.referee import ALL_LAYER_FUNCTIONS, check_against_torch, check_layers, layer_problems
from lenet_ref.transforms import pad_to_32, scale_lecun


def reference() -> dict:
    found = {name: getattr(layers, name, None) for name in ALL_LAYER_FUNCTIONS}
    found.update(pad_to_32=pad_to_32, scale_lecun=scale_lecun)
    return found


def test_the_reference_layers_agree_with_pytorch(capsys):
    assert layer_problems(reference()) == []
    check_layers(reference())
    assert (
        f"All {len(ALL_LAYER_FUNCTIONS)} of your layer functions agree" in capsys.readouterr().out
    )


def test_the_table_of_notebook_06_is_what_is_checked():
    assert len(ALL_LAYER_FUNCTIONS) == 17
    assert {"pad_to_32", "conv2d_backward", "softmax_cross_entropy"} <= set(ALL_LAYER_FUNCTIONS)


def test_each_problem_is_named_and_the_other_functions_are_still_checked():
    def half_dw(dout, cache):  # dw off by a factor of 2
        x, w, _ = cache
        return dout @ w.T, x.T @ dout / 2, dout.sum(axis=0)

    def stub(dout, cache):
        raise NotImplementedError

    def naive_softmax(logits, y):
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        n = len(y)
        d = p.copy()
        d[np.arange(n), y] -= 1
        return -float(np.log(p[np.arange(n), y]).mean()), d / n

    def flat_pool(x, size=2, stride=2):  # forgets to keep the channel axis
        out, cache = layers.avgpool2d_forward(x, size, stride)
        return out.reshape(len(x), -1), cache

    broken = reference()
    broken.update(
        dense_backward=half_dw,
        relu_backward=stub,
        softmax_cross_entropy=naive_softmax,
        avgpool2d_forward=flat_pool,
    )
    del broken["tanh_forward"]
    problems = layer_problems(broken)
    assert any(p.startswith("dense: gradient 1") for p in problems), problems
    assert any(p.startswith("relu: the backward pass raised NotImplementedError") for p in problems)
    assert any(p.startswith("softmax_cross_entropy: overflowed") for p in problems)
    assert any(p.startswith("avgpool2d: forward output has shape (2, 48)") for p in problems)
    assert any(p.startswith("tanh_forward: not defined here (notebook 03_") for p in problems)
    assert len(problems) == 5, problems  # the convolution, max pooling, ... still pass
    with pytest.raises(CheckFailed, match="Fix these functions before you go on"):
        check_layers(broken)


def test_check_against_torch_on_one_layer():
    import torch

    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    assert (
        check_against_torch("tanh", layers.tanh_forward, layers.tanh_backward, torch.tanh, [x])
        == []
    )
    wrong = check_against_torch("tanh", layers.relu_forward, layers.tanh_backward, torch.tanh, [x])
    assert wrong and wrong[0].startswith("tanh: forward output differs from PyTorch")
    assert check_against_torch("tanh", layers.tanh_forward, None, torch.tanh, [x]) == []


def test_pytorch_is_imported_only_when_a_check_runs():
    import subprocess
    import sys

    code = "import sys, lenet_kit.referee; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
