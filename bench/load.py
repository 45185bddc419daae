"""The service under a realistic mix for a fixed time: token grants, sign-ins, sealing and verification.

For --seconds (60 by default), --concurrency tasks each pick their next operation at random:
70 % client-credentials grants, 20 % password sign-ins (the code + PKCE journey of bench/oidc.py,
a new browser each), 5 % sealing a one-page PDF through the seal API (B-LT, an organisation's SM2
seal granted to the client, its seal:sign token renewed as a real client would), 5 % verifying a
sealed PDF through /verify/api/v1/pdf (a "503 busy" with Retry-After, the per-process verification
limit, is waited out and asked again, at most three times, as a client would; the count is
printed). Twice: `yitong serve --workers 2` on PostgreSQL (a throwaway database) + Redis, then
the embedded default (SQLite, no Redis, its one worker).

Reports throughput and p50/p95/p99 latency per kind; any error after the warm-up fails the run.
Loopback only (sign-ins and verifications come from addresses in 127.0.0.0/8, as many as the
per-address limits need); every loop is bounded in time and count; the servers are stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import print_load  # noqa: E402 (after the path it needs)
from bench.oidc import (  # noqa: E402
    PASSWORD,
    REDIS_URL,
    REQUEST_TIMEOUT,
    Connection,
    FlowSetup,
    HTTPError,
    cc_request,
    check_prerequisites,
    free_port,
    one_flow,
    request_bytes,
    stop,
    throwaway_database,
    wait_until_up,
    yitong,
)
from bench.seal import document  # noqa: E402

MIX = (("grant", 70), ("sign-in", 20), ("seal", 5), ("verify", 5))
ORG_USCC, ORG_NAME = "91120000MA05JX3B3T", "天津一通测试有限公司"
# One address serves one sign-in of each person (bench/oidc.py FlowSetup): --users at most 30 keeps an
# address under the login throttle's 40 points per 15 min; each person signs in at most 40 times.
LOGINS_PER_ACCOUNT = 40
BUSY_RETRIES = 3


@dataclass
class Kind:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class Service:
    port: int
    issuer: str
    grant_raw: bytes
    sealer_id: str
    sealer_secret: str
    esid: str
    flows: FlowSetup
    verify_prefix: str
    sealed: bytes = b""
    seal_token: str = ""
    seal_token_at: float = 0.0
    documents: int = 0
    verifications: int = 0
    busy: int = 0  # verification answers "503 busy, Retry-After", waited out and asked again


async def _send(port: int, raw: bytes, source: str | None = None):
    connection = Connection(port, source)
    try:
        return await asyncio.wait_for(connection.send(raw), REQUEST_TIMEOUT)
    finally:
        connection.close()


async def _seal_token(service: Service) -> str:
    """The sealing client's seal:sign token, renewed a minute before its 5 minutes are up."""
    if time.monotonic() - service.seal_token_at < 240:
        return service.seal_token
    basic = base64.b64encode(f"{service.sealer_id}:{service.sealer_secret}".encode()).decode()
    body = urlencode({"grant_type": "client_credentials", "resource": f"{service.issuer}/seal"}).encode()
    response = await _send(service.port, request_bytes("POST", service.port, "/token", {
        "Authorization": f"Basic {basic}", "Accept": "application/json"}, body))
    if response.status != 200:
        raise HTTPError(f"seal token: {response.status} {response.body[:200]!r}")
    service.seal_token, service.seal_token_at = json.loads(response.body)["access_token"], time.monotonic()
    return service.seal_token


async def _seal(service: Service) -> bytes:
    service.documents += 1
    data = document(service.documents)
    raw = (f"POST /seal/seals/{service.esid}/sign HTTP/1.1\r\nHost: 127.0.0.1:{service.port}\r\n"
           f"Authorization: Bearer {await _seal_token(service)}\r\nContent-Type: application/pdf\r\n"
           f"Content-Length: {len(data)}\r\n\r\n").encode() + data
    response = await _send(service.port, raw)
    if response.status != 200 or not response.body.startswith(b"%PDF"):
        raise HTTPError(f"seal: {response.status} {response.body[:200]!r}")
    return response.body


async def operate(service: Service, kind: str) -> None:
    if kind == "grant":
        response = await _send(service.port, service.grant_raw)
        if response.status != 200 or b'"access_token"' not in response.body:
            raise HTTPError(f"grant: {response.status} {response.body[:200]!r}")
    elif kind == "sign-in":
        if service.flows.started >= service.flows.max_flows:
            raise HTTPError("no more people to sign in: run with a larger --users")
        number, service.flows.started = service.flows.started, service.flows.started + 1
        await one_flow(service.flows, number)
    elif kind == "seal":
        await _seal(service)
    else:
        data = service.sealed
        raw = (f"POST /verify/api/v1/pdf HTTP/1.1\r\nHost: 127.0.0.1:{service.port}\r\n"
               f"Content-Type: application/pdf\r\nContent-Length: {len(data)}\r\n\r\n").encode() + data
        for _attempt in range(BUSY_RETRIES + 1):
            service.verifications += 1
            source = f"{service.verify_prefix}{1 + service.verifications % 250}"  # the per-address limit
            response = await _send(service.port, raw, source)
            retry_after = response.header("retry-after")
            if response.status != 503 or retry_after is None:
                break
            # YITONG_VERIFY_CONCURRENCY's back-pressure: a client waits as told and asks again (counted)
            service.busy += 1
            await asyncio.sleep(min(float(retry_after), 5))
        if response.status != 200 or b'"TOTAL_PASSED"' not in response.body:
            raise HTTPError(f"verify: {response.status} {response.body[:300]!r}")


async def load(service: Service, concurrency: int, warmup: float, seconds: float) -> tuple[dict[str, Kind], float]:
    kinds = {name: Kind() for name, _ in MIX}
    names, weights = [n for n, _ in MIX], [w for _, w in MIX]
    begin = time.perf_counter() + warmup
    end = begin + seconds

    async def worker() -> None:
        while time.perf_counter() < end:
            kind = random.choices(names, weights)[0]
            start = time.perf_counter()
            try:
                await asyncio.wait_for(operate(service, kind), 2 * REQUEST_TIMEOUT)
                error = None
            except (HTTPError, OSError, TimeoutError) as exc:
                error = repr(exc)
            finished = time.perf_counter()
            if error is not None and finished >= begin:
                kinds[kind].errors.append(error)
            elif begin <= finished <= end:
                kinds[kind].latencies.append(finished - start)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return kinds, seconds


def prepare(env: dict[str, str], port: int, users: int) -> Service:
    """Clients, a seal granted to the sealing client, and the people who sign in."""
    from idp.accounts.store import Accounts
    from yitong.home import Home
    from yitong.settings import Settings

    issuer = f"http://127.0.0.1:{port}"
    yitong(["db", "upgrade"], env)
    grants = json.loads(yitong(["client", "create", "--name", "load-grants", "--grant", "client_credentials",
                                "--scope", "seal:read", "--json"], env))
    sealer = json.loads(yitong(["client", "create", "--name", "load-sealer", "--grant", "client_credentials",
                                "--scope", "seal:read seal:sign", "--json"], env))
    seal = json.loads(yitong(["seal", "create", "--holder-kind", "org", "--holder-id", ORG_USCC, "--holder-name",
                              ORG_NAME, "--type", "06", "--algorithm", "sm2", "--json"], env))
    yitong(["seal", "grant", seal["esid"], "--client", sealer["client_id"]], env)
    redirect_uri = f"http://127.0.0.1:{free_port()}/cb"  # nothing listens: only Location is read
    spa = json.loads(yitong(["client", "create", "--name", "load-spa", "--public", "--redirect-uri", redirect_uri,
                             "--grant", "authorization_code", "--scope", "openid profile", "--json"], env))
    home = Home(Settings.from_env(env))
    accounts = Accounts(home.engine)
    run = secrets.token_hex(3)  # fresh names: the throttle's per-account counters outlive the run in Redis
    people = [f"load{run}u{i}" for i in range(users)]
    for username in people:
        accounts.create(username=username, password=PASSWORD)
    home.engine.dispose()
    flows = FlowSetup(port, spa["client_id"], redirect_uri, people,
                      f"127.{random.randint(16, 120)}.{random.randint(0, 255)}.",
                      max_flows=users * LOGINS_PER_ACCOUNT)
    return Service(port, issuer, cc_request(port, grants["client_id"], grants["client_secret"], f"{issuer}/seal"),
                   sealer["client_id"], sealer["client_secret"], seal["esid"], flows,
                   f"127.{random.randint(121, 250)}.{random.randint(0, 255)}.")


def run(name: str, env: dict[str, str], workers: int | None, args, tmp: Path) -> dict[str, Kind]:
    port = free_port()
    env = {**env, "YITONG_ISSUER": f"http://127.0.0.1:{port}", "YITONG_LOG_LEVEL": "WARNING"}
    service = prepare(env, port, args.users)
    log = tmp / f"{name}.log"
    command = [shutil.which("yitong", path=str(Path(sys.executable).parent)) or "yitong", "serve", "--port", str(port)]
    if workers:
        command += ["--workers", str(workers)]
    with log.open("wb") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_up(server, service.issuer + "/readyz", log)
        service.sealed = asyncio.run(_seal(service))  # the document every verification checks
        kinds, seconds = asyncio.run(load(service, args.concurrency, args.warmup, args.seconds))
    finally:
        stop(server)
    report(name, kinds, seconds)
    print(f"  (verify: {service.busy} answers were 503 + Retry-After, the verification concurrency limit; "
          f"waited out and asked again, inside the latency shown)")
    return kinds


def _ms(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100)[p - 1] * 1000 if len(values) > 1 else 0.0


def report(name: str, kinds: dict[str, Kind], seconds: float) -> None:
    total = sum(len(k.latencies) for k in kinds.values())
    print(f"\n{name}: {total / seconds:.1f} operations/s over {seconds:g} s")
    print(f"  {'kind':8} {'count':>6} {'per s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for kind, tally in kinds.items():
        values = tally.latencies
        print(f"  {kind:8} {len(values):6d} {len(values) / seconds:7.1f} {_ms(values, 50):8.0f} {_ms(values, 95):8.0f} "
              f"{_ms(values, 99):8.0f} {len(tally.errors):7d}")
    for kind, tally in kinds.items():
        if tally.errors:
            print(f"  first {kind} error: {tally.errors[0][:300]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="counted window of each run [60]")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up before the window [3]")
    parser.add_argument("--concurrency", type=int, default=16, help="operations in flight at once [16]")
    parser.add_argument("--users", type=int, default=24, help="people signing in (made for the run, <= 30) [24]")
    args = parser.parse_args()
    if not 1 <= args.users <= 30:
        parser.error("--users must be 1 to 30 (one address signs each of them in once; see LOGINS_PER_ACCOUNT)")
    check_prerequisites()
    print_load("bench/load.py")
    print(f"mix: {', '.join(f'{w} % {n}' for n, w in MIX)}; {args.concurrency} in flight; "
          f"{args.warmup:g} s warm-up, {args.seconds:g} s counted")
    base = {k: v for k, v in os.environ.items() if not k.startswith("YITONG_")}
    failed = []
    with tempfile.TemporaryDirectory(prefix="yitong-load-") as tmp_name:
        tmp = Path(tmp_name)
        with throwaway_database() as database_url:
            env = {**base, "YITONG_HOME": str(tmp / "pg-home"), "YITONG_DATABASE_URL": database_url,
                   "YITONG_REDIS_URL": REDIS_URL}
            kinds = run("2 workers, PostgreSQL + Redis", env, 2, args, tmp)
            failed += [k for k, t in kinds.items() if t.errors]
        print_load("bench/load.py, between the runs")
        kinds = run("embedded default (SQLite, no Redis, 1 worker)", {**base, "YITONG_HOME": str(tmp / "home")},
                    None, args, tmp)
        failed += [k for k, t in kinds.items() if t.errors]
    if failed:
        raise SystemExit(f"load: errors in {', '.join(sorted(set(failed)))} (zero required)")


if __name__ == "__main__":
    main()
