"""Licences issued per second, end to end through the API on the embedded default, against the
seal API sealing a one-page PDF in the same run (the anchor: a licence is that plus rendering the
face, the signed 2D code and storing the row in one transaction), then where the time goes.

Both go over HTTP to one `yitong serve` (SQLite, no Redis, one worker with 8 threads) from the
same number of client threads, with real client-credentials tokens; both seal at B-LT. Target
(issue 15): >= 50 one-page licences/s on this 2-core machine.
"""

from __future__ import annotations

import argparse
import base64
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

from tests.helpers import free_port
from tests.seal.pdfs import make_pdf

FOOD = "11100000MB0A00018B001"
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


def rate(calls, threads: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        statuses = list(pool.map(lambda call: call(), calls))
    elapsed = time.perf_counter() - start
    assert all(s in (200, 201) for s in statuses), statuses
    return len(calls) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=60, help="licences (and seals) per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("YITONG_")}
        env.update(YITONG_HOME=f"{tmp}/home", YITONG_ISSUER=base)
        subprocess.run([YITONG, "db", "upgrade"], env=env, capture_output=True, check=True)
        issuer = cli(env, "client", "create", "--name", "bench", "--grant", "client_credentials", "--scope",
                     "licence:issue seal:sign", "--json")
        subprocess.run([YITONG, "licence", "client", "allow", issuer["client_id"], "--authority",
                        "11120000MB1A0001XT"], env=env, check=True, capture_output=True)
        esid = cli(env, "licence", "type", "show", FOOD, "--json")["esid"]
        subprocess.run([YITONG, "seal", "grant", esid, "--client", issuer["client_id"]], env=env, check=True,
                       capture_output=True)
        server = subprocess.Popen([YITONG, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            for _ in range(200):
                try:
                    urllib.request.urlopen(f"{base}/healthz", timeout=2).read()  # noqa: S310
                    break
                except OSError:
                    time.sleep(0.2)
            licence_bearer = token(base, issuer, f"{base}/licences", "licence:issue")
            seal_bearer = token(base, issuer, f"{base}/seal", "seal:sign")
            pdf = make_pdf(1)
            issue_headers = {"Authorization": f"Bearer {licence_bearer}", "Content-Type": "application/json"}
            seal_headers = {"Authorization": f"Bearer {seal_bearer}", "Content-Type": "application/pdf"}
            body = json.dumps(BODY, ensure_ascii=False).encode()
            post(f"{base}/licences/api/v1/licences", body, issue_headers)  # warm: sealer, token checks
            post(f"{base}/seal/seals/{esid}/sign?x_mm=150&y_mm=230", pdf, seal_headers)
            ratios = []
            for number in range(1, args.rounds + 1):
                licences = rate([lambda: post(f"{base}/licences/api/v1/licences", body, issue_headers)]
                                * args.count, args.threads)
                seals = rate([lambda: post(f"{base}/seal/seals/{esid}/sign?x_mm=150&y_mm=230", pdf, seal_headers)]
                             * args.count, args.threads)
                ratios.append(licences / seals)
                print(f"round {number}: licences (PDF, B-LT, through the API) {licences:6.1f}/s; "
                      f"anchor: seal API one-page PDF (B-LT) {seals:6.1f}/s; ratio {licences / seals:.2f}")
            print(f"median ratio licences / seals: {statistics.median(ratios):.2f} (target: >= 50 licences/s)")
        finally:
            os.killpg(server.pid, 15)
        where_time_goes(env)


def where_time_goes(env: dict) -> None:
    """One process, no HTTP: validating, rendering, sealing and storing, each timed over 30 licences."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("YITONG_")})
    from licence import library as lib_module
    from licence.pdf_face import PdfFace
    from seal.registry import SealRegistry
    from yitong.cli.common import open_home

    home = open_home()
    library = lib_module.LicenceLibrary(home.engine, SealRegistry(home.engine, home.keystore(), home.pki()),
                                        issuer=home.settings.issuer)
    spent = {"render": 0.0, "seal": 0.0}
    face = PdfFace()
    render, seal = face.render, face.seal

    def timed(name, fn):
        def run(*a, **kw):
            start = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                spent[name] += time.perf_counter() - start
        return run

    face.render, face.seal = timed("render", render), timed("seal", seal)
    library.renderers = {"pdf": face}
    request = lib_module.IssueRequest(FOOD, BODY["holder_id"], BODY["holder_name"], BODY["data"])
    library.issue(request, actor="bench")
    spent.update(render=0.0, seal=0.0)
    start = time.perf_counter()
    for _ in range(30):
        library.issue(request, actor="bench")
    total = time.perf_counter() - start
    rest = total - spent["render"] - spent["seal"]
    print(f"in one thread: {30 / total:.1f} licences/s; per licence render {spent['render'] / 30 * 1e3:.1f} ms, "
          f"seal (B-LT) {spent['seal'] / 30 * 1e3:.1f} ms, checks + serial + 2D-code signature + store "
          f"{rest / 30 * 1e3:.1f} ms")
    from licence.ofd_face import OfdFace

    ofd = OfdFace()
    ofd.render, ofd.seal = timed("render", ofd.render), timed("seal", ofd.seal)
    library.renderers["ofd"] = ofd
    request = lib_module.IssueRequest(FOOD, BODY["holder_id"], BODY["holder_name"], BODY["data"], format="ofd")
    spent.update(render=0.0, seal=0.0)
    start = time.perf_counter()
    for _ in range(3):
        library.issue(request, actor="bench")
    total = time.perf_counter() - start
    print(f"OFD, in one thread: {3 / total:.2f} licences/s; per licence render {spent['render'] / 3 * 1e3:.0f} ms "
          f"(the embedded CJK font subset, ofd/fonts.py), seal (B-T) {spent['seal'] / 3 * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
