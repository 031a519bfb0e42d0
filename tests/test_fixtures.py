"""Reference data embedded in hidden tests: encoding, freshness, and where it may appear."""

from __future__ import annotations

import re

import nbformat
import numpy as np
import pytest

from autograder.fixtures import LINE, fixture_line, pack, registry
from autograder.fixtures.__main__ import _same, update
from autograder.release import COURSE, SOLUTIONS
from lenet_kit.grading import unpack

SOLUTION_NOTEBOOKS = sorted(SOLUTIONS.glob("*/*.ipynb"))
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", re.S)


def test_pack_unpack_round_trip_keeps_dtype_shape_and_bits():
    rng = np.random.default_rng(0)
    arrays = {
        "x64": rng.standard_normal((2, 3, 4)),
        "x32": rng.standard_normal((5,)).astype(np.float32),
        "labels": rng.integers(0, 10, 7).astype(np.uint8),
        "scalar": np.array(3.5),
        "empty": np.zeros((0, 4), np.int64),
        "fortran": np.asfortranarray(rng.standard_normal((3, 2))),
    }
    blob = pack(arrays)
    assert pack(arrays) == blob, "packing must be deterministic"
    back = unpack(blob)
    assert list(back) == list(arrays)
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype and back[name].shape == array.shape
        np.testing.assert_array_equal(back[name], array)
    line = fixture_line("    ", "REF", blob, "demo")
    match = LINE.search(line)
    assert match and match["blob"] == blob and match["name"] == "demo" and match["var"] == "REF"


def test_blobs_are_npz_archives_without_timestamps_and_never_unpickled():
    import base64
    import io
    import zipfile
    import zlib

    blob = pack({"a": np.arange(3.0)})
    with zipfile.ZipFile(io.BytesIO(zlib.decompress(base64.b64decode(blob)))) as archive:
        assert [(m.filename, m.date_time) for m in archive.infolist()] == [
            ("a.npy", (1980, 1, 1, 0, 0, 0))
        ]
    evil = io.BytesIO()  # an object array is stored pickled: decoding it could run code
    np.savez(evil, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        unpack(base64.b64encode(zlib.compress(evil.getvalue())).decode())


def test_embedded_reference_data_matches_lenet_ref_today():
    stale = update(SOLUTION_NOTEBOOKS, check=True)
    assert stale == [], "run `make fixtures release` and commit solutions/ and course/"


def test_freshness_ignores_rounding_noise_but_not_changes():
    rng = np.random.default_rng(1)
    x32 = rng.standard_normal(100).astype(np.float32)
    x64 = rng.standard_normal(100)
    # The last bits of float32 results vary with torch's thread count (seen in CI).
    noisy32 = x32 + np.spacing(x32) * 4
    assert _same({"a": x32, "b": x64}, {"a": noisy32, "b": x64.copy()})
    assert not _same({"a": x32}, {"a": x32 * np.float32(1.001)})
    assert not _same({"b": x64}, {"b": x64 * (1 + 1e-8)})
    assert not _same({"a": x32}, {"a": x32.astype(np.float64)})
    assert not _same({"a": x32}, {"a": x32, "b": x64})


def fixture_names_in(source: str) -> set[str]:
    return {m["name"] for m in LINE.finditer(source)}


def test_reference_data_lives_only_inside_hidden_tests():
    used = set()
    for path in SOLUTION_NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            names = fixture_names_in(cell.source)
            inside = {n for region in HIDDEN.findall(cell.source) for n in fixture_names_in(region)}
            assert names == inside, (
                f"{path.name}: reference data outside hidden tests: {names - inside}"
            )
            used |= names
    for path in sorted(COURSE.glob("*/*.ipynb")):
        assert "unpack(" not in path.read_text(), f"{path} ships reference data to students"
    unused = set(registry()) - used
    assert not unused, f"fixture builders that no notebook uses: {sorted(unused)}"


@pytest.mark.parametrize("name", sorted(registry()))
def test_every_builder_is_seeded(name):
    first, second = registry()[name](), registry()[name]()
    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
