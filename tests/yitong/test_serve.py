"""`yitong serve` end to end: a real gunicorn on a free port, spoken to over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import free_port, run_yitong, wait_until_healthy
from yitong.app import create_app
from yitong.settings import Settings


def get(url: str, accept: str = "application/json"):
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("Content-Type"), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type"), exc.read()


@contextmanager
def running_server(env: dict[str, str], *args: str):
    port = free_port()
    exe = Path(sys.executable).parent / "yitong"
    process = subprocess.Popen([str(exe), "serve", "--port", str(port), *args], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def output() -> str:  # reading a live process's pipe would block: only after it exited
            return process.stdout.read().decode() if process.poll() is not None else "(still running)"

        wait_until_healthy(process, base, output)
        yield base, process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@pytest.mark.e2e
def test_fresh_home_upgrade_then_serve_answers_health_readiness_and_landing(yitong_env):
    assert run_yitong(["db", "upgrade"], yitong_env).returncode == 0
    with running_server(yitong_env) as (base, _process):
        status, ctype, body = get(base + "/healthz")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        status, _, body = get(base + "/readyz")
        assert status == 200
        ready = json.loads(body)
        # The stand-in base library is configured at the home's URL (port 8000, not this server's):
        # whether something answers there decides only between ready and degraded.
        assert ready["status"] in ("ready", "degraded")
        assert {k: ready["checks"][k] for k in ("database", "cache", "jobs")} == \
            {"database": "ok", "cache": "ok", "jobs": "ok"}
        assert ready["jobs"] == {"queued": 0, "started": 0, "failed": 0}
        assert set(ready["connectors"]) == {"population", "legal_person", "business_licence", "bank_4_factor",
                                            "carrier_3_factor"}
        status, ctype, body = get(base + "/", accept="text/html")
        assert status == 200 and ctype.startswith("text/html")
        assert b'href="/login"' in body and b'href="/verify/"' in body  # the citizens' landing page
        status, ctype, body = get(base + "/technical", accept="text/html")  # from loopback: the operators' index
        assert status == 200 and ctype.startswith("text/html")
        assert b"/healthz" in body and b"SQLite" not in body  # no database, paths or versions for anyone
        for mounted in (b'href="/verify/"', b'href="/seal/openapi.json"', b'href="/baselib/"', b'href="/login"'):
            assert mounted in body, mounted  # every face of the embedded default is linked from the landing page
        status, ctype, body = get(base + "/no/such/page")
        assert status == 404 and ctype == "application/problem+json"
        assert json.loads(body)["status"] == 404


def test_several_workers_need_redis_and_run_with_it(storage, yitong_env):
    env = {**yitong_env, **storage.env()}
    assert run_yitong(["db", "upgrade"], env).returncode == 0
    if storage.kind == "sqlite":
        result = run_yitong(["serve", "--workers", "2"], env)
        assert result.returncode == 2 and b"YITONG_REDIS_URL" in result.stderr
        return
    with running_server(env, "--workers", "2") as (base, process):
        status, _, body = get(base + "/readyz")
        assert status == 200 and json.loads(body)["checks"] == {"database": "ok", "cache": "ok", "jobs": "ok"}
    assert b"2 worker(s)" in process.stdout.read()


def test_readyz_says_503_when_the_cache_is_unreachable(tmp_path):
    from yitong.home import Home

    Home(Settings.from_env({"YITONG_HOME": str(tmp_path)})).initialise()
    settings = Settings.from_env({"YITONG_HOME": str(tmp_path), "YITONG_REDIS_URL": "redis://127.0.0.1:1/0"})
    client = create_app(settings).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["cache"] == "unreachable"
    assert response.get_json()["checks"]["jobs"] == "unreachable" and response.get_json()["status"] == "not ready"
    assert client.get("/healthz").status_code == 200
