"""The interop suites' shared harness: `yitong serve` over HTTPS on a fresh home, and openid-client
journeys (Node scripts in this directory) run against it at once.

Each script reads its parameters from INTEROP_PARAMS and prints one JSON line
``{"steps": {...}}`` (see lib.mjs); Node trusts the server through NODE_EXTRA_CA_CERTS, so no
insecure-request opt-out is ever used.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import check_run, clean_env, free_port, issue_tls_server_certificate, run_yitong, wait_until_healthy

HERE = Path(__file__).resolve().parent
NODE_TIMEOUT = 60


@dataclass
class Served:
    issuer: str
    env: dict
    ca_file: Path  # the P-256 root a client must trust
    log: Path


def yitong_exe() -> str:
    import shutil
    import sys

    return shutil.which("yitong", path=str(Path(sys.executable).parent)) or "yitong"


@contextlib.contextmanager
def serve_https(tmp: Path, prepare: Callable[[dict, Path], None] | None = None) -> Iterator[Served]:
    """`yitong db upgrade` on a fresh home under ``tmp``, a TLS certificate for localhost from the home's
    own p256 CA, ``prepare(env, ca_file)`` (users, clients, records), then `yitong serve` at
    https://localhost:PORT until the block ends."""
    port = free_port()
    issuer = f"https://localhost:{port}"
    env = clean_env()
    env.update(YITONG_HOME=str(tmp / "home"), YITONG_ISSUER=issuer)
    check_run(run_yitong(["db", "upgrade"], env), "yitong db upgrade")
    chain, key, ca_file = issue_tls_server_certificate(env, tmp)
    if prepare is not None:
        prepare(env, ca_file)
    log = tmp / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen([yitong_exe(), "serve", "--port", str(port), "--certfile", str(chain),
                                    "--keyfile", str(key)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        wait_until_healthy(process, issuer, log.read_text, context=ssl.create_default_context(cafile=str(ca_file)))
        yield Served(issuer, env, ca_file, log)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def run_journeys(node: str, runs: dict[str, tuple[str, dict]], served: Served) -> dict[str, dict]:
    """Run every ``{name: (script, params)}`` at once; ``{name: steps}``. A journey that fails or does
    not finish within NODE_TIMEOUT fails the test with its stderr and the server's log."""
    env = clean_env(drop=("NODE_",))
    env["NODE_EXTRA_CA_CERTS"] = str(served.ca_file)
    processes = {
        name: subprocess.Popen([node, script], cwd=HERE, env={**env, "INTEROP_PARAMS": json.dumps(params)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, (script, params) in runs.items()
    }
    results = {}
    deadline = time.monotonic() + NODE_TIMEOUT
    try:
        for name, process in processes.items():
            try:
                stdout, stderr = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"{name}: node did not finish in {NODE_TIMEOUT} s; server log:\n"
                            f"{served.log.read_text()[-3000:]}")
            lines = stdout.strip().splitlines()
            assert process.returncode == 0 and lines, \
                f"{name}: node exited {process.returncode}: {stderr}\nserver log:\n{served.log.read_text()[-3000:]}"
            results[name] = json.loads(lines[-1])["steps"]
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.communicate()
    return results
