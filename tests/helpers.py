"""Helpers for tests (import them; fixtures live in conftest.py)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

CI = os.environ.get("CI", "").lower() == "true"


def require_tool(name: str) -> str:
    """The tool's path; a missing tool skips locally and FAILS under CI (never a silent pass)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed; .ci/run installs it"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def run_yitong(args: list[str], env: dict[str, str], input: bytes | None = None, cwd: Path | None = None):
    """Run the installed `yitong` console script as a user would."""
    exe = shutil.which("yitong", path=str(Path(sys.executable).parent)) or "yitong"
    return subprocess.run([exe, *args], env=env, input=input, capture_output=True, cwd=cwd, timeout=120)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(process: subprocess.Popen, base: str, server_output, *, context=None,
                       seconds: float = 30) -> None:
    """Wait until ``base``/healthz answers, failing at once if the server process has exited.

    ``server_output()`` gives the server's output for the failure message.
    """
    import time
    import urllib.request

    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            pytest.fail(f"server exited: {server_output()}")
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1, context=context).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"server did not answer within {seconds:.0f} s: {server_output()}")
            time.sleep(0.1)
