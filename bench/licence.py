"""Licences issued per second, end to end through the API (render + seal + store), OFD and PDF, on
the embedded default and on PostgreSQL + Redis with workers, against the issue's target and against
the seal API sealing a one-page PDF in the same run (the anchor: a PDF licence is that plus
rendering the face, the signed 2D code and storing the row in one transaction); then where the
time goes, stage by stage, in one process.

Each set-up is one `yitong serve` — the embedded default (SQLite, no Redis, one worker with its
threads), then `--workers 2` on a throwaway PostgreSQL database + Redis — with real
client-credentials tokens, from --threads client threads. PDF licences are sealed at B-LT (chain,
CRLs and OCSP in the file), OFD ones at B-T (OFD has no place for revocation data). Target
(issue 15): >= 50 one-page licences/s on this 2-core machine.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import load_line, print_load
from bench.oidc import POSTGRES, REDIS_URL, free_port, stop, throwaway_database, wait_until_up
from tests.seal.pdfs import make_pdf

TARGET = 50.0  # licences per second (issue 15, item 9)
FOOD = "11100000MB0A00018B001"
AUTHORITY = "11120000MB1A0001XT"
BODY = {"type": FOOD, "holder_id": "91120116MA05K3L296", "holder_name": "天津市示例餐饮有限公司",
        "data": {"legal_representative": "张三", "premises": "天津市和平区南京路1号",
                 "business_type": "餐饮服务经营者", "business_items": "热食类食品制售"}}
YITONG = str(Path(sys.executable).parent / "yitong")


def cli(env, *args) -> dict:
    done = subprocess.run([YITONG, *args], env=env, capture_output=True, check=True)
    return json.loads(done.stdout) if done.stdout.strip().startswith((b"{", b"[")) else {}


def token(base: str, creds: dict, resource: str, scope: str) -> str:
    basic = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode()).decode()
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "resource": resource, "scope": scope})
    request = urllib.request.Request(f"{base}/token", data=form.encode(), headers={  # noqa: S310 - our own server
        "Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own server
        return json.loads(response.read())["access_token"]


def post(url: str, data: bytes, headers: dict) -> int:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
        response.read()
        return response.status


def server_cpu(session: int) -> float:
    """CPU seconds (user + system) used so far by the processes of the server's session (its workers)."""
    hertz, total = os.sysconf("SC_CLK_TCK"), 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                fields = stat[stat.rindex(")") + 2:].split()
                if int(fields[3]) == session:  # proc(5) field 6: the session id
                    total += int(fields[11]) + int(fields[12])
    return total / hertz


def rate(call, count: int, threads: int, session: int | None = None) -> tuple[float, float]:
    """(calls per second, the server's CPU seconds per call) over ``count`` calls."""
    cpu = server_cpu(session) if session else 0.0
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        statuses = list(pool.map(lambda _n: call(), range(count)))
    elapsed = time.perf_counter() - start
    assert all(s in (200, 201) for s in statuses), statuses
    return count / elapsed, ((server_cpu(session) - cpu) / count if session else 0.0)


def measure(name: str, env: dict, server_args: list[str], args) -> dict[str, list[float]]:
    """Rounds of PDF licences, OFD licences and the anchor (seal API, one-page PDF) on one server."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**env, "YITONG_ISSUER": base}
    subprocess.run([YITONG, "db", "upgrade"], env=env, capture_output=True, check=True)
    issuer = cli(env, "client", "create", "--name", "bench", "--grant", "client_credentials", "--scope",
                 "licence:issue seal:sign", "--json")
    subprocess.run([YITONG, "licence", "client", "allow", issuer["client_id"], "--authority", AUTHORITY], env=env,
                   check=True, capture_output=True)
    esid = cli(env, "licence", "type", "show", FOOD, "--json")["esid"]
    subprocess.run([YITONG, "seal", "grant", esid, "--client", issuer["client_id"]], env=env, check=True,
                   capture_output=True)
    log = Path(env["YITONG_HOME"]).parent / f"serve-{port}.log"
    with log.open("wb") as out:
        server = subprocess.Popen([YITONG, "serve", "--port", str(port), *server_args], env=env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    figures: dict[str, list[float]] = {"pdf": [], "ofd": [], "anchor": [], "pdf cpu": [], "ofd cpu": [],
                                       "anchor cpu": []}
    try:
        wait_until_up(server, f"{base}/healthz", log, seconds=60)
        licence_headers = {"Authorization": f"Bearer {token(base, issuer, f'{base}/licences', 'licence:issue')}",
                           "Content-Type": "application/json"}
        seal_headers = {"Authorization": f"Bearer {token(base, issuer, f'{base}/seal', 'seal:sign')}",
                        "Content-Type": "application/pdf"}
        pdf = make_pdf(1)
        bodies = {fmt: json.dumps({**BODY, "format": fmt}, ensure_ascii=False).encode() for fmt in ("pdf", "ofd")}
        calls = {fmt: (lambda body=body: post(f"{base}/licences/api/v1/licences", body, licence_headers))
                 for fmt, body in bodies.items()}
        calls["anchor"] = lambda: post(f"{base}/seal/seals/{esid}/sign?x_mm=150&y_mm=230", pdf, seal_headers)
        for call in calls.values():  # warm every worker: sealers, fonts, token checks
            rate(call, args.threads * 2, args.threads)
        for number in range(1, args.rounds + 1):
            for kind, call in calls.items():
                per_second, cpu = rate(call, args.count, args.threads, server.pid)
                figures[kind].append(per_second)
                figures[f"{kind} cpu"].append(cpu)
            print(f"{name}, round {number}: PDF licences {figures['pdf'][-1]:5.1f}/s, OFD licences "
                  f"{figures['ofd'][-1]:5.1f}/s; anchor: seal API one-page PDF {figures['anchor'][-1]:5.1f}/s; "
                  f"server CPU per call: PDF {figures['pdf cpu'][-1] * 1e3:.0f} ms, OFD "
                  f"{figures['ofd cpu'][-1] * 1e3:.0f} ms, anchor {figures['anchor cpu'][-1] * 1e3:.0f} ms",
                  flush=True)
    finally:
        stop(server)
    print(f"  after {name}: {load_line()}", flush=True)
    return figures


def report(name: str, figures: dict[str, list[float]]) -> None:
    anchor = statistics.median(figures["anchor"])
    cores = os.cpu_count() or 1
    for fmt, label in (("pdf", "PDF (B-LT)"), ("ofd", "OFD (B-T)")):
        value = statistics.median(figures[fmt])
        cpu = statistics.median(figures[f"{fmt} cpu"])
        idle = cores / cpu if cpu else float("nan")
        print(f"{name}: {label} licences {value:5.1f}/s = {value / TARGET:.2f} of the target {TARGET:g}/s "
              f"({'met' if value >= TARGET else 'NOT met'}); {value / anchor:.2f}x the anchor (seal API "
              f"one-page PDF, {anchor:.1f}/s); the server spent {cpu * 1e3:.0f} ms of CPU per licence: "
              f"{idle:.0f}/s = {idle / TARGET:.2f} of the target if its {cores} cores were its own")


def postgres_and_redis() -> str | None:
    """Why PostgreSQL + Redis cannot be measured here, or None when both answer."""
    try:
        import psycopg
        import redis

        psycopg.connect(POSTGRES, connect_timeout=3).close()
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40, help="licences (and anchor seals) per round and kind")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="`yitong serve --workers` on PostgreSQL + Redis")
    parser.add_argument("--stages", type=int, default=20, help="licences per format for the per-stage times")
    parser.add_argument("--only", choices=["embedded", "postgres", "stages"], help="one part only")
    args = parser.parse_args()
    print_load("bench/licence.py")
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("YITONG_")}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "embedded"):
            env = {**base_env, "YITONG_HOME": f"{tmp}/embedded"}
            results["embedded (SQLite, 1 worker)"] = measure("embedded", env, [], args)
        if args.only in (None, "postgres"):
            missing = postgres_and_redis()
            if missing:
                print(f"PostgreSQL + Redis: not measured ({missing}); .ci/run shows how to start them")
            else:
                with throwaway_database() as url:
                    env = {**base_env, "YITONG_HOME": f"{tmp}/postgres", "YITONG_DATABASE_URL": url,
                           "YITONG_REDIS_URL": REDIS_URL}
                    label = f"PostgreSQL + Redis ({args.workers} workers)"
                    results[label] = measure("postgres", env, ["--workers", str(args.workers)], args)
        for name, figures in results.items():
            report(name, figures)
        if args.only in (None, "stages"):
            env = {**base_env, "YITONG_HOME": f"{tmp}/stages", "YITONG_ISSUER": "http://127.0.0.1:9"}
            subprocess.run([YITONG, "db", "upgrade"], env=env, capture_output=True, check=True)
            where_time_goes(env, args.stages)


STAGES = ("validate", "serial", "face", "render", "seal", "store")


def where_time_goes(env: dict, count: int) -> None:
    """One process, no HTTP: each stage of ``LicenceLibrary.issue`` timed (wall and this thread's CPU)."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("YITONG_")})
    from licence import library as lib_module
    from seal.registry import SealRegistry
    from yitong.cli.common import open_home

    home = open_home()
    library = lib_module.LicenceLibrary(home.engine, SealRegistry(home.engine, home.keystore(), home.pki()),
                                        issuer=home.settings.issuer)
    spent = {stage: [0.0, 0.0] for stage in STAGES}

    def timed(stage, fn):
        def run(*a, **kw):
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return fn(*a, **kw)
            finally:
                spent[stage][0] += time.perf_counter() - wall
                spent[stage][1] += time.thread_time() - cpu
        return run

    library.validate = timed("validate", library.validate)
    library._next_serial = timed("serial", library._next_serial)
    library._face = timed("face", library._face)
    library._store = timed("store", library._store)
    for renderer in library.renderers.values():
        renderer.render, renderer.seal = timed("render", renderer.render), timed("seal", renderer.seal)
    for fmt in ("pdf", "ofd"):
        request = lib_module.IssueRequest(FOOD, BODY["holder_id"], BODY["holder_name"], BODY["data"], format=fmt)
        cold = time.perf_counter()
        library.issue(request, actor="bench")  # the first one of a process: fonts, sealer, revocation data
        cold = time.perf_counter() - cold
        for stage in spent.values():
            stage[:] = [0.0, 0.0]
        wall, cpu = time.perf_counter(), time.thread_time()
        for _ in range(count):
            library.issue(request, actor="bench")
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        parts = ", ".join(f"{stage} {spent[stage][0] / count * 1e3:.1f} ({spent[stage][1] / count * 1e3:.1f})"
                          for stage in STAGES)
        rest = (wall - sum(s[0] for s in spent.values())) / count * 1e3
        print(f"{fmt.upper()}, one thread, no HTTP: {count / wall:.1f} licences/s ({count / cpu:.1f}/s of CPU: "
              f"{count / cpu / TARGET * 2:.2f} of the target on 2 such cores); first licence of the process "
              f"{cold * 1e3:.0f} ms; per licence ms wall (CPU): {parts}, other {rest:.1f}")
    with contextlib.suppress(Exception):
        home.engine.dispose()
    print(f"[bench/licence.py] at the end: {load_line()}")


if __name__ == "__main__":
    main()
