"""Issue 19's hard rule: `kill -9` of a worker in the middle of a load of token requests.

A real `yitong serve` (2 gunicorn workers on PostgreSQL + Redis; its one worker on SQLite) takes
client-credentials grants and refresh-token rotations from several threads over real HTTP; each
worker in turn is killed with SIGKILL mid-load and gunicorn starts another. Afterwards:

- every access token a client received has its row and its ``token.issued`` audit record (the
  record names the token's ``jti``): they are committed together before the response leaves;
- no refresh token is lost: a request cut by the kill either left the presented token unused
  (presenting it again works) or committed its use together with its successor (the answer was
  lost on the way, not the token) — never used up with nothing in its place;
- no refresh token is usable twice: each chain's last token works exactly once, and a superseded
  one is refused.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from idp.accounts.store import Accounts
from idp.models import access_tokens_table, audit_table, refresh_tokens_table
from idp.oauth.tokens import Tokens, token_hash
from tests.helpers import free_port, run_yitong, wait_until_healthy

pytestmark = pytest.mark.e2e

CC_THREADS, CHAINS = 6, 4
LOAD_SECONDS = 4.0


def _workers(master: int) -> list[int]:
    """The gunicorn workers (children of the master process)."""
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def _wait_for_workers(master: int, count: int, seconds: float = 20) -> list[int]:
    deadline = time.monotonic() + seconds
    while len(pids := _workers(master)) != count:
        assert time.monotonic() < deadline, f"gunicorn runs {len(pids)} workers, not {count}"
        time.sleep(0.05)
    return pids


def _jti(access_token: str) -> str:
    payload = access_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"]


class Http:
    """A keep-alive HTTP/1.1 connection (stdlib) that reopens after the server went away."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection: http.client.HTTPConnection | None = None

    def __enter__(self) -> Http:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def token(self, form: dict, client: dict) -> tuple[int, dict] | None:
        """POST /token; None when the connection broke before an answer (a killed worker)."""
        basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
        try:
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
            self.connection.request("POST", "/token", body=urlencode(form), headers={
                "Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"})
            response = self.connection.getresponse()
            return response.status, json.loads(response.read())
        except (OSError, http.client.HTTPException):  # reset, refused, remote closed, timeout
            self.close()
            return None


def _client(env: dict[str, str], *args: str) -> dict:
    result = run_yitong(["client", "create", "--json", *args], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


class Load:
    """Threads sending token requests until told to stop; what each received, and what was cut."""

    def __init__(self, port: int, cc: dict, rp: dict, refresh_tokens: list[str]) -> None:
        self.port, self.cc, self.rp = port, cc, rp
        self.stop = threading.Event()
        self.access_tokens: list[str] = []
        self.cut = 0  # requests the kill cut off (no answer)
        self.unexpected: list[str] = []
        self.chains = [[token] for token in refresh_tokens]  # every refresh token each chain received, in order
        self.in_doubt: list[tuple[int, str]] = []  # (chain, token) presented when the answer was cut off
        self.lock = threading.Lock()

    def client_credentials(self) -> None:
        with Http(self.port) as http:
            while not self.stop.is_set():
                answer = http.token({"grant_type": "client_credentials", "scope": "seal:read"}, self.cc)
                with self.lock:
                    if answer is None:
                        self.cut += 1
                    elif answer[0] == 200:
                        self.access_tokens.append(answer[1]["access_token"])
                    else:
                        self.unexpected.append(f"client credentials: {answer}")

    def refresh_chain(self, chain: int) -> None:
        with Http(self.port) as http:
            while not self.stop.is_set():
                token = self.chains[chain][-1]
                answer = http.token({"grant_type": "refresh_token", "refresh_token": token}, self.rp)
                with self.lock:
                    if answer is None:
                        self.cut += 1
                        self.in_doubt.append((chain, token))
                        return  # settled after the load (see the test)
                    if answer[0] != 200:
                        self.unexpected.append(f"refresh: {answer}")
                        return
                    self.access_tokens.append(answer[1]["access_token"])
                    self.chains[chain].append(answer[1]["refresh_token"])


def test_kill_9_of_a_worker_loses_no_audit_record_and_no_refresh_token(storage, upgraded_home):
    env = upgraded_home.env
    cc = _client(env, "--name", "batch job", "--grant", "client_credentials", "--scope", "seal:read")
    rp = _client(env, "--name", "portal", "--grant", "authorization_code", "--grant", "refresh_token",
                 "--redirect-uri", "http://127.0.0.1:9/cb", "--scope", "openid offline_access")
    person = Accounts(storage.engine).create(username="kill9", password="Kill-9-durability-2026")
    tokens = Tokens(storage.engine, keys=None, issuer="unused: no token is signed here")
    refresh_tokens = [tokens.refresh_token(tokens.new_grant(client_id=rp["client_id"], sub=person.sub, sid=None,
                                                            scope="openid offline_access"))
                      for _ in range(CHAINS)]

    count = 2 if storage.kind == "postgres" else 1  # SQLite: its one worker
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "yitong"), "serve", "--port", str(port),
                               "--workers", str(count)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(server, base, lambda: "(see the server)")
        load = Load(port, cc, rp, refresh_tokens)
        with ThreadPoolExecutor(CC_THREADS + CHAINS) as pool:
            running = [pool.submit(load.client_credentials) for _ in range(CC_THREADS)]
            running += [pool.submit(load.refresh_chain, chain) for chain in range(CHAINS)]
            killed = []
            for _ in range(2):
                time.sleep(LOAD_SECONDS / 3)
                victim = next(pid for pid in _wait_for_workers(server.pid, count) if pid not in killed)
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)
            time.sleep(LOAD_SECONDS / 3)
            load.stop.set()
            for future in running:
                future.result()
        assert not load.unexpected, load.unexpected[:3]
        assert server.poll() is None
        assert not set(killed) & set(_wait_for_workers(server.pid, count))  # gunicorn replaced the killed ones

        # Every access token received: its row and its audit record, committed together.
        received = {_jti(token) for token in load.access_tokens}
        with storage.engine.connect() as conn:
            audited = {row.detail["jti"] for row in conn.execute(select(audit_table.c.detail).where(
                audit_table.c.event == "token.issued")) if row.detail and "jti" in row.detail}
            stored = set(conn.execute(select(access_tokens_table.c.jti)).scalars())
        assert len(received) > 20, "too little load to mean anything"
        assert received <= audited, f"{len(received - audited)} tokens received without their audit record"
        assert received <= stored

        # A refresh token cut off by the kill: unused (works again), or used together with its successor.
        with Http(port) as http:
            for chain, token in load.in_doubt:
                with storage.engine.connect() as conn:
                    row = conn.execute(select(refresh_tokens_table).where(
                        refresh_tokens_table.c.token_hash == token_hash(token))).one()
                    successors = conn.execute(select(refresh_tokens_table.c.token_hash).where(
                        refresh_tokens_table.c.grant_id == row.grant_id,
                        refresh_tokens_table.c.used_at.is_(None))).all()
                if row.used_at is not None:
                    assert len(successors) == 1, "a refresh token was used up without a successor"
                    load.chains[chain] = []  # its successor's answer was lost on the wire; nothing to test further
                    continue
                status, body = http.token({"grant_type": "refresh_token", "refresh_token": token}, rp)
                assert status == 200, body
                load.chains[chain].append(body["refresh_token"])

            # Each chain's last token works exactly once; a superseded one never again.
            for chain in (c for c in load.chains if len(c) >= 2):
                form = {"grant_type": "refresh_token", "refresh_token": chain[-1]}
                assert http.token(form, rp)[0] == 200
                status, body = http.token(form, rp)
                assert (status, body["error"]) == (400, "invalid_grant")
                status, body = http.token({**form, "refresh_token": chain[-2]}, rp)
                assert (status, body["error"]) == (400, "invalid_grant")
        assert load.cut >= 1, "the kills cut no request: the test proved nothing"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
