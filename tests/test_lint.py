"""The tree is ruff-clean (check and format), as the contributing rules ask."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]])
def test_ruff(repo, args):
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=repo, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
