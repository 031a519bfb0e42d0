"""The PyTorch LeNet-5: shapes, parameter counts, summary, and agreement with the NumPy model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lenet_ref import numpy_lenet
from lenet_ref.torch_lenet import (
    LAYERS,
    VARIANTS,
    LeNet5,
    create_model,
    from_numpy,
    load_numpy_params,
    numpy_params,
    summary,
    to_numpy,
)

torch.set_num_threads(1)

EXPECTED_OUTPUTS = [
    (2, 6, 28, 28), (2, 6, 14, 14), (2, 16, 10, 10), (2, 16, 5, 5), (2, 120), (2, 84), (2, 10),
]  # fmt: skip


@pytest.mark.parametrize("variant", VARIANTS)
def test_forward_shape_and_layer_names(variant):
    model = create_model(variant)
    logits = model(torch.randn(3, 1, 32, 32))
    assert logits.shape == (3, 10) and logits.dtype == torch.float32
    assert [name for name, _ in model.named_children()] == list(LAYERS)
    loss = model.loss(logits, torch.tensor([0, 5, 9]))
    assert loss.ndim == 0 and torch.isfinite(loss)


@pytest.mark.parametrize("variant", ["classic", "modern"])
def test_summary_rows_for_classic_and_modern(variant):
    result = summary(LeNet5(variant), input_shape=(2, 1, 32, 32))
    assert [r.layer for r in result.rows] == list(LAYERS)
    assert [r.output_shape for r in result.rows] == EXPECTED_OUTPUTS
    assert [r.params for r in result.rows] == [156, 0, 2416, 0, 48120, 10164, 850]
    assert result.total == 61_706
    table = str(result)
    assert "C3" in table and "2,416" in table and "61,706" in table


def test_summary_measures_any_module_and_restores_training_mode():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 30 * 30, 4))
    model.train()
    rows = summary(model).rows
    assert [(r.layer, r.output_shape, r.params) for r in rows] == [
        ("0", (1, 2, 30, 30), 20),
        ("1", (1, 1800), 0),
        ("2", (1, 4), 7204),
    ]
    assert model.training


def test_variants_differ_in_activation_and_pooling():
    assert isinstance(LeNet5("classic").S2, nn.AvgPool2d)
    assert isinstance(LeNet5("modern").S2, nn.MaxPool2d)
    x = torch.full((1, 120), -3.0)
    assert LeNet5("modern").act(x).eq(0).all()
    torch.testing.assert_close(LeNet5("classic").act(x), torch.tanh(x))


def test_the_constructor_chooses_activation_pooling_and_dropout():
    model = LeNet5("classic", activation="sigmoid", pooling="max", dropout=0.5)
    assert [name for name, _ in model.named_children()] == list(LAYERS)
    assert isinstance(model.S2, nn.MaxPool2d) and isinstance(model.S4, nn.MaxPool2d)
    x = torch.full((1, 120), -3.0)
    torch.testing.assert_close(model.act(x), torch.sigmoid(x))
    assert model.options() == {"activation": "sigmoid", "pooling": "max", "dropout": 0.5}
    assert LeNet5("modern").options() == {"activation": "relu", "pooling": "max", "dropout": 0.0}
    with pytest.raises(ValueError, match="activation must be one of.*'swish'"):
        LeNet5(activation="swish")
    with pytest.raises(ValueError, match="LeNet1998"):
        LeNet5("lecun1998")
    with pytest.raises(ValueError, match="uses activation 'sigmoid'"):
        numpy_params(model)  # the NumPy model has no such variant


def test_bad_input_and_bad_variant_are_clear_errors():
    model = LeNet5("classic")
    with pytest.raises(ValueError, match=r"\(N, 1, 32, 32\).*\(4, 1, 28, 28\).*lenet_inputs"):
        model(torch.zeros(4, 1, 28, 28))
    with pytest.raises(ValueError, match="variant must be one of.*'lenet'"):
        LeNet5("lenet")


@pytest.mark.parametrize("variant", ["classic", "modern"])
def test_numpy_to_torch_gives_the_same_logits(variant):
    np_model = numpy_lenet.LeNet5(variant, seed=3, dtype=np.float64)
    x = np.random.default_rng(0).normal(size=(5, 1, 32, 32))
    model = from_numpy(np_model)
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(x)).numpy()
    assert np.abs(torch_logits - np_model.forward(x)).max() <= 1e-10


@pytest.mark.parametrize("variant", ["classic", "modern"])
def test_torch_to_numpy_gives_the_same_logits(variant):
    torch.manual_seed(4)
    model = LeNet5(variant).double()
    np_model = to_numpy(model)
    assert isinstance(np_model, numpy_lenet.LeNet5) and np_model.variant == variant
    x = np.random.default_rng(1).normal(size=(5, 1, 32, 32))
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(x)).numpy()
    assert np.abs(torch_logits - np_model.forward(x)).max() <= 1e-10
    # and back again: an identical torch model
    again = from_numpy(np_model)
    for (k1, v1), (k2, v2) in zip(
        model.state_dict().items(), again.state_dict().items(), strict=True
    ):
        assert k1 == k2 and torch.equal(v1, v2)


def test_numpy_params_follow_the_numpy_contract():
    torch.manual_seed(5)
    model = LeNet5("modern")
    params = numpy_params(model)
    assert {k: v.shape for k, v in params.items()} == numpy_lenet.PARAM_SHAPES
    np.testing.assert_array_equal(params["C5.weight"], model.C5.weight.detach().numpy().T)
    np.testing.assert_array_equal(params["C1.weight"], model.C1.weight.detach().numpy())
    params["C1.weight"][:] = 0  # a copy: the model must not change
    assert torch.count_nonzero(model.C1.weight) == model.C1.weight.numel()


def test_load_numpy_params_lists_every_mismatch():
    model = LeNet5("classic")
    params = numpy_params(model)
    del params["C1.bias"]
    params["C5.weight"] = params["C5.weight"].T
    params["extra"] = np.zeros(3)
    with pytest.raises(ValueError) as info:
        load_numpy_params(model, params)
    message = str(info.value)
    assert "missing keys ['C1.bias']" in message
    assert "unexpected keys ['extra']" in message
    assert "C5.weight: got (120, 400), expected (400, 120)" in message


def test_lecun1998_has_no_numpy_counterpart():
    with pytest.raises(ValueError, match="classic' and 'modern' only"):
        numpy_params(create_model("lecun1998"))
