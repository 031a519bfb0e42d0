"""Correct work for 01_mnist, written three ways."""

# ruff: noqa: E501 - notebook code kept in strings (notebooks allow long lines)

from tests.correct_work import Submission, code

ASSIGNMENT = "01_mnist"

LOOPS = Submission(
    "loops and lookup tables",
    "padding by copying each image into a zeroed canvas in a Python loop; scaling through a "
    "256-entry lookup table built in float64; the concept checks counted by hand in loops",
    {
        "most_common_digit": code(
            """
            best, best_count = 0, -1
            for digit in range(10):
                if counts[digit] > best_count:
                    best, best_count = digit, counts[digit]
            most_common_digit = best
            """
        ),
        "pad_to_32": code(
            '''
            def pad_to_32(images):
                """(N, 28, 28) or (28, 28) -> (N, 32, 32) or (32, 32), zeros around, same dtype."""
                single = images.ndim == 2
                batch = images[None] if single else images
                canvas = np.zeros((len(batch), 32, 32), dtype=batch.dtype)
                for k in range(len(batch)):
                    for row in range(28):
                        canvas[k, row + 2, 2:30] = batch[k, row]
                return canvas[0] if single else canvas
            '''
        ),
        "scale_lecun": code(
            '''
            # One value per possible pixel, computed once in float64.
            LECUN_TABLE = np.array([-0.1 + 1.275 * p / 255 for p in range(256)], dtype=np.float64)


            def scale_lecun(images):
                """uint8 pixels of any shape -> float32: 0 -> -0.1, 255 -> 1.175."""
                return LECUN_TABLE[images].astype(np.float32)
            '''
        ),
        "standardize": code(
            '''
            def standardize(images, mean=0.1307, std=0.3081):
                """uint8 pixels -> float32 (p / 255 - mean) / std, via a table of the 256 values."""
                table = np.empty(256, dtype=np.float64)
                for p in range(256):
                    table[p] = (p / 255 - mean) / std
                return table[images].astype(np.float32)
            '''
        ),
        "padding_fraction": code(
            """
            field, digit = 32 * 32, 28 * 28
            padding_fraction = (field - digit) / field
            """
        ),
    },
)

VECTORIZED = Submission(
    "slices, interpolation and NumPy scalars",
    "padding by slice assignment with an Ellipsis (any leading axes); scaling with np.interp; "
    "standardizing in float64 and casting at the end; answers left as NumPy scalars "
    "(np.int64, np.float64)",
    {
        "most_common_digit": "most_common_digit = counts.argmax()\n",
        "pad_to_32": code(
            """
            def pad_to_32(images):
                out = np.zeros(images.shape[:-2] + (32, 32), dtype=images.dtype)
                out[..., 2:-2, 2:-2] = images
                return out
            """
        ),
        "scale_lecun": code(
            """
            def scale_lecun(images):
                # straight line through (0, -0.1) and (255, 1.175)
                return np.interp(images, [0, 255], [-0.1, 1.175]).astype(np.float32)
            """
        ),
        "standardize": code(
            """
            def standardize(images, mean=0.1307, std=0.3081):
                z = (np.asarray(images, dtype=np.float64) / 255.0 - mean) / std
                return z.astype(np.float32)
            """
        ),
        "padding_fraction": code(
            """
            mask = np.pad(np.zeros((28, 28)), 2, constant_values=1.0)  # 1 where padding
            padding_fraction = mask.mean()
            """
        ),
    },
)

KEYWORDS = Submission(
    "extra keyword arguments",
    "functions with extra, defaulted keyword arguments (border width, value, end points, "
    "output dtype); np.pad called with keyword arguments only; a lambda key for the argmax",
    {
        "most_common_digit": "most_common_digit = max(range(10), key=lambda d: counts[d])\n",
        "pad_to_32": code(
            """
            def pad_to_32(images, border=2, value=0):
                images = np.asarray(images)
                lead = ((0, 0),) * (images.ndim - 2)
                return np.pad(
                    images, pad_width=lead + ((border, border),) * 2, mode="constant",
                    constant_values=value,
                )
            """
        ),
        "scale_lecun": code(
            """
            def scale_lecun(images, background=-0.1, ink=1.175, dtype=np.float32):
                p = images.astype(dtype)
                return (background + (ink - background) * (p / dtype(255))).astype(dtype)
            """
        ),
        "standardize": code(
            """
            def standardize(images, mean=0.1307, std=0.3081, *, scale=255.0, dtype=np.float32):
                return np.divide(np.subtract(images / scale, mean), std).astype(dtype)
            """
        ),
        "padding_fraction": "padding_fraction = 1.0 - (28 / 32) ** 2\n",
    },
)

SUBMISSIONS = [LOOPS, VECTORIZED, KEYWORDS]
