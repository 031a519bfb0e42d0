"""Mistakes for 01_mnist."""

from tests.mistakes import Mistake

ASSIGNMENT = "01_mnist"
MISTAKES = [
    Mistake(
        "pads 4 pixels on one side instead of 2 on each",
        {
            "pad_to_32": (
                "def pad_to_32(images):\n"
                "    images = np.asarray(images)\n"
                "    widths = [(0, 0)] * (images.ndim - 2) + [(0, 4), (0, 4)]\n"
                "    return np.pad(images, widths)\n"
            )
        },
        frozenset({"test_pad_to_32"}),
    ),
    Mistake(
        "scales in uint8 arithmetic, which wraps around",
        {
            "scale_lecun": (
                "def scale_lecun(images):\n"
                "    return (-0.1 + images * np.uint8(5) / 1000).astype(np.float32)\n"
            )
        },
        frozenset({"test_scale_lecun"}),
    ),
    Mistake(
        "standardizes without dividing by 255 first",
        {
            "standardize": (
                "def standardize(images, mean=0.1307, std=0.3081):\n"
                "    return ((images.astype(np.float32) - mean) / std).astype(np.float32)\n"
            )
        },
        frozenset({"test_standardize"}),
    ),
]
