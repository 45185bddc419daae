"""Scale-out, exercised (issue 16, item 3): the topology of deploy/compose.yaml on one machine.

Two app hosts (`deploy/entrypoint.sh serve --workers 2`, as in the compose file) on different
ports over one PostgreSQL database and one Redis, a `deploy/entrypoint.sh worker`, the one-shot
`migrate`, and Debian's nginx in front with deploy/nginx.conf.template: TLS terminated there with a
certificate from the home's own CA, round-robin, `YITONG_TRUSTED_PROXIES` naming it. Which host
answered a request is read from the hosts' own JSON access logs: nginx's request id reaches the
app in ``X-Request-Id`` and comes back in the response.

- the SSO session a real Chromium makes through the proxy holds whichever host answers;
- a refresh token reused on one host revokes the grant on the other;
- a key rotation by the CLI is in both hosts' JWKS at once;
- a batch sealing job submitted through the proxy is done by the worker;
- stopping one host mid-traffic loses no request the proxy can retry, and no session.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from string import Template
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL, require_services
from tests.helpers import CI, check_run, free_port, issue_tls_server_certificate, run_yitong, wait_until_healthy
from tests.seal.pdfs import make_pdf
from tests.yitong.test_accesslog import PHONE, RP, _prepare
from tests.yitong.test_observability import _L
from tests.yitong.web_support import PASSWORD, Browser, granted_seal

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
        """Which app hosts logged an access line for this request id. gunicorn writes the access line
        after the response has gone, so the line may trail the answer by a moment: wait for it (5 s)."""
        deadline = time.monotonic() + 5
        while True:
            hosts = [host for host in ("app1", "app2") if f'"request_id": "{request_id}"' in self.log(host)]
            if hosts or time.monotonic() > deadline:
                return hosts
            time.sleep(0.05)


@pytest.fixture
def database():
    require_services("postgres")
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
    seal, biz = granted_seal(env)
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
    chromium = None
    try:
        # Everything starts at once (the proxy answers 502 until a host is up); then each is waited for.
        hosts = {name: topology.start(name, ["sh", str(ENTRYPOINT), "serve", "--workers", "2"],
                                      {**env, "HOST": "127.0.0.1", "PORT": str(port)})
                 for name, port in (("app1", port1), ("app2", port2))}
        # The compose file's worker command, its metrics port made free.
        metrics_port = free_port()
        command = [str(metrics_port) if part == "9100" else part for part in _compose()["worker"]["command"]]
        assert str(metrics_port) in command, command
        topology.start("worker", ["sh", str(ENTRYPOINT), *command], env)
        proxy = topology.start("nginx", [nginx, "-p", str(nginx_dir), "-c", str(conf), "-g", "daemon off;"], env)
        for (name, process), port in zip(hosts.items(), (port1, port2), strict=True):
            wait_until_healthy(process, f"http://127.0.0.1:{port}", lambda n=name: topology.log(n), seconds=90)
        wait_until_healthy(proxy, issuer, lambda: (nginx_dir / "error.log").read_text(), context=context)

        # A key rotation by the CLI now; both hosts' JWKS are checked further down. The CLI bumps the keys'
        # change stamp in Redis, so every worker reads its keystore again at once; were that lost, each
        # worker's key cache (a minute, idp/oauth/tokens.py SigningKeys) passes while the test goes on.
        host1, host2 = Browser(f"http://127.0.0.1:{port1}"), Browser(f"http://127.0.0.1:{port2}")
        before = {k["kid"] for k in json.loads(host1.request("GET", "/jwks.json")[2])["keys"]}
        check_run(run_yitong(["keys", "rotate", "--purpose", "token", "--activate-after", "1h"], env), "keys rotate")
        rotated = time.monotonic()

        # A real Chromium signs in through the proxy (sign-in form, consent, code); its SSO session
        # holds on both hosts. The relying party's side (code for tokens, a refresh) is plain HTTP.
        browser = Browser(issuer, context=context)
        chromium = Chromium(issuer, tmp_path)
        used = _sign_in_with_chromium(chromium, client, browser, topology)

        # A refresh token used once (by the journey), reused on host 2: the grant dies on host 1 too.
        basic = "Basic " + base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
        old_refresh, fresh_refresh = used[-3], used[-1]
        status, body = _form_post(host2, "/token", {"grant_type": "refresh_token", "refresh_token": old_refresh},
                                  basic)
        assert (status, body["error"]) == (400, "invalid_grant")
        status, body = _form_post(host1, "/token", {"grant_type": "refresh_token", "refresh_token": fresh_refresh},
                                  basic)
        assert (status, body["error"]) == (400, "invalid_grant"), body

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
        status, _, page = _raw(browser, "POST", f"/seal/seals/{seal['esid']}/jobs", parts,
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
        # The worker's own /metrics (compose: Prometheus scrapes worker:9100) counts the job and what it sealed
        # (once its work horse has ended: the batch is done in the database a moment before).
        job = _L(job="yitong.cli.seal.run_job", outcome="finished")
        deadline = time.monotonic() + 30
        while (figures := _worker_metrics(metrics_port)).get(("yitong_jobs_total", job)) != 1:
            assert time.monotonic() < deadline, figures
            time.sleep(0.2)
        assert figures[("yitong_documents_sealed_total", _L(format="pdf", level="B-LT", outcome="sealed"))] == 3, \
            figures
        assert '"yitong.seal.jobs"' in topology.log("worker") or "Job OK" in topology.log("worker")

        # The key rotation of the start: both hosts publish the new key long before it signs (--activate-after).
        deadline = rotated + 90
        for host in (host1, host2):
            in_a_row = 0
            while in_a_row < 6:  # every worker of the host answers with it (the kernel picks the worker)
                after = {k["kid"] for k in json.loads(host.request("GET", "/jwks.json")[2])["keys"]}
                in_a_row = in_a_row + 1 if before < after else 0
                assert in_a_row or time.monotonic() < deadline, (before, after)
                if not in_a_row:
                    time.sleep(1)

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
        response = chromium.open("/account")  # the browser's session lives in Redis, not in a host
        assert response.status == 200 and urlsplit(chromium.page.url).path == "/account", chromium.page.url
        assert topology.served_by(response.headers["x-request-id"]) == ["app2"]
    finally:
        if chromium is not None:
            chromium.close()
        topology.stop_all()
    for host in ("app1", "app2"):
        assert "Traceback" not in topology.log(host)


def _compose() -> dict:
    import yaml

    return yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())["services"]


def _worker_metrics(port: int) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as answer:
        text_format = answer.read().decode()
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text_format) for sample in family.samples}


class Chromium:
    """Debian's Chromium (tests/e2e/test_browser.py), driven by Playwright, one page: the person's
    browser, kept for the whole test so that the session it holds can be tried again at the end."""

    def __init__(self, issuer: str, tmp: Path) -> None:
        from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, _unavailable

        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            _unavailable("playwright is not installed (the test extra)")
        if not Path(CHROMIUM).is_file():
            _unavailable(f"{CHROMIUM} is not installed (Debian package chromium)")
        self.issuer, self.tmp, self.arrived = issuer, tmp, []
        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Exception:
            self._playwright.stop()
            raise
        # The proxy's certificate is from the test home's own CA, which this throw-away profile does
        # not know: certificate errors are ignored for this context only.
        self.page = self._browser.new_context(ignore_https_errors=True, locale="zh-CN").new_page()
        # The relying party's redirect URI is answered inside the browser: the code is all it needs.
        self.page.route(RP.rsplit("/", 1)[0] + "/**", lambda route: (self.arrived.append(route.request.url),
                                                                      route.fulfill(status=200, body="ok")))

    def open(self, path: str):
        response = self.page.goto(self.issuer + path)
        assert response is not None
        return response

    def close(self) -> None:
        self._browser.close()
        self._playwright.stop()


def _sign_in_with_chromium(chromium: Chromium, client: dict, browser: Browser, topology: Topology) -> list[str]:
    """Chromium signs in at /authorize through nginx (sign-in form, consent), and the code reaches
    the relying party's redirect URI. Then it opens /account eight times: every answer is the
    signed-in page, and both hosts gave some (read by the request id nginx sent them, in their
    own access logs). The relying party's side (code for tokens, a refresh) is plain HTTP; returns
    the refresh tokens [first, ..., refreshed] as the journey of test_accesslog does."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    page = chromium.page
    chromium.open("/authorize?" + urlencode({
        "response_type": "code", "client_id": client["client_id"], "redirect_uri": RP, "state": "s1",
        "nonce": "n1", "scope": "openid profile phone verified_claims offline_access",
        "code_challenge": challenge, "code_challenge_method": "S256"}))
    assert urlsplit(page.url).path == "/login", page.url
    page.get_by_label("用户名或手机号").fill(PHONE)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda url: url.startswith(RP) or urlsplit(url).path == "/authorize")
    if not page.url.startswith(RP):  # consent, the first time
        page.get_by_role("button", name="同意").click()
        page.wait_for_url(lambda url: url.startswith(RP))
    seen: set[str] = set()
    for _ in range(8):
        response = chromium.open("/account")
        assert response.status == 200 and urlsplit(page.url).path == "/account", (response.status, page.url)
        seen.update(topology.served_by(response.headers["x-request-id"]))
    page.screenshot(path=chromium.tmp / "account-through-nginx.png", full_page=True)
    assert seen == {"app1", "app2"}, seen
    code = parse_qs(urlsplit(chromium.arrived[-1]).query)["code"][0]
    basic = "Basic " + base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    status, tokens = _form_post(browser, "/token", {"grant_type": "authorization_code", "code": code,
                                                    "redirect_uri": RP, "code_verifier": verifier}, basic)
    assert status == 200, tokens
    status, refreshed = _form_post(browser, "/token", {"grant_type": "refresh_token",
                                                       "refresh_token": tokens["refresh_token"]}, basic)
    assert status == 200, refreshed
    return [tokens["refresh_token"], refreshed["access_token"], refreshed["refresh_token"]]


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
