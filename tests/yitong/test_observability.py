"""Logs and metrics for operators (issue 16): JSON log lines tied together by the request id,
``/metrics`` summed over gunicorn workers and closed to strangers, all under a real `yitong serve`.

The journey test signs in with a password (code, tokens, userinfo, refresh, logout: the journey of
tests/yitong/test_accesslog.py), then a business system gets a client-credentials token and seals
a PDF over the seal API; every line the server printed must be a JSON object, the request id a
client sent must come back in ``X-Request-Id`` and stand on that request's access line, its app
log lines and its audit event, and none of the ID number, phone, password, secrets, codes or tokens
of the journey may appear anywhere in the output.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from tests.helpers import check_run, run_yitong
from tests.seal.pdfs import make_pdf
from tests.yitong.test_accesslog import _journey, _prepare
from tests.yitong.web_support import Browser, granted_seal, serve
from yitong import observability
from yitong.settings import SettingsError

METRICS_TOKEN = "m" * 40


def _call(base: str, method: str, target: str, *, body: bytes | None = None, headers: dict | None = None,
          source_ip: str = "127.0.0.1"):
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60, source_address=(source_ip, 0))
    connection.request(method, target, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def _samples(text: str, name: str) -> dict[frozenset, float]:
    """{labels: value} of one metric in the Prometheus text format (labels as :func:`_L` makes them)."""
    from prometheus_client.parser import text_string_to_metric_families

    return {frozenset(sample.labels.items()): sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == name}


def _L(**labels) -> frozenset:
    return frozenset(labels.items())


def _lines(log: Path) -> list[dict]:
    printed = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    objects = []
    for line in printed:
        try:
            objects.append(json.loads(line))
        except ValueError:
            pytest.fail(f"a log line is not JSON: {line[:200]}")
    return objects


@pytest.mark.e2e
def test_a_journey_logs_json_lines_joined_by_the_request_id_without_any_secret(yitong_env, tmp_path):
    env = {**yitong_env, "YITONG_LOG_LEVEL": "INFO", "YITONG_METRICS_TOKEN": METRICS_TOKEN}
    client = _prepare(env)
    seal, biz = granted_seal(env)
    log = tmp_path / "server.log"
    with serve(env, log) as base:
        used = _journey(Browser(base), client)
        issuer = json.loads(_call(base, "GET", "/.well-known/openid-configuration")[2])["issuer"]
        basic = base64.b64encode(f"{biz['client_id']}:{biz['client_secret']}".encode()).decode()
        status, headers, body = _call(base, "POST", "/token", body=urlencode(
            {"grant_type": "client_credentials", "resource": f"{issuer}/seal"}).encode(), headers={
            "Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded",
            "X-Request-Id": "journey-token-0001"})
        assert status == 200, body
        assert headers["x-request-id"] == "journey-token-0001"
        access = json.loads(body)["access_token"]
        status, headers, sealed = _call(base, "POST", f"/seal/seals/{seal['esid']}/sign", body=make_pdf(1), headers={
            "Authorization": f"Bearer {access}", "Content-Type": "application/pdf"})
        assert status == 200 and sealed.startswith(b"%PDF"), sealed[:300]
        seal_request = headers["x-request-id"]
        assert len(seal_request) == 32  # none sent: a new one
        status, headers, _ = _call(base, "GET", "/healthz", headers={"X-Request-Id": "bad id with spaces"})
        assert status == 200 and headers["x-request-id"] != "bad id with spaces"
        status, _, metrics = _call(base, "GET", "/metrics")
        assert status == 200
    metrics = metrics.decode()
    objects = _lines(log)

    # The token request: its access line, the app's audit line and the audit event share the id.
    token_lines = [o for o in objects if o.get("request_id") == "journey-token-0001"]
    access_line = next(o for o in token_lines if o["logger"] == "gunicorn.access")
    assert access_line["status"] == 200 and access_line["route"] == "/token" and access_line["method"] == "POST"
    assert access_line["client_id"] == biz["client_id"] and isinstance(access_line["duration_ms"], float)
    assert {"timestamp", "level", "logger", "message"} <= set(access_line)
    assert any(o["logger"] == "yitong.audit" and "token.issued" in o["message"] for o in token_lines)
    audit = [json.loads(line) for line in check_run(run_yitong(
        ["audit", "tail", "--json", "--event", "token.issued"], env), "audit tail").splitlines() if line.strip()]
    assert "journey-token-0001" in [(e.get("detail") or {}).get("request_id") for e in audit]
    # The sealing: the id the server chose is on its access line with the route template and client.
    seal_line = next(o for o in objects if o.get("request_id") == seal_request and o["logger"] == "gunicorn.access")
    assert seal_line["route"] == "/seal/seals/<esid>/sign" and seal_line["client_id"] == biz["client_id"]
    assert seal_line["sub_hash"] and seal_line["sub_hash"] != biz["client_id"]
    with sqlite3.connect(Path(env["YITONG_HOME"]) / "yitong.db") as db:  # the seal's usage log: the same id
        assert db.execute("SELECT request_id FROM seal_usage WHERE esid = ?", (seal["esid"],)).fetchall() == \
            [(seal_request,)]
    # The sign-in's lines carry the person only as a hash.
    sign_in = next(o for o in objects if o["logger"] == "yitong.audit" and "login.success" in o["message"])
    assert sign_in["sub_hash"] and sign_in["request_id"] and sign_in["route"] == "/login"

    # The counters moved during the journey.
    sign_ins = _samples(metrics, "yitong_sign_ins_total")
    assert sign_ins.get(_L(method="pwd", outcome="success", level="urn:yitong:loa:1")) == 1, sign_ins
    grants = _samples(metrics, "yitong_token_grants_total")
    assert grants[_L(grant_type="authorization_code", outcome="issued")] == 1
    assert grants[_L(grant_type="refresh_token", outcome="issued")] == 1
    assert grants[_L(grant_type="client_credentials", outcome="issued")] == 1
    assert _samples(metrics, "yitong_documents_sealed_total") == {_L(format="pdf", level="B-LT", outcome="sealed"): 1}
    assert _samples(metrics, "yitong_http_requests_total")[_L(method="POST", route="/token", status="200")] == 3
    assert _samples(metrics, "yitong_ca_certificate_expiry_timestamp_seconds")[_L(ca="sm2-root")] > 1.7e9
    assert _samples(metrics, "yitong_crl_next_update_timestamp_seconds")[_L(ca="sm2-issuing")] > 1.7e9
    assert any(v > 0 for v in _samples(metrics, "yitong_key_age_seconds").values())
    assert _samples(metrics, "yitong_scrape_errors") == {_L(part="keys"): 0, _L(part="pki"): 0, _L(part="jobs"): 0}

    printed = log.read_text(errors="replace")
    for value in [*used, biz["client_secret"], access, METRICS_TOKEN]:
        assert value not in printed, f"{value[:12]}... is in the server's output"


@pytest.mark.e2e
def test_metrics_of_two_workers_add_up_and_strangers_are_refused(yitong_env, tmp_path, private_redis):
    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"stale")  # a previous run's: removed at start
    env = {**yitong_env, "YITONG_REDIS_URL": private_redis.url, "YITONG_METRICS_TOKEN": METRICS_TOKEN,
           "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    check_run(run_yitong(["db", "upgrade"], env), "db upgrade")
    log = tmp_path / "server.log"
    # `db upgrade` ran in this test's own process, which counted into the folder too: `serve` keeps the
    # files of processes still running, so this process's file stays. Only the workers' files count.
    def worker_files() -> list[Path]:
        return [p for p in metrics_dir.glob("counter_*.db") if p.stem.split("_")[1] != str(os.getpid())]

    with serve(env, log, "--workers", "2") as base:
        assert not (metrics_dir / "counter_999999.db").exists()
        healthz = _L(method="GET", route="/healthz", status="200")
        before = _samples(_call(base, "GET", "/metrics")[2].decode(), "yitong_http_requests_total").get(healthz, 0)
        sent = 0
        # Until both workers have answered some (the kernel picks who accepts), in parallel bursts.
        while len(worker_files()) < 2 and sent < 4000:
            threads = [threading.Thread(target=_call, args=(base, "GET", "/healthz")) for _ in range(20)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            sent += 20
        pids = {p.stem.split("_")[1] for p in worker_files()}
        assert len(pids) >= 2, pids
        status, headers, body = _call(base, "GET", "/metrics")
        assert status == 200 and headers["content-type"].startswith("text/plain")
        text = body.decode()
        assert _samples(text, "yitong_http_requests_total")[healthz] == before + sent
        assert _samples(text, "yitong_http_request_duration_seconds_count")[healthz] == before + sent
        assert _samples(text, "yitong_job_queue_jobs")[_L(state="failed")] == 0
        # A worker that ends (gunicorn starts another) leaves its counts in the sums.
        os.kill(int(sorted(pids)[0]), signal.SIGTERM)
        deadline = time.monotonic() + 60
        while len(worker_files()) < 3 and time.monotonic() < deadline:
            _call(base, "GET", "/healthz")
            sent += 1
        assert len(worker_files()) >= 3  # the replacement counts in a file of its own
        text = _call(base, "GET", "/metrics")[2].decode()
        assert _samples(text, "yitong_http_requests_total")[healthz] == before + sent

        # Not loopback 127.0.0.1 (the default), no token: refused, as problem+json.
        status, headers, body = _call(base, "GET", "/metrics", source_ip="127.0.0.2")
        assert status == 403 and headers["content-type"] == "application/problem+json"
        status, _, _ = _call(base, "GET", "/metrics", source_ip="127.0.0.2",
                             headers={"Authorization": "Bearer " + "x" * 40})
        assert status == 403
        status, _, body = _call(base, "GET", "/metrics", source_ip="127.0.0.2",
                                headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert status == 200 and b"yitong_http_requests_total" in body
        # A local proxy nobody configured (X-Forwarded-For from an unlisted peer) is not "local".
        status, _, _ = _call(base, "GET", "/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert status == 403


def test_the_metrics_gate_believes_forwarded_addresses_only_through_configured_proxies():
    gate = observability.MetricsGate(("127.0.0.1/32", "10.9.0.0/16"), None)
    assert gate.admits({"REMOTE_ADDR": "127.0.0.1"}, None)
    assert gate.admits({"REMOTE_ADDR": "::ffff:10.9.1.2"}, None)
    assert not gate.admits({"REMOTE_ADDR": "10.8.0.1"}, None)
    assert not gate.admits({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "198.51.100.7"}, None)
    # yitong.proxy resolved it: a configured proxy said the client is 10.9.0.4.
    assert gate.admits({"REMOTE_ADDR": "10.9.0.4", "HTTP_X_FORWARDED_FOR": "10.9.0.4",
                        "werkzeug.proxy_fix.orig": {"REMOTE_ADDR": "10.0.0.5"}}, None)
    assert not gate.admits({"REMOTE_ADDR": "10.8.0.1"}, "Bearer anything")  # no token configured
    with_token = observability.MetricsGate((), "t" * 32)
    assert with_token.admits({"REMOTE_ADDR": "203.0.113.1"}, "Bearer " + "t" * 32)
    assert not with_token.admits({"REMOTE_ADDR": "127.0.0.1"}, "Bearer " + "t" * 31)


def test_the_log_format_setting(tmp_path):
    class Terminal:
        def isatty(self):
            return True

    assert observability.log_format({}, Terminal()) == "text"
    assert observability.log_format({}, open(os.devnull, "w")) == "json"
    assert observability.log_format({"YITONG_LOG_FORMAT": "TEXT"}, None) == "text"
    with pytest.raises(SettingsError, match="YITONG_LOG_FORMAT must be json or text"):
        observability.log_format({"YITONG_LOG_FORMAT": "xml"}, None)
    result = run_yitong(["home", "show"], {**os.environ, "YITONG_HOME": str(tmp_path / "h"),
                                             "YITONG_LOG_FORMAT": "xml"})
    assert result.returncode == 2 and result.stderr.decode().startswith("yitong: error: YITONG_LOG_FORMAT")


def test_a_json_line_holds_the_extras_and_the_exception():
    record = logging.LogRecord("yitong.x", logging.ERROR, __file__, 1, "failed %s", ("here",), None)
    record.request_id, record.status = "r1", 503
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    line = json.loads(observability.JsonFormatter().format(record))
    assert line["message"] == "failed here" and line["level"] == "ERROR" and line["logger"] == "yitong.x"
    assert line["request_id"] == "r1" and line["status"] == 503 and "ValueError: boom" in line["exception"]
    assert line["timestamp"].endswith("Z")


def test_readiness_degrades_on_a_broken_base_library_and_names_what_is_wrong(tmp_path, private_redis):
    from yitong.app import create_app
    from yitong.home import Home
    from yitong.settings import Settings

    home_env = {"YITONG_HOME": str(tmp_path / "home")}
    Home(Settings.from_env(home_env)).initialise()
    dead = {**home_env, "YITONG_BASELIB_URL": "http://127.0.0.1:1/baselib", "YITONG_BASELIB_MOUNT": "false",
            "YITONG_REDIS_URL": private_redis.url}
    client = create_app(Settings.from_env(dead)).test_client()
    response = client.get("/readyz")
    body = response.get_json()
    assert response.status_code == 200 and body["status"] == "degraded", body
    assert body["checks"] == {"database": "ok", "cache": "ok", "jobs": "ok", "connectors": "degraded"}
    assert body["connectors"]["population"] == {"reachable": False, "breaker": "closed"}
    assert body["jobs"] == {"queued": 0, "started": 0, "failed": 0}
    assert response.headers["X-Request-Id"]
    # Without a base library (none configured, none mounted) there is nothing to degrade.
    none = {**home_env, "YITONG_BASELIB_MOUNT": "false"}
    body = create_app(Settings.from_env(none)).test_client().get("/readyz").get_json()
    assert body["status"] == "ready" and "connectors" not in body and body["checks"]["jobs"] == "ok"
    # Redis gone: not ready, and every part says what it is.
    private_redis.stop()
    response = client.get("/readyz")
    assert response.status_code == 503 and response.get_json()["status"] == "not ready"
    assert response.get_json()["checks"]["cache"] == "unreachable"


@pytest.mark.e2e
def test_text_log_lines_carry_the_request_id_too(yitong_env, tmp_path):
    env = {**yitong_env, "YITONG_LOG_FORMAT": "text", "YITONG_LOG_LEVEL": "INFO"}
    check_run(run_yitong(["db", "upgrade"], env), "db upgrade")
    log = tmp_path / "server.log"
    with serve(env, log) as base:
        browser = Browser(base)
        status, _, _ = browser.login(browser.login_form("/"), "nobody", "wrong-password",
                                     headers={"X-Request-Id": "text-mode-login-1"})
        assert status == 401
    lines = log.read_text(errors="replace").splitlines()
    access = [line for line in lines if '"POST /login HTTP/1.1" 401' in line]
    assert len(access) == 1 and access[0].endswith(" text-mode-login-1"), access
    audit = [line for line in lines if "yitong.audit" in line and "login.failure" in line]
    assert len(audit) == 1 and "[text-mode-login-1]" in audit[0], audit
    assert not any(line.lstrip().startswith("{") for line in lines)
