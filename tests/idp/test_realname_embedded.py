"""The embedded default end to end: one `yitong serve`, no base-library settings; the IdP reaches the
reference base library mounted on its own origin (/baselib/) over HTTP, signed with the home's key."""

from __future__ import annotations

import http.cookiejar
import os
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.baselib.server import CSV, ZHANG
from tests.helpers import check_run, free_port, run_yitong, wait_until_healthy
from tests.idp.support import PASSWORD


@contextmanager
def serving(env: dict, port: int):
    """`yitong serve` on ``port`` (the issuer names it, so the IdP can reach its own /baselib/)."""
    process = subprocess.Popen([str(Path(sys.executable).parent / "yitong"), "serve", "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, base, lambda: process.stdout.read().decode() if process.poll() is not None
                           else "(still running)")
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@pytest.mark.e2e
def test_embedded_default_real_name_through_the_mounted_stand_in(yitong_env, tmp_path):
    port = free_port()
    env = {**yitong_env, "YITONG_ISSUER": f"http://127.0.0.1:{port}"}
    check_run(run_yitong(["db", "upgrade"], env), "yitong db upgrade")
    (tmp_path / "records.csv").write_text(CSV, encoding="utf-8")
    check_run(run_yitong(["baselib", "import", str(tmp_path / "records.csv")], env), "yitong baselib import")
    check_run(run_yitong(["user", "create", "--username", "zhangsan", "--password-stdin"], env,
                         input=PASSWORD.encode() + b"\n"), "yitong user create")
    with serving(env, port) as base:
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

        def form(path: str, fields: dict) -> str:
            page = browser.open(base + path, timeout=10).read().decode()
            csrf = page.split('name="csrf" value="')[1].split('"')[0]
            data = urllib.parse.urlencode({"csrf": csrf, **fields}).encode()
            return browser.open(base + path, data=data, timeout=30).read().decode()

        assert "stand-in" in browser.open(base + "/baselib/", timeout=10).read().decode()
        form("/login", {"return_to": "/", "login": "zhangsan", "password": PASSWORD})
        page = form("/account/realname", {"name": ZHANG[0], "id_number": ZHANG[1]})
        assert 'id="realname-success"' in page and "110105********002X" in page
        assert 'id="realname-level" data-acr="urn:yitong:loa:2">实名认证<' in page
