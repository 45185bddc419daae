"""IdP throughput: client-credentials grants/s against node-oidc-provider, refresh grants/s, sign-ins/s.

Yitong runs as in production: PostgreSQL (a throwaway database, dropped afterwards) and Redis on
loopback, `yitong serve --workers 2`. The anchor is node-oidc-provider 9 (npm `oidc-provider`,
bench/node/provider.mjs) in one Node process with its in-memory adapter: one client,
client_secret_basic, RFC 9068 JWT access tokens signed ES256 for a resource indicator, as Yitong
issues them. Both get the same load from the same generator for the same time, one after the
other: they share this machine's cores, and so does the generator (this process, stdlib asyncio,
keep-alive connections) together with PostgreSQL and Redis.

Refresh grants (reported, no anchor): one app per connection rotates the refresh token of a grant of
its own (client_secret_basic); each answer's new refresh token is its next request's.

Sign-ins: each flow is a new browser: GET /authorize -> login form (CSRF) -> consent the first time
a person meets the client -> code at the redirect URI (only the Location header is read) -> POST
/token with the PKCE verifier. Logins come from distinct loopback addresses (127.a.b.x, a /24
chosen at random per run) and a pool of people made for the run, so that the login throttle
(per address, per account and address, per account) never trips: production logins come from
many addresses too. Nothing but 127.0.0.0/8 is ever contacted; every loop is bounded in time and count.
`--sign-ins-only` runs just the sign-ins and their anchor, argon2id alone (no grants, no node needed).

Only 200 responses count. Any error after the warm-up fails the run; errors in the warm-up are
printed as a WARNING with the server's logged exception. Needs node and npm (`npm ci` in bench/node,
which `make bench` runs), PostgreSQL (user postgres, trust) and Redis on 127.0.0.1; no wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import html
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import print_load, verdict  # noqa: E402 (after the path it needs)

CC_TARGET = 0.5  # issue 19: client-credentials grants >= 0.5x node-oidc-provider
SIGN_IN_TARGET = 0.8  # issue 19: sign-ins >= 0.8x the rate argon2id alone allows here

NODE_DIR = ROOT / "bench" / "node"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
PASSWORD = "Bench-Tianjin-2026-correct"
# Keycloak's published sizing (keycloak.org, "Concepts for sizing CPU and memory resources").
KEYCLOAK_CC_PER_VCPU = 120
KEYCLOAK_LOGINS_PER_VCPU = 15
LOGINS_PER_ACCOUNT = 40  # per run: well under the throttle's 50 failures (100 points) per account and hour


# -- a minimal HTTP/1.1 client on asyncio streams (keep-alive, no dependencies) ------------------------------
class HTTPError(Exception):
    pass


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)


class Connection:
    def __init__(self, port: int, source: str | None = None) -> None:
        self.port, self.source = port, source
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used = False

    async def _open(self) -> None:
        local = (self.source, 0) if self.source else None
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, local_addr=local)
        self.used = False

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def send(self, raw: bytes) -> Response:
        """Send one request; reopen once if an idle keep-alive connection was closed before any answer."""
        for attempt in (1, 2):
            if self.writer is None:
                await self._open()
            stale = self.used
            try:
                self.writer.write(raw)
                head = await self.reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                self.close()
                if stale and attempt == 1:
                    continue
                raise HTTPError(f"connection closed: {exc!r}") from exc
            break
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = [(k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:] if line)]
        response = Response(status, headers, b"")
        length = response.header("content-length")
        if length is not None:
            response.body = await self.reader.readexactly(int(length))
        elif (response.header("transfer-encoding") or "").lower() == "chunked":
            response.body = await self._chunked()
        self.used = True
        if (response.header("connection") or "").lower() == "close":
            self.close()
        return response

    async def _chunked(self) -> bytes:
        body = bytearray()
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            body += await self.reader.readexactly(size + 2)
            if size == 0:
                return bytes(body[:-2])
            del body[-2:]


def request_bytes(method: str, port: int, target: str, headers: dict[str, str] | None = None,
                  body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if method == "POST":
        lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# -- load loops ---------------------------------------------------------------------------------------------------
REQUEST_TIMEOUT = 30  # seconds; a stuck request is an error, never a hang


@dataclass
class Tally:
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warmup_errors: list[str] = field(default_factory=list)  # reported, not fatal: the window must be clean
    consents: int = 0
    steps: dict[str, list[float]] = field(default_factory=dict)  # sign-ins: "GET /login 200" -> latencies
    cpu: float = 0.0  # CPU seconds this process (the load generator) spent in the window
    note: str = ""

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, p: int) -> float:
        return statistics.quantiles(self.latencies, n=100)[p - 1] * 1000 if len(self.latencies) > 1 else 0.0


class Recorder:
    """Workers run without a pause from the warm-up through the window; what ends inside the window counts."""

    def __init__(self, warmup: float, seconds: float) -> None:
        self.begin = time.perf_counter() + warmup
        self.end = self.begin + seconds
        self.done: list[tuple[float, float, str | None, tuple]] = []  # (finished, latency, error, flow steps)
        self.note = ""

    def running(self) -> bool:
        return time.perf_counter() < self.end

    def add(self, start: float, error: str | None = None, steps: tuple = ()) -> None:
        now = time.perf_counter()
        self.done.append((now, now - start, error, steps))

    def tally(self, cpu: float) -> Tally:
        tally = Tally(self.end - self.begin, cpu=cpu, note=self.note)
        for finished, latency, error, steps in self.done:
            if error is not None:  # an error after the warm-up fails the run, even in the drain
                (tally.warmup_errors if finished < self.begin else tally.errors).append(error)
            elif self.begin <= finished <= self.end:
                tally.latencies.append(latency)
                for label, seconds in steps:
                    tally.steps.setdefault(label, []).append(seconds)
                    tally.consents += label.startswith("POST /consent")
        return tally


async def timed_window(worker, concurrency: int, warmup: float, seconds: float) -> Tally:
    """Run `worker(recorder)` on `concurrency` tasks for warm-up + window; count the window."""
    loop, cpu = asyncio.get_running_loop(), []
    recorder = Recorder(warmup, seconds)
    loop.call_later(warmup, lambda: cpu.append(time.process_time()))
    loop.call_later(warmup + seconds, lambda: cpu.append(time.process_time()))
    await asyncio.gather(*(worker(recorder) for _ in range(concurrency)))
    return recorder.tally(cpu[1] - cpu[0])


def client_credentials_worker(port: int, raw: bytes):
    async def worker(recorder: Recorder) -> None:
        connection = Connection(port)
        try:
            while recorder.running():
                start = time.perf_counter()
                try:
                    response = await asyncio.wait_for(connection.send(raw), REQUEST_TIMEOUT)
                except (HTTPError, OSError, TimeoutError) as exc:
                    connection.close()
                    recorder.add(start, repr(exc))
                    continue
                if response.status == 200 and b'"access_token"' in response.body:
                    recorder.add(start)
                else:
                    recorder.add(start, f"HTTP {response.status} {response.body[:300]!r}")
        finally:
            connection.close()

    return worker


def refresh_worker(port: int, client_id: str, secret: str, chains: list[str]):
    """Each task rotates its own refresh token (a grant of its own): every answer's new refresh
    token is the next request's, as an app keeping a session alive does."""
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()

    async def worker(recorder: Recorder) -> None:
        token, connection = chains.pop(), Connection(port)
        try:
            while recorder.running():
                raw = request_bytes("POST", port, "/token", {"Authorization": f"Basic {basic}",
                                                             "Accept": "application/json"},
                                    urlencode({"grant_type": "refresh_token", "refresh_token": token}).encode())
                start = time.perf_counter()
                try:
                    response = await asyncio.wait_for(connection.send(raw), REQUEST_TIMEOUT)
                except (HTTPError, OSError, TimeoutError) as exc:
                    connection.close()
                    recorder.add(start, repr(exc))
                    return  # the token's fate is unknown: this chain stops
                if response.status == 200 and b'"refresh_token"' in response.body:
                    token = json.loads(response.body)["refresh_token"]
                    recorder.add(start)
                else:
                    recorder.add(start, f"HTTP {response.status} {response.body[:300]!r}")
                    return
        finally:
            connection.close()

    return worker


@dataclass
class FlowSetup:
    port: int
    client_id: str
    redirect_uri: str
    users: list[str]
    address_prefix: str  # "127.a.b."
    max_flows: int
    started: int = 0


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def form_field(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    if not match:
        raise HTTPError(f"form without {name}: {page[:300]!r}")
    return html.unescape(match.group(1))


async def one_flow(setup: FlowSetup, number: int) -> tuple[tuple[str, float], ...]:
    """One new browser signs in and its app redeems the code; its steps ("GET /login 200", seconds)."""
    users = setup.users
    login = users[number % len(users)]  # one address serves len(users) flows, each a different person
    source = f"{setup.address_prefix}{1 + number // len(users)}"
    port, cookies, steps = setup.port, {}, []
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(12)
    target = "/authorize?" + urlencode({
        "response_type": "code", "client_id": setup.client_id, "redirect_uri": setup.redirect_uri,
        "scope": "openid profile", "state": state, "nonce": secrets.token_urlsafe(12),
        "code_challenge": challenge, "code_challenge_method": "S256"})
    method, body = "GET", b""
    browser = Connection(port, source)
    try:
        for _hop in range(10):
            headers = {"Accept": "text/html"}
            if cookies:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
            start = time.perf_counter()
            response = await browser.send(request_bytes(method, port, target, headers, body))
            steps.append((f"{method} {target.split('?')[0]} {response.status}", time.perf_counter() - start))
            for name, value in response.headers:
                if name == "set-cookie":
                    pair, _, attributes = value.partition(";")
                    key, _, val = pair.strip().partition("=")
                    if not val or re.search(r"max-age=0\b", attributes, re.IGNORECASE):
                        cookies.pop(key, None)
                    else:
                        cookies[key] = val
            if response.status in (302, 303):
                location = response.header("location") or ""
                if location.startswith(setup.redirect_uri):
                    break
                parts = urlsplit(location)
                target, method, body = parts.path + (f"?{parts.query}" if parts.query else ""), "GET", b""
                continue
            page = response.body.decode()
            action = re.search(r'<form method="post" action="([^"]+)"', page)
            if response.status != 200 or method != "GET" or not action or action.group(1) not in ("/login", "/consent"):
                raise HTTPError(f"{method} {target.split('?')[0]} -> {response.status}: {page[:300]!r}")
            fields = {"csrf": form_field(page, "csrf"), "return_to": form_field(page, "return_to")}
            if action.group(1) == "/login":
                fields |= {"login": login, "password": PASSWORD}
            else:
                fields["decision"] = "allow"
            target, method, body = action.group(1), "POST", urlencode(fields).encode()
        else:
            raise HTTPError("too many redirects")
    finally:
        browser.close()
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    if params.get("state") != state or "code" not in params:
        raise HTTPError(f"bad callback {location[:300]}")
    token_body = urlencode({"grant_type": "authorization_code", "code": params["code"],
                            "redirect_uri": setup.redirect_uri, "client_id": setup.client_id,
                            "code_verifier": verifier}).encode()
    app = Connection(port)
    start = time.perf_counter()
    try:
        response = await app.send(request_bytes("POST", port, "/token", {"Accept": "application/json"}, token_body))
    finally:
        app.close()
    steps.append((f"POST /token {response.status}", time.perf_counter() - start))
    if response.status != 200 or b'"id_token"' not in response.body:
        raise HTTPError(f"POST /token -> {response.status}: {response.body[:300]!r}")
    return tuple(steps)


def flow_worker(setup: FlowSetup):
    async def worker(recorder: Recorder) -> None:
        while recorder.running():
            if setup.started >= setup.max_flows:
                recorder.note = f"stopped at the cap of {setup.max_flows} flows"
                return
            number, setup.started = setup.started, setup.started + 1
            start = time.perf_counter()
            try:
                steps = await asyncio.wait_for(one_flow(setup, number), 2 * REQUEST_TIMEOUT)
            except (HTTPError, OSError, TimeoutError) as exc:
                recorder.add(start, repr(exc))
                continue
            recorder.add(start, steps=steps)

    return worker


# -- services -------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(process: subprocess.Popen, url: str, log: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            raise SystemExit(f"{url}: the server exited:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=1).close()  # noqa: S310 (a loopback URL we built)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"{url}: no answer within {seconds:.0f} s:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.1)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def yitong(args: list[str], env: dict[str, str]) -> str:
    exe = shutil.which("yitong", path=str(Path(sys.executable).parent)) or "yitong"
    result = subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise SystemExit(f"yitong {' '.join(args[:2])} failed: {result.stdout}{result.stderr}")
    return result.stdout


def check_prerequisites(node_needed: bool = True) -> str | None:
    import psycopg
    import redis

    try:
        psycopg.connect(POSTGRES, connect_timeout=3).close()
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as exc:
        raise SystemExit(f"bench: needs PostgreSQL (127.0.0.1:5432, user postgres) and Redis (127.0.0.1:6379); "
                         f".ci/run shows how to start them: {exc}") from exc
    node = shutil.which("node")
    if not node_needed:
        return node
    if node is None or not (NODE_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
        raise SystemExit("bench: needs node and `npm ci` in bench/node (make bench runs it)")
    return node


@contextlib.contextmanager
def throwaway_database():
    import psycopg

    name = f"yitong_bench_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def token_kind(body: bytes) -> str:
    token = json.loads(body)["access_token"]
    if token.count(".") != 2:
        return "opaque"
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    return f"JWT {header.get('typ')} {header.get('alg')}, aud {claims.get('aud')}, {claims['exp'] - claims['iat']} s"


async def sample(port: int, raw: bytes) -> bytes:
    connection = Connection(port)
    try:
        response = await connection.send(raw)
    finally:
        connection.close()
    if response.status != 200:
        raise SystemExit(f"sample request: HTTP {response.status} {response.body[:300]!r}")
    return response.body


def cc_request(port: int, client_id: str, secret: str, resource: str) -> bytes:
    """The one request every client-credentials load sends: client_secret_basic, scope and resource."""
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    body = urlencode({"grant_type": "client_credentials", "scope": "seal:read", "resource": resource}).encode()
    return request_bytes("POST", port, "/token", {"Authorization": f"Basic {basic}", "Accept": "application/json"},
                         body)


def measure_yitong(args, tmp: Path) -> tuple[Tally | None, str, Tally | None, Tally, FlowSetup]:
    from idp.accounts.store import Accounts
    from idp.oauth.tokens import Tokens
    from yitong.home import Home
    from yitong.settings import Settings

    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    with throwaway_database() as database_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("YITONG_")}
        env.update(YITONG_HOME=str(tmp / "home"), YITONG_DATABASE_URL=database_url, YITONG_REDIS_URL=REDIS_URL,
                   YITONG_ISSUER=issuer, YITONG_LOG_LEVEL="WARNING")
        yitong(["db", "upgrade"], env)
        service = json.loads(yitong(["client", "create", "--name", "bench", "--grant", "client_credentials",
                                     "--scope", "seal:read", "--json"], env))
        redirect_uri = f"http://127.0.0.1:{free_port()}/cb"  # nothing listens: only Location is read
        spa = json.loads(yitong(["client", "create", "--name", "bench-spa", "--public", "--redirect-uri",
                                 redirect_uri, "--grant", "authorization_code", "--scope", "openid profile",
                                 "--json"], env))
        app = json.loads(yitong(["client", "create", "--name", "bench-app", "--redirect-uri", redirect_uri,
                                 "--grant", "authorization_code", "--grant", "refresh_token", "--scope",
                                 "openid offline_access", "--json"], env))
        home = Home(Settings.from_env(env))
        home.keystore()
        accounts = Accounts(home.engine)
        run = secrets.token_hex(3)  # fresh names: the throttle's per-account counters outlive the run in Redis
        users = [f"bench{run}u{i}" for i in range(args.users)]
        people = [accounts.create(username=username, password=PASSWORD) for username in users]
        tokens = Tokens(home.engine, keys=None, issuer=issuer)  # grants as a code redemption leaves them
        chains = [tokens.refresh_token(tokens.new_grant(client_id=app["client_id"], sub=people[i % len(people)].sub,
                                                        sid=None, scope="openid offline_access"))
                  for i in range(args.connections)]
        home.engine.dispose()

        log = tmp / "yitong.log"
        with log.open("wb") as out:
            server = subprocess.Popen([shutil.which("yitong", path=str(Path(sys.executable).parent)) or "yitong",
                                       "serve", "--port", str(port), "--workers", str(args.workers)],
                                      env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until_up(server, issuer + "/readyz", log)
            resource = f"{issuer}/seal"
            raw = cc_request(port, service["client_id"], service["client_secret"], resource)
            kind = token_kind(asyncio.run(sample(port, raw)))
            cc = refresh = None
            if not args.sign_ins_only:
                cc = asyncio.run(timed_window(client_credentials_worker(port, raw), args.connections, args.warmup,
                                              args.seconds))
                refresh = asyncio.run(timed_window(refresh_worker(port, app["client_id"], app["client_secret"],
                                                                  chains),
                                                   args.connections, args.warmup, args.seconds))
            setup = FlowSetup(port, spa["client_id"], redirect_uri, users,
                              f"127.{random.randint(16, 250)}.{random.randint(0, 255)}.",
                              max_flows=min(args.users * LOGINS_PER_ACCOUNT, 254 * args.users))
            flows = asyncio.run(timed_window(flow_worker(setup), args.browsers, args.warmup, args.seconds))
        finally:
            stop(server)
    return cc, kind, refresh, flows, setup


def measure_node(args, node: str, tmp: Path) -> tuple[Tally, str]:
    port = free_port()
    client_id, secret = f"bench-{secrets.token_hex(4)}", secrets.token_urlsafe(32)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NODE_")}
    env.update(NODE_ENV="production",
               BENCH_PARAMS=json.dumps({"port": port, "client_id": client_id, "client_secret": secret}))
    log = tmp / "node.log"
    with log.open("wb") as out:
        server = subprocess.Popen([node, "provider.mjs"], cwd=NODE_DIR, env=env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        issuer = f"http://127.0.0.1:{port}"
        wait_until_up(server, issuer + "/.well-known/openid-configuration", log)
        resource = f"{issuer}/seal"
        raw = cc_request(port, client_id, secret, resource)
        kind = token_kind(asyncio.run(sample(port, raw)))
        cc = asyncio.run(timed_window(client_credentials_worker(port, raw), args.connections, args.warmup,
                                      args.seconds))
    finally:
        stop(server)
    return cc, kind


def measure_argon2(seconds: float) -> float:
    """Password verifications/s that argon2id alone (Yitong's parameters) does on every core at once:
    the ceiling of password sign-ins on this machine. argon2-cffi releases the GIL, so one thread
    per core is as many hashes at once as the cores allow."""
    from idp.security.passwords import hash_password, verify_password

    stored = hash_password(PASSWORD)
    threads = os.cpu_count() or 1
    deadline = time.perf_counter() + seconds

    def spin() -> int:
        done = 0
        while time.perf_counter() < deadline:
            if not verify_password(stored, PASSWORD):
                raise SystemExit("bench: argon2id did not verify its own hash")
            done += 1
        return done

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(lambda _: spin(), range(threads)))
    return total / (time.perf_counter() - start)


# -- report ---------------------------------------------------------------------------------------------------
def check(name: str, tally: Tally, log: Path) -> None:
    """No error in the counted window; errors in the warm-up are printed with the server's last exception."""
    if tally.warmup_errors or tally.errors:
        excerpt = [line for line in log.read_text(errors="replace").splitlines()
                   if re.match(r"^[\w.]+(Error|Exception)\b", line)]
        print(f"WARNING {name}: {len(tally.warmup_errors)} failed in the warm-up, {len(tally.errors)} in the "
              f"window; first: {(tally.warmup_errors or tally.errors)[0][:200]}"
              + (f"\n  server log, first and last exception: {excerpt[0]}  |  {excerpt[-1]}" if excerpt else ""))
    if tally.note:
        raise SystemExit(f"{name}: {tally.note} before the window ended: run with more --users")
    if tally.errors:
        raise SystemExit(f"{name}: {len(tally.errors)} errors besides {len(tally.latencies)} successes, "
                         f"first: {tally.errors[0]}")
    if not tally.latencies:
        raise SystemExit(f"{name}: nothing completed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="measured window of each run")
    parser.add_argument("--warmup", type=float, default=2, help="warm-up before each window")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections for client credentials")
    parser.add_argument("--browsers", type=int, default=8, help="sign-in flows in flight at once")
    parser.add_argument("--workers", type=int, default=2, help="`yitong serve --workers`")
    parser.add_argument("--users", type=int, default=32, help="people signing in (pool made for the run)")
    parser.add_argument("--sign-ins-only", action="store_true",
                        help="only the code + PKCE sign-ins against argon2id alone (no grants, no node)")
    args = parser.parse_args()

    node = check_prerequisites(node_needed=not args.sign_ins_only)
    cores = os.cpu_count() or 1
    print_load("bench/oidc.py")
    print(f"machine: {cores} cores ({len(os.sched_getaffinity(0))} usable); services run one after the other, "
          f"never at once, each sharing the cores with PostgreSQL, Redis and this load generator")
    print(f"load: {args.warmup:g} s warm-up, then {args.seconds:g} s counted; client credentials on "
          f"{args.connections} keep-alive connections, sign-ins {args.browsers} browsers at a time; "
          f"plain HTTP on loopback")

    with tempfile.TemporaryDirectory(prefix="yitong-bench-") as tmp_name:
        tmp = Path(tmp_name)
        yitong_cc, yitong_kind, refresh, flows, setup = measure_yitong(args, tmp)
        check("yitong sign-ins", flows, tmp / "yitong.log")
        if not args.sign_ins_only:
            check("yitong client credentials", yitong_cc, tmp / "yitong.log")
            check("yitong refresh grants", refresh, tmp / "yitong.log")
            node_cc, node_kind = measure_node(args, node, tmp)
            check("node-oidc-provider client credentials", node_cc, tmp / "node.log")
        argon2_rate = measure_argon2(args.seconds)

    if not args.sign_ins_only:
        report_grants(args, yitong_cc, yitong_kind, refresh, node, node_cc, node_kind)
    report_sign_ins(args, flows, setup, argon2_rate, yitong_cc)


def report_grants(args, yitong_cc: Tally, yitong_kind: str, refresh: Tally, node: str, node_cc: Tally,
                  node_kind: str) -> None:
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    anchor_version = json.loads((NODE_DIR / "node_modules" / "oidc-provider" / "package.json").read_text())["version"]
    print(f"\nyitong {args.workers} gunicorn workers x 8 threads, PostgreSQL + Redis; "
          f"access token: {yitong_kind}")
    print(f"node-oidc-provider {anchor_version} on Node {version}, one process, in-memory adapter; "
          f"access token: {node_kind}")
    header = f"{'client credentials (POST /token)':38} {'grants/s':>9} {'p50 ms':>7} {'p95 ms':>7} {'count':>6} " \
             f"{'gen CPU':>8}"
    print("\n" + header)
    for name, tally in (("node-oidc-provider (anchor)", node_cc), ("yitong", yitong_cc)):
        print(f"{name:38} {tally.rate:9.0f} {tally.percentile(50):7.1f} {tally.percentile(95):7.1f} "
              f"{len(tally.latencies):6d} {tally.cpu / tally.seconds:7.0%}")
    ratio = yitong_cc.rate / node_cc.rate
    print(f"{'ratio yitong / node-oidc-provider':38} {verdict(ratio, CC_TARGET)}")
    print("(gen CPU: share of one core the load generator itself used during the window)")
    print(f"{'yitong refresh grants (rotating)':38} {refresh.rate:9.0f} {refresh.percentile(50):7.1f} "
          f"{refresh.percentile(95):7.1f} {len(refresh.latencies):6d} {refresh.cpu / refresh.seconds:7.0%}")
    print(f"(refresh: code + PKCE grants' refresh tokens, {args.connections} apps each rotating its own: the used "
          f"token, its successor, a new access token and the audit record in one transaction)")


def report_sign_ins(args, flows: Tally, setup: FlowSetup, argon2_rate: float, yitong_cc: Tally | None) -> None:
    cores = os.cpu_count() or 1
    print(f"\n{'code + PKCE sign-ins (new browser each)':38} {'flows/s':>9} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'count':>6} {'gen CPU':>8}")
    print(f"{'yitong':38} {flows.rate:9.1f} {flows.percentile(50):7.0f} {flows.percentile(95):7.0f} "
          f"{len(flows.latencies):6d} {flows.cpu / flows.seconds:7.0%}")
    print(f"(each: /authorize, login form + argon2id, {flows.consents} with consent in the window, code, /token; "
          f"{len(setup.users)} people from {setup.address_prefix}0/24)")
    print(f"{'argon2id alone, every core (anchor)':38} {argon2_rate:9.1f}   verifications/s at Yitong's parameters")
    print(f"{'ratio sign-ins / argon2id alone':38} {verdict(flows.rate / argon2_rate, SIGN_IN_TARGET)}")
    steps = "; ".join(f"{label} {statistics.median(values) * 1000:.0f} (x{len(values)})"
                      for label, values in flows.steps.items())
    print(textwrap.fill(f"median ms per step (requests in the window): {steps}", 118, subsequent_indent="  "))

    if yitong_cc is None:
        return
    print(f"\nKeycloak's published sizing, per vCPU, x {cores} cores here   where we stand (yitong / Keycloak x cores)")
    for name, per_vcpu, ours in (("client-credential grants/s", KEYCLOAK_CC_PER_VCPU, yitong_cc.rate),
                                 ("password logins/s", KEYCLOAK_LOGINS_PER_VCPU, flows.rate)):
        print(f"  {name:28} {per_vcpu:4d} x {cores} = {per_vcpu * cores:5d}   yitong {ours:7.1f}   "
              f"{ours / (per_vcpu * cores):5.2f}")
    print("  (Keycloak's figures leave out the database and load generator, which share our cores here, and its\n"
          "   client-credential clients open a new TLS connection per grant, which ours do not)")


if __name__ == "__main__":
    main()
