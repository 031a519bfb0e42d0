"""Decode reference data embedded in hidden tests.

Hidden tests carry the reference outputs they compare against (prepared from ``lenet_ref`` by
``python -m autograder.fixtures``) as one text blob, so that grading needs neither the reference
code nor any file on disk. Students never see these blobs: nbgrader strips hidden tests.
"""

from __future__ import annotations

import base64
import json
import zlib

import numpy as np


def unpack(blob: str) -> dict[str, np.ndarray]:
    """Decode a blob made by ``autograder.fixtures.pack`` into named arrays."""
    raw = zlib.decompress(base64.b64decode(blob))
    header_len = int.from_bytes(raw[:4], "little")
    header = json.loads(raw[4 : 4 + header_len])
    arrays, offset = {}, 4 + header_len
    for name, (dtype, shape) in header.items():
        dtype = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        arrays[name] = np.frombuffer(raw, dtype, count, offset).reshape(tuple(shape)).copy()
        offset += count * dtype.itemsize
    return arrays
