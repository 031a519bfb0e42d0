"""MNIST for the reference library: the student-safe loader of :mod:`lenet_kit.data`.

``python -m lenet_ref.data fetch`` fetches, verifies and caches MNIST.
"""

import sys

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
    main,
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

if __name__ == "__main__":
    sys.exit(main())
