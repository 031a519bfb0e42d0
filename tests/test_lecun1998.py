"""The published LeNet-5's special layers against direct formulas and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lenet_ref import lecun1998 as L
from lenet_ref.torch_lenet import summary

torch.set_num_threads(1)


def test_squash_maps_plus_minus_one_to_themselves():
    a = torch.tensor([-1.0, 0.0, 1.0, 50.0], dtype=torch.float64)
    out = L.squash(a)
    np.testing.assert_allclose(out[:3].numpy(), [-1.0, 0.0, 1.0], atol=1e-4)
    np.testing.assert_allclose(out[3].item(), 1.7159, rtol=1e-12)
    np.testing.assert_allclose(out.numpy(), 1.7159 * np.tanh(2 / 3 * a.numpy()), rtol=1e-14)


def test_parameter_counts_per_layer_are_the_papers():
    rows = summary(L.LeNet1998()).rows
    assert [r.layer for r in rows] == ["C1", "S2", "C3", "S4", "C5", "F6", "OUT"]
    assert [r.params for r in rows] == [156, 12, 1516, 32, 48120, 10164, 0]
    assert sum(r.params for r in rows) == 60_000
    assert [r.output_shape for r in rows] == [
        (1, 6, 28, 28), (1, 6, 14, 14), (1, 16, 10, 10), (1, 16, 5, 5), (1, 120), (1, 84),
        (1, 10),
    ]  # fmt: skip


def test_c3_table_is_table_one():
    assert len(L.C3_TABLE) == 16
    assert L.connections() == 60
    sizes = [len(t) for t in L.C3_TABLE]
    assert sizes == [3] * 6 + [4] * 9 + [6]
    # maps 0..5 take three neighbouring S2 maps (cyclically)
    for o in range(6):
        assert set(L.C3_TABLE[o]) == {o % 6, (o + 1) % 6, (o + 2) % 6}
    mask = L.PartialConv2d(6, L.C3_TABLE, 5).connection_mask()
    assert mask.sum().item() == 60 and mask[15].all()


def test_partial_conv_matches_per_pair_convolutions():
    torch.manual_seed(0)
    layer = L.PartialConv2d(6, L.C3_TABLE, 5).double()
    x = torch.randn(3, 6, 14, 14, dtype=torch.float64)
    out = layer(x)
    # independent oracle: one single-channel convolution per connected pair, summed
    expected = torch.zeros(3, 16, 10, 10, dtype=torch.float64)
    n = 0
    for o, inputs in enumerate(L.C3_TABLE):
        expected[:, o] += layer.bias[o]
        for i in inputs:
            kernel = layer.weight[n].view(1, 1, 5, 5)
            expected[:, o : o + 1] += F.conv2d(x[:, i : i + 1], kernel)
            n += 1
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


def test_c3_output_depends_only_on_connected_input_maps():
    torch.manual_seed(1)
    layer = L.PartialConv2d(6, L.C3_TABLE, 5).double()
    x = torch.randn(2, 6, 14, 14, dtype=torch.float64, requires_grad=True)
    out = layer(x)
    for o, inputs in enumerate(L.C3_TABLE):
        (grad,) = torch.autograd.grad(out[:, o].sum(), x, retain_graph=True)
        per_input = grad.abs().sum(dim=(0, 2, 3))
        for i in range(6):
            if i in inputs:
                assert per_input[i] > 0, (o, i)
            else:
                assert per_input[i] == 0, (o, i)


def test_c3_weights_outside_the_table_have_no_gradient_and_never_change():
    torch.manual_seed(2)
    model = L.LeNet1998()
    c3 = model.C3
    outside = ~c3.connection_mask()
    assert sum(p.numel() for p in c3.parameters()) == 1516  # no hidden dense kernel to leak
    # the dense kernel's entries outside the table receive no gradient from any parameter path
    dense = c3.dense_weight()
    (grad,) = torch.autograd.grad(dense[outside].sum() + 0 * dense.sum(), c3.weight)
    assert torch.count_nonzero(grad) == 0
    before = c3.dense_weight().detach().clone()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.randn(32, 1, 32, 32), torch.randint(0, 10, (32,))
    for _ in range(5):
        opt.zero_grad()
        model.loss(model(x), y).backward()
        opt.step()
    after = c3.dense_weight().detach()
    assert torch.count_nonzero(after[outside]) == 0
    assert (after[~outside] != before[~outside]).float().mean() > 0.99


def test_subsampling_matches_direct_formula():
    torch.manual_seed(3)
    layer = L.Subsampling(4).double()
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64)
    out = layer(x).detach().numpy()
    xn = x.numpy()
    block_sum = (
        xn[:, :, 0::2, 0::2] + xn[:, :, 1::2, 0::2] + xn[:, :, 0::2, 1::2] + xn[:, :, 1::2, 1::2]
    )
    w = layer.weight.detach().numpy()[None, :, None, None]
    b = layer.bias.detach().numpy()[None, :, None, None]
    np.testing.assert_allclose(out, 1.7159 * np.tanh(2 / 3 * (w * block_sum + b)), rtol=1e-12)
    assert sum(p.numel() for p in layer.parameters()) == 8


def test_layer_gradients_agree_with_finite_differences():
    torch.manual_seed(4)
    sub = L.Subsampling(2).double()
    conv = L.PartialConv2d(3, ((0,), (1, 2), (0, 1, 2)), 3).double()
    rbf = L.RBFOutput(L.rbf_codes(torch.float64)[:, :6])
    x4 = torch.randn(2, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    x3 = torch.randn(2, 3, 5, 5, dtype=torch.float64, requires_grad=True)
    x2 = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: sub(x), (x4, sub.weight, sub.bias))
    assert torch.autograd.gradcheck(lambda x, w, b: conv(x), (x3, conv.weight, conv.bias))
    assert torch.autograd.gradcheck(rbf, (x2,))
    logits = torch.randn(4, 10, dtype=torch.float64, requires_grad=True)
    target = torch.tensor([0, 3, 9, 3])
    assert torch.autograd.gradcheck(lambda z: L.map_loss(z, target, 0.7), (logits,))


def test_rbf_codes_are_the_drawn_bitmaps():
    codes = L.rbf_codes()
    assert codes.shape == (10, 84)
    assert set(codes.unique().tolist()) == {-1.0, 1.0}
    for d, bitmap in enumerate(L.DIGIT_BITMAPS):
        assert len(bitmap) == 12 and all(len(row) == 7 and set(row) <= {"#", "."} for row in bitmap)
        picture = codes[d].view(12, 7)
        assert all(
            (picture[r, c] > 0) == (bitmap[r][c] == "#") for r in range(12) for c in range(7)
        )
    hamming = (codes[:, None] != codes[None]).sum(-1) + 84 * torch.eye(10, dtype=torch.long)
    assert hamming.min() >= 10  # every pair of codes is far apart


def test_rbf_output_is_squared_euclidean_distance_to_fixed_codes():
    rbf = L.RBFOutput(L.rbf_codes(torch.float64))
    x = torch.randn(5, 84, dtype=torch.float64)
    codes = L.rbf_codes(torch.float64).numpy()
    expected = ((x.numpy()[:, None, :] - codes[None]) ** 2).sum(-1)
    np.testing.assert_allclose(rbf(x).numpy(), expected, rtol=1e-12)
    assert list(rbf.parameters()) == [] and "codes" in rbf.state_dict()


def _map_direct(y: np.ndarray, target: np.ndarray, j: float) -> float:
    """The paper's formula, literally: mean of y_c + log(e^-j + sum_i e^-y_i)."""
    total = [y[n, target[n]] + np.log(np.exp(-j) + np.exp(-y[n]).sum()) for n in range(len(target))]
    return float(np.mean(total))


@pytest.mark.parametrize("j", [0.0, 0.5, 1.0, 5.0])
def test_map_loss_matches_direct_formula(j):
    rng = np.random.default_rng(5)
    y = rng.uniform(0.0, 8.0, size=(7, 10))
    target = rng.integers(0, 10, size=7)
    got = L.map_loss(torch.tensor(-y), torch.tensor(target), j).item()
    np.testing.assert_allclose(got, _map_direct(y, target, j), rtol=1e-12)


def test_map_loss_is_stable_for_large_penalties_and_tends_to_cross_entropy():
    y = torch.tensor([[900.0, 1000.0, 950.0]], dtype=torch.float64)
    target = torch.tensor([0])
    loss = L.map_loss(-y, target, 1.0).item()
    assert np.isfinite(loss)
    np.testing.assert_allclose(loss, 900.0 - 1.0, rtol=1e-12)  # e^-j dominates: y_c - j
    logits = torch.randn(6, 10, dtype=torch.float64)
    target = torch.randint(0, 10, (6,))
    torch.testing.assert_close(
        L.map_loss(logits, target, j=1e4), F.cross_entropy(logits, target), rtol=1e-12, atol=0
    )
    with pytest.raises(ValueError, match="logits"):
        L.map_loss(logits, target[:3])


def test_model_logits_are_negated_penalties_and_loss_is_map():
    torch.manual_seed(6)
    model = L.LeNet1998(map_j=0.3).double()
    x = torch.randn(4, 1, 32, 32, dtype=torch.float64)
    logits = model(x)
    # rebuild y from F6's output through the RBF directly
    features = {}
    model.F6.register_forward_hook(lambda m, i, o: features.setdefault("a", o))
    model(x)
    f6 = L.squash(features["a"]).detach().numpy()
    y = ((f6[:, None] - L.rbf_codes(torch.float64).numpy()[None]) ** 2).sum(-1)
    np.testing.assert_allclose(-logits.detach().numpy(), y, rtol=1e-12)
    target = torch.tensor([1, 2, 3, 4])
    np.testing.assert_allclose(
        model.loss(logits, target).item(), _map_direct(y, target.numpy(), 0.3), rtol=1e-12
    )


def test_initialisation_is_uniform_within_2_4_over_fan_in():
    torch.manual_seed(7)
    model = L.LeNet1998()
    checks = {
        "C1.weight": 25, "C1.bias": 25, "C5.weight": 400, "F6.weight": 120, "F6.bias": 120,
        "S2.weight": 4, "S4.bias": 4,
    }  # fmt: skip
    params = dict(model.named_parameters())
    for name, fan_in in checks.items():
        p = params[name].detach()
        bound = 2.4 / fan_in
        assert p.abs().max() <= bound, name
        if p.numel() >= 100:
            assert p.abs().max() > 0.9 * bound and abs(p.mean()) < 0.1 * bound, name
    # C3 kernels: fan-in is 25 times the number of S2 maps that C3 map sees
    c3 = model.C3
    for n, o in enumerate(c3.out_index.tolist()):
        assert c3.weight[n].abs().max() <= 2.4 / (25 * len(L.C3_TABLE[o]))
