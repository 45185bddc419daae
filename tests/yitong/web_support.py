"""A real `yitong serve` with its output in a file, and a small browser over real sockets that
keeps cookies and can speak from a chosen loopback address (127.0.0.0/8 is all local on Linux)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from tests.helpers import check_run, free_port, run_yitong, wait_until_healthy
from tests.seal.support import ORG_NAME, ORG_USCC

PASSWORD = "Tianjin-2026-correct"


@contextmanager
def serve(env: dict[str, str], log: Path, *args: str):
    """`yitong serve` on a free port; yields its base URL. Access and error logs go to ``log``."""
    port = free_port()
    exe = Path(sys.executable).parent / "yitong"
    with log.open("wb") as out:
        process = subprocess.Popen([str(exe), "serve", "--port", str(port), *args], env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, base, lambda: log.read_text(errors="replace"))
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@contextmanager
def forwarding_proxy(upstream: str, source_ip: str):
    """tests/yitong/forwarding_proxy.py in front of ``upstream``, connecting to it from ``source_ip``."""
    port = free_port()
    script = Path(__file__).with_name("forwarding_proxy.py")
    process = subprocess.Popen([sys.executable, str(script), str(port), str(urlsplit(upstream).port), source_ip],
                               stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert process.stdout.readline().strip() == b"ready"
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def create_user(env: dict[str, str], username: str, phone: str | None = None) -> dict:
    args = ["user", "create", "--username", username, "--password-stdin", "--json"]
    if phone:
        args += ["--phone", phone]
    return json.loads(check_run(run_yitong(args, env, input=f"{PASSWORD}\n".encode()), "yitong user create"))


class Browser:
    """Cookies, no redirects followed, every request from ``source_ip``."""

    def __init__(self, base: str, source_ip: str = "127.0.0.1", context=None) -> None:
        self.base = urlsplit(base)
        self.source_ip = source_ip
        self.context = context  # an ssl.SSLContext for an https base
        self.cookies: dict[str, str] = {}

    def request(self, method: str, target: str, *, form: dict | None = None, headers: dict | None = None):
        """(status, headers as a dict of lower-case names, body text)."""
        if self.base.scheme == "https":
            connection = http.client.HTTPSConnection(self.base.hostname, self.base.port, timeout=60,
                                                     source_address=(self.source_ip, 0), context=self.context)
        else:
            connection = http.client.HTTPConnection(self.base.hostname, self.base.port, timeout=60,
                                                    source_address=(self.source_ip, 0))
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, target, body=body, headers=sent)
        response = connection.getresponse()
        text = response.read().decode("utf-8", errors="replace")
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                cookie, _, _ = value.partition(";")
                key, _, val = cookie.partition("=")
                self.cookies[key.strip()] = val.strip()
        answer = {name.lower(): value for name, value in response.getheaders()}
        connection.close()
        return response.status, answer, text

    def login_form(self, return_to: str = "/") -> str:
        """Open the sign-in page; returns its CSRF token."""
        status, _, page = self.request("GET", "/login?" + urlencode({"return_to": return_to}))
        assert status == 200, page
        return page.split('name="csrf" value="')[1].split('"')[0]

    def login(self, csrf: str, login: str, password: str, return_to: str = "/", headers: dict | None = None):
        form = {"csrf": csrf, "return_to": return_to, "login": login, "password": password}
        return self.request("POST", "/login", form=form, headers=headers)


def granted_seal(env: dict[str, str]) -> tuple[dict, dict]:
    """An organisation's seal made by the CLI and a client-credentials client granted to seal with it
    (``seal:read seal:sign``): what a business system needs to seal through the API."""
    seal = json.loads(check_run(run_yitong(
        ["seal", "create", "--holder-kind", "org", "--holder-id", ORG_USCC, "--holder-name", ORG_NAME,
         "--type", "06", "--json"], env), "seal create"))
    biz = json.loads(check_run(run_yitong(["client", "create", "--name", "biz", "--grant", "client_credentials",
                                           "--scope", "seal:read seal:sign", "--json"], env), "client create"))
    check_run(run_yitong(["seal", "grant", seal["esid"], "--client", biz["client_id"]], env), "seal grant")
    return seal, biz
