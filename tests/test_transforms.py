"""lenet_ref.transforms against independent, written-out formulas."""

import numpy as np
import pytest

from lenet_ref.transforms import (
    check_input_shape,
    lenet_inputs,
    pad_to_32,
    scale_lecun,
    standardize,
)

rng = np.random.default_rng(0)


def test_pad_to_32_places_the_digit_in_the_centre_of_a_zero_border():
    x = rng.integers(1, 256, size=(3, 28, 28)).astype(np.uint8)
    y = pad_to_32(x)
    assert y.shape == (3, 32, 32) and y.dtype == np.uint8
    expected = np.zeros((3, 32, 32), np.uint8)
    for n in range(3):
        for r in range(28):
            for c in range(28):
                expected[n, r + 2, c + 2] = x[n, r, c]
    np.testing.assert_array_equal(y, expected)


def test_pad_to_32_single_image_and_errors():
    assert pad_to_32(np.ones((28, 28), np.float32)).shape == (32, 32)
    with pytest.raises(ValueError, match="28x28"):
        pad_to_32(np.zeros((2, 32, 32), np.uint8))
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        pad_to_32(np.zeros((2, 1, 28, 28), np.uint8))


def test_scale_lecun_endpoints_and_linearity():
    p = np.arange(256, dtype=np.uint8)
    x = scale_lecun(p)
    assert x.dtype == np.float32
    assert x[0] == pytest.approx(-0.1, abs=1e-7)
    assert x[255] == pytest.approx(1.175, abs=1e-6)
    np.testing.assert_allclose(
        x, [-0.1 + 1.275 * v / 255 for v in range(256)], rtol=1e-6, atol=1e-7
    )
    assert scale_lecun(p, np.float64).dtype == np.float64
    with pytest.raises(TypeError, match="uint8"):
        scale_lecun(p.astype(np.float32))


def test_standardize_matches_formula_and_centres_training_statistics():
    p = rng.integers(0, 256, size=(4, 5)).astype(np.uint8)
    np.testing.assert_allclose(standardize(p, mean=0.2, std=0.5), (p / 255 - 0.2) / 0.5, rtol=1e-6)
    with pytest.raises(ValueError, match="std"):
        standardize(p, std=0)


def test_standardize_uses_the_true_training_statistics(mnist_cache):
    from lenet_kit.data import load_mnist

    images, _ = load_mnist("train")
    z = standardize(images)
    assert abs(float(z.mean())) < 2e-3
    assert abs(float(z.std()) - 1) < 2e-3


def test_lenet_inputs_shape_dtype_and_scalings():
    x = rng.integers(0, 256, size=(2, 28, 28)).astype(np.uint8)
    a = lenet_inputs(x)
    assert a.shape == (2, 1, 32, 32) and a.dtype == np.float32
    np.testing.assert_allclose(a[:, 0], scale_lecun(pad_to_32(x)))
    assert a[0, 0, 0, 0] == pytest.approx(-0.1)
    b = lenet_inputs(x, "standard", np.float64)
    assert b.dtype == np.float64
    np.testing.assert_allclose(b[:, 0], standardize(pad_to_32(x), dtype=np.float64))
    assert lenet_inputs(x[0]).shape == (1, 1, 32, 32)
    with pytest.raises(ValueError, match="scaling"):
        lenet_inputs(x, "minmax")


def test_check_input_shape_names_the_caller_and_the_fix():
    check_input_shape((5, 1, 32, 32), "LeNet5")
    for shape in [(5, 28, 28), (5, 1, 28, 28), (1, 32, 32), (5, 3, 32, 32)]:
        with pytest.raises(ValueError, match=r"^LeNet5 expects .*\(N, 1, 32, 32\).*lenet_inputs"):
            check_input_shape(shape, "LeNet5")
