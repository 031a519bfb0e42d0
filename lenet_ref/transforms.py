"""LeNet-5 input transforms: pad MNIST's 28x28 digits to the paper's 32x32 field and scale them.

All functions take uint8 images with pixel values 0 (background) to 255 (ink), as
:func:`lenet_kit.data.load_mnist` returns them.
"""

from __future__ import annotations

import numpy as np

#: Mean and standard deviation of the MNIST training pixels after dividing by 255.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

#: The paper's scaling: background maps to -0.1, full ink to 1.175 (mean about 0, variance about 1).
LECUN_LOW = -0.1
LECUN_HIGH = 1.175

#: One LeNet-5 input: a single channel of 32x32 pixels (C, H, W).
INPUT_SHAPE = (1, 32, 32)


def check_input_shape(shape: tuple[int, ...], who: str) -> None:
    """Raise ``ValueError`` unless ``shape`` is a batch of LeNet-5 inputs (N, 1, 32, 32).

    who: the model or function that received it (the message starts with it).
    """
    shape = tuple(shape)
    if len(shape) != 4 or shape[1:] != INPUT_SHAPE:
        raise ValueError(
            f"{who} expects inputs of shape (N, 1, 32, 32), got {shape}. Pad MNIST's 28x28 "
            "digits to 32x32 and add a channel axis: build them with "
            "lenet_ref.transforms.lenet_inputs(images_uint8)."
        )


def _check_images(images: np.ndarray, name: str = "images") -> np.ndarray:
    images = np.asarray(images)
    if images.ndim not in (2, 3):
        raise ValueError(
            f"{name} must be one image (H, W) or a batch (N, H, W); got shape {images.shape}. "
            "Drop the channel axis first, e.g. images[:, 0]."
        )
    return images


def pad_to_32(images: np.ndarray) -> np.ndarray:
    """Pad 28x28 digits with 2 background pixels on every side.

    images: (N, 28, 28) or (28, 28), any dtype -> same dtype, shape (N, 32, 32) or (32, 32).
    The paper centres the digit in a larger field so that stroke ends and corners can reach the
    centre of the receptive fields of the top convolution; it pads, it never resizes.
    """
    images = _check_images(images)
    if images.shape[-2:] != (28, 28):
        raise ValueError(
            f"pad_to_32 expects 28x28 MNIST digits, got spatial size {images.shape[-2:]}."
        )
    widths = [(0, 0)] * (images.ndim - 2) + [(2, 2), (2, 2)]
    return np.pad(images, widths, mode="constant", constant_values=0)


def scale_lecun(images: np.ndarray, dtype: np.dtype | type = np.float32) -> np.ndarray:
    """Map uint8 pixels to the paper's range: 0 -> -0.1, 255 -> 1.175 (linear in between).

    images: uint8 (..., H, W) -> float array of the same shape, dtype ``dtype``.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(
            f"scale_lecun expects uint8 pixels 0..255, got dtype {images.dtype}. "
            "Scale the raw images from load_mnist, before any other normalization."
        )
    scale = (LECUN_HIGH - LECUN_LOW) / 255.0
    return (LECUN_LOW + images.astype(dtype) * dtype(scale)).astype(dtype, copy=False)


def standardize(
    images: np.ndarray,
    mean: float = MNIST_MEAN,
    std: float = MNIST_STD,
    dtype: np.dtype | type = np.float32,
) -> np.ndarray:
    """Standardize uint8 pixels: (p / 255 - mean) / std.

    images: uint8 (..., H, W) -> float array of the same shape, dtype ``dtype``. The defaults are
    the MNIST training-set statistics, so the training pixels end up with mean 0 and std 1.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(
            f"standardize expects uint8 pixels 0..255, got dtype {images.dtype}. "
            "Standardize the raw images from load_mnist."
        )
    if std <= 0:
        raise ValueError(f"std must be positive, got {std}.")
    return ((images.astype(dtype) / dtype(255.0) - dtype(mean)) / dtype(std)).astype(dtype)


def lenet_inputs(
    images: np.ndarray, scaling: str = "lecun", dtype: np.dtype | type = np.float32
) -> np.ndarray:
    """Turn uint8 MNIST digits into LeNet-5 inputs.

    images: uint8 (N, 28, 28) -> float (N, 1, 32, 32): padded, scaled (``"lecun"`` or
    ``"standard"``), with a channel axis for NCHW layers.
    """
    images = _check_images(images)
    if images.ndim == 2:
        images = images[None]
    padded = pad_to_32(images)
    if scaling == "lecun":
        scaled = scale_lecun(padded, dtype)
    elif scaling == "standard":
        scaled = standardize(padded, dtype=dtype)
    else:
        raise ValueError(f"scaling must be 'lecun' or 'standard', got {scaling!r}.")
    return scaled[:, None]
