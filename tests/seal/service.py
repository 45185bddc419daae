"""A running Yitong service whose issuer (and so the CRL/OCSP URLs in its certificates) is its own port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from tests.helpers import clean_env, free_port, run_yitong, wait_until_healthy


def service_env(home: Path, port: int, **extra: str) -> dict[str, str]:
    env = clean_env()
    env.update(YITONG_HOME=str(home), YITONG_ISSUER=f"http://127.0.0.1:{port}", **extra)
    return env


@contextmanager
def yitong_service(home: Path, before_serve=None, port: int | None = None, **extra: str):
    """(base URL, env[, state]) of a fresh, upgraded home served on its own port (or ``port``:
    a restart of the same home).

    ``before_serve(env)`` runs after `db upgrade` (CLI set-up; it may add to env) and its
    result comes third.
    """
    port = port or free_port()
    env = service_env(home, port, **extra)
    upgraded = run_yitong(["db", "upgrade"], env)
    assert upgraded.returncode == 0, upgraded.stderr
    state = before_serve(env) if before_serve else None
    exe = Path(sys.executable).parent / "yitong"
    process = subprocess.Popen([str(exe), "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def output() -> str:
            return process.stdout.read().decode() if process.poll() is not None else "(still running)"

        wait_until_healthy(process, base, output)
        yield (base, env) if before_serve is None else (base, env, state)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
