"""Scale-out, exercised (issue 16, item 3): the topology of deploy/compose.yaml on one machine.

Two app hosts (`deploy/entrypoint.sh serve --workers 2`, as in the compose file) on different
ports over one PostgreSQL database and one Redis, a `deploy/entrypoint.sh worker`, the one-shot
`migrate`, and Debian's nginx in front with deploy/nginx.conf.template: TLS terminated there with a
certificate from the home's own CA, round-robin, `YITONG_TRUSTED_PROXIES` naming it. Which host
answered a request is read from the hosts' own JSON access logs: nginx's request id reaches the
app in ``X-Request-Id`` and comes back in the response.

- the SSO session made through the proxy holds whichever host answers;
- a refresh token reused on one host revokes the grant on the other;
- a key rotation by the CLI is in both hosts' JWKS at once;
- a batch sealing job submitted through the proxy is done by the worker;
- stopping one host mid-traffic loses no request the proxy can retry, and no session.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from string import Template

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL, _reachable
from tests.helpers import CI, check_run, free_port, issue_tls_server_certificate, run_yitong, wait_until_healthy
from tests.seal.pdfs import make_pdf
from tests.seal.support import ORG_NAME, ORG_USCC
from tests.yitong.test_accesslog import _journey, _prepare
from tests.yitong.web_support import Browser

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
ENTRYPOINT = REPO / "deploy" / "entrypoint.sh"


def _nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        if CI:
            pytest.fail("CI=true requires nginx (Debian package nginx)")
        pytest.skip("nginx is not installed")
    return found


class Topology:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        with (self.tmp / f"{name}.log").open("wb") as out:
            process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def stop(self, name: str) -> None:
        process = self.processes.pop(name)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # an RQ worker in its blocking dequeue may take longer
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)

    def served_by(self, request_id: str) -> list[str]:
        """Which app hosts logged an access line for this request id."""
        return [host for host in ("app1", "app2")
                if f'"request_id": "{request_id}"' in self.log(host)]


@pytest.fixture
def database():
    problem = _reachable("postgres")
    if problem:
        if CI:
            pytest.fail(f"CI=true requires PostgreSQL: {problem}")
        pytest.skip(problem)
    name = f"yitong_scale_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_URL).set(database=name)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _form_post(browser: Browser, path: str, form: dict, auth: str) -> tuple[int, dict]:
    status, _, body = browser.request("POST", path, form=form, headers={"Authorization": auth})
    return status, json.loads(body)


@pytest.mark.timeout(600)  # seven processes on two shared cores; about 3 minutes alone
def test_two_hosts_behind_nginx_share_sessions_grants_keys_and_jobs(yitong_env, tmp_path, database, private_redis):
    nginx = _nginx()
    proxy_port, port1, port2 = free_port(), free_port(), free_port()
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "yitong_master_key").write_text(uuid.uuid4().hex + "\n")
    issuer = f"https://127.0.0.1:{proxy_port}"
    env = {k: v for k, v in yitong_env.items() if not k.startswith("PROMETHEUS_")}
    env.update({"PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}",
                "YITONG_ISSUER": issuer, "YITONG_SECRETS_DIR": str(secrets),
                "YITONG_DATABASE_URL": database.render_as_string(hide_password=False),
                "YITONG_REDIS_URL": private_redis.url, "YITONG_TRUSTED_PROXIES": "127.0.0.1",
                "YITONG_MIGRATE_ON_START": "false", "YITONG_BASELIB_MOUNT": "true", "YITONG_LOG_LEVEL": "INFO",
                "YITONG_MASTER_KEY_FILE": str(secrets / "yitong_master_key")})
    # The compose file's one-shot `migrate`, then what the test needs set up.
    check_run(subprocess.run(["sh", str(ENTRYPOINT), "migrate"], env=env, capture_output=True, timeout=300),
              "entrypoint migrate")
    client = _prepare(env)
    seal = json.loads(check_run(run_yitong(
        ["seal", "create", "--holder-kind", "org", "--holder-id", ORG_USCC, "--holder-name", ORG_NAME,
         "--type", "06", "--json"], env), "seal create"))
    biz = json.loads(check_run(run_yitong(["client", "create", "--name", "biz", "--grant", "client_credentials",
                                           "--scope", "seal:read seal:sign", "--json"], env), "client create"))
    check_run(run_yitong(["seal", "grant", seal["esid"], "--client", biz["client_id"]], env), "seal grant")
    tls = tmp_path / "tls"
    tls.mkdir()
    chain, key, root = issue_tls_server_certificate(env, tls)
    context = ssl.create_default_context(cafile=str(root))

    nginx_dir = tmp_path / "nginx"
    (nginx_dir / "temp").mkdir(parents=True)
    conf = nginx_dir / "nginx.conf"
    conf.write_text(Template((REPO / "deploy" / "nginx.conf.template").read_text()).safe_substitute(
        NGINX_USER="root", NGINX_PID=str(nginx_dir / "nginx.pid"), NGINX_ERROR_LOG=str(nginx_dir / "error.log"),
        NGINX_ACCESS_LOG=str(nginx_dir / "access.log"), NGINX_TEMP=str(nginx_dir / "temp"),
        YITONG_APP1=f"127.0.0.1:{port1}", YITONG_APP2=f"127.0.0.1:{port2}", NGINX_LISTEN=f"127.0.0.1:{proxy_port}",
        NGINX_TLS_CERT=str(chain), NGINX_TLS_KEY=str(key)))
    assert "${" not in conf.read_text()

    topology = Topology(tmp_path)
    try:
        for name, port in (("app1", port1), ("app2", port2)):
            process = topology.start(name, ["sh", str(ENTRYPOINT), "serve", "--workers", "2"],
                                     {**env, "HOST": "127.0.0.1", "PORT": str(port)})
            wait_until_healthy(process, f"http://127.0.0.1:{port}", lambda n=name: topology.log(n), seconds=60)
        topology.start("worker", ["sh", str(ENTRYPOINT), "worker"], env)
        proxy = topology.start("nginx", [nginx, "-p", str(nginx_dir), "-c", str(conf), "-g", "daemon off;"], env)
        wait_until_healthy(proxy, issuer, lambda: (nginx_dir / "error.log").read_text(), context=context)

        # Sign in through the proxy (code, tokens, refresh); the SSO session holds on both hosts.
        browser = Browser(issuer, context=context)
        used = _journey(browser, client, logout=False)
        seen = set()
        for _ in range(8):
            status, headers, page = browser.request("GET", "/account")
            assert status == 200, (status, headers.get("location"), page[:300])
            seen.update(topology.served_by(headers["x-request-id"]))
        assert seen == {"app1", "app2"}, seen

        # A refresh token used once (by the journey), reused on host 2: the grant dies on host 1 too.
        basic = "Basic " + base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
        host1, host2 = Browser(f"http://127.0.0.1:{port1}"), Browser(f"http://127.0.0.1:{port2}")
        old_refresh, fresh_refresh = used[-3], used[-1]
        status, body = _form_post(host2, "/token", {"grant_type": "refresh_token", "refresh_token": old_refresh},
                                  basic)
        assert (status, body["error"]) == (400, "invalid_grant")
        status, body = _form_post(host1, "/token", {"grant_type": "refresh_token", "refresh_token": fresh_refresh},
                                  basic)
        assert (status, body["error"]) == (400, "invalid_grant"), body

        # A key rotation by the CLI: both hosts publish the new key, each worker within its key cache's
        # minute (idp/oauth/tokens.py SigningKeys), long before the key signs (--activate-after).
        before = {k["kid"] for k in json.loads(host1.request("GET", "/jwks.json")[2])["keys"]}
        check_run(run_yitong(["keys", "rotate", "--purpose", "token", "--activate-after", "1h"], env), "keys rotate")
        deadline = time.monotonic() + 90
        for host in (host1, host2):
            in_a_row = 0
            while in_a_row < 6:  # every worker of the host answers with it (the kernel picks the worker)
                after = {k["kid"] for k in json.loads(host.request("GET", "/jwks.json")[2])["keys"]}
                in_a_row = in_a_row + 1 if before < after else 0
                assert in_a_row or time.monotonic() < deadline, (before, after)
                if not in_a_row:
                    time.sleep(1)

        # A batch sealing job through the proxy, done by the worker.
        status, body = _form_post(browser, "/token", {"grant_type": "client_credentials",
                                                      "resource": f"{issuer}/seal"},
                                  "Basic " + base64.b64encode(
                                      f"{biz['client_id']}:{biz['client_secret']}".encode()).decode())
        assert status == 200, body
        bearer = {"Authorization": f"Bearer {body['access_token']}"}
        boundary = uuid.uuid4().hex
        parts = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="d{i}.pdf"\r\n'
            f"Content-Type: application/pdf\r\n\r\n".encode() + make_pdf(1, tag=f"batch{i}") + b"\r\n"
            for i in range(3)) + f"--{boundary}--\r\n".encode()
        status, headers, page = _raw(browser, "POST", f"/seal/seals/{seal['esid']}/jobs", parts,
                                     {**bearer, "Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert status == 202, page
        status_url = json.loads(page)["status_url"]
        deadline = time.monotonic() + 120
        while True:
            state = json.loads(browser.request("GET", status_url, headers=bearer)[2])
            if state["status"] in ("done", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert (state["status"], state["done"], state["failed"]) == ("done", 3, 0), state
        assert '"yitong.seal.jobs"' in topology.log("worker") or "Job OK" in topology.log("worker")

        # Stop host 1 in the middle of traffic: every request still answered (nginx retries).
        answers: list[int] = []

        def traffic():
            client_browser = Browser(issuer, context=context)
            for _ in range(60):
                answers.append(client_browser.request("GET", "/healthz")[0])

        runner = threading.Thread(target=traffic)
        runner.start()
        while len(answers) < 15:
            time.sleep(0.01)
        topology.stop("app1")
        runner.join(timeout=120)
        assert answers == [200] * 60, answers
        status, headers, _ = browser.request("GET", "/account")  # the session lives in Redis, not in a host
        assert status == 200 and topology.served_by(headers["x-request-id"]) == ["app2"]
    finally:
        topology.stop_all()
    for host in ("app1", "app2"):
        assert "Traceback" not in topology.log(host)


def _raw(browser: Browser, method: str, target: str, body: bytes, headers: dict):
    import http.client

    connection = http.client.HTTPSConnection(browser.base.hostname, browser.base.port, timeout=60,
                                             context=browser.context)
    connection.request(method, target, body=body, headers=headers)
    response = connection.getresponse()
    data = response.read().decode(errors="replace")
    answer = {k.lower(): v for k, v in response.getheaders()}
    connection.close()
    return response.status, answer, data
