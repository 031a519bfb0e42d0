"""`make start` serves the course: the `lab` step it ends with, run for real on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from autograder.release import assignments

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def test_make_lab_prints_its_url_with_token_and_serves_the_course(repo):
    port = free_port()
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"PORT={port}"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    pattern = re.compile(rf"http://127\.0\.0\.1:{port}/lab\?token=([0-9a-f]{{16,}})")
    try:
        deadline = time.monotonic() + 90
        while not (match := next(filter(None, map(pattern.search, list(lines))), None)):
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "no URL with a token printed within 90 s"
            time.sleep(0.3)
        token, base = match.group(1), f"http://127.0.0.1:{port}/api"
        with pytest.raises(urllib.error.HTTPError):
            get_json(f"{base}/contents")  # without the token: refused
        names = {item["name"] for item in get_json(f"{base}/contents?token={token}")["content"]}
        assert set(assignments()) <= names, names
        first = assignments()[0]
        inside = get_json(f"{base}/contents/{first}?token={token}")["content"]
        assert any(item["name"].endswith(".ipynb") for item in inside)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
