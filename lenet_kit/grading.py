"""Decode reference data embedded in hidden tests.

Hidden tests carry the reference outputs they compare against (prepared from ``lenet_ref`` by
``python -m autograder.fixtures``) as one text blob, so that grading needs neither the reference
code nor any file on disk. A blob is a NumPy ``.npz`` archive (the layout ``np.savez`` writes),
zlib-compressed as a whole and base64-encoded; ``np.load`` reads it with ``allow_pickle=False``,
so decoding a blob never runs code. Students never see these blobs: nbgrader strips hidden tests.
"""

from __future__ import annotations

import base64
import io
import zlib

import numpy as np


def unpack(blob: str) -> dict[str, np.ndarray]:
    """Decode a blob made by ``autograder.fixtures.pack`` into named arrays."""
    archive = zlib.decompress(base64.b64decode(blob, validate=True))
    with np.load(io.BytesIO(archive), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}
