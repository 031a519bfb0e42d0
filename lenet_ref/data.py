"""MNIST for the reference library: the student-safe loader of :mod:`lenet_kit.data`.

``python -m lenet_kit.data fetch`` fetches, verifies and caches MNIST.
"""

from lenet_kit.data import (
    DIGESTS,
    SIZES,
    SPLITS,
    MnistCorrupt,
    MnistError,
    MnistUnavailable,
    default_cache_dir,
    fetch_mnist,
    load_mnist,
)

__all__ = [
    "DIGESTS",
    "SIZES",
    "SPLITS",
    "MnistCorrupt",
    "MnistError",
    "MnistUnavailable",
    "default_cache_dir",
    "fetch_mnist",
    "load_mnist",
]
