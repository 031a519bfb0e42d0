"""Shared fixtures: the repository's paths and a verified MNIST cache."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def mnist_cache() -> Path:
    """The default MNIST cache, filled and verified (``make test`` fetches it beforehand)."""
    from lenet_kit.data import default_cache_dir, fetch_mnist

    fetch_mnist()
    return default_cache_dir()
