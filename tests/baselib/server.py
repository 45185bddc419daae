"""A real reference base library for tests (`yitong baselib serve` on a free port, records imported
with `yitong baselib import`), and a small misbehaving HTTP front (slow, failing, or forwarding)."""

from __future__ import annotations

import secrets
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy.engine import make_url

from idp.identity.numbers import org_code_check_character, resident_check_character, uscc_check_character
from tests.helpers import check_run, clean_env, free_port, run_yitong, wait_until_healthy
from yitong import db


def resident_id(body17: str) -> str:
    return body17 + resident_check_character(body17)


def uscc(prefix8: str, org8: str) -> str:
    body = prefix8 + org8 + org_code_check_character(org8)
    return body + uscc_check_character(body)


ZHANG = ("张三", "11010519491231002X")
LI = ("李四", resident_id("11010119850615123"))
WANG_DECEASED = ("王五", resident_id("31010119300101001"))
CHAN_HK = ("陈大文", resident_id("81000019900101123"))
ZHAO = ("赵六", resident_id("12010119920304567"))
COMPANY = ("北京一通科技有限公司", "91110000600037341L")
PILOT = ("福州试点有限公司", "91350100M0001TGQXM")
REVOKED = ("吊销有限公司", uscc("91120000", "MA05ABCD"))

CSV = "\n".join([
    "kind,id_number,name,legal_representative,legal_representative_id_number,status",
    f"person,{ZHANG[1]},{ZHANG[0]},,,active",
    f"person,{LI[1]},{LI[0]},,,",
    f"person,{WANG_DECEASED[1]},{WANG_DECEASED[0]},,,deceased",
    f"person,{CHAN_HK[1]},{CHAN_HK[0]},,,active",
    f"person,{ZHAO[1]},{ZHAO[0]},,,active",
    f"legal_person,{COMPANY[1]},{COMPANY[0]},{ZHANG[0]},{ZHANG[1]},active",
    f"legal_person,{PILOT[1]},{PILOT[0]},{LI[0]},,active",
    f"legal_person,{REVOKED[1]},{REVOKED[0]},{ZHAO[0]},{ZHAO[1]},revoked",
]) + "\n"

# The bank's card register and the carrier's subscriber register (loa:3: 4-factor and 3-factor checks),
# imported as a second file so that CSV above keeps its counts.
ZHANG_CARD = "6222021234567890128"  # 19 digits, reserved phone ZHANG_PHONE
ZHANG_PHONE = "13800138000"  # ZHANG's mobile (carrier) and his card's reserved phone
LI_CARD_FROZEN = "6217001234567890"  # LI's card, frozen: never a match
LI_PHONE = "13900139001"  # LI's mobile, active
ZHAO_PHONE = "13700137000"  # ZHAO's mobile: someone else's number for ZHANG or LI
LI_PHONE_SUSPENDED = "13600136000"  # LI's other mobile, suspended
STRONG_CSV = "\n".join([
    "kind,id_number,name,card_number,phone,status",
    f"bank_card,{ZHANG[1]},{ZHANG[0]},{ZHANG_CARD},{ZHANG_PHONE},active",
    f"bank_card,{LI[1]},{LI[0]},{LI_CARD_FROZEN},{LI_PHONE},frozen",
    f"mobile,{ZHANG[1]},{ZHANG[0]},,{ZHANG_PHONE},active",
    f"mobile,{LI[1]},{LI[0]},,{LI_PHONE},",
    f"mobile,{ZHAO[1]},{ZHAO[0]},,{ZHAO_PHONE},active",
    f"mobile,{LI[1]},{LI[0]},,{LI_PHONE_SUSPENDED},suspended",
]) + "\n"


@dataclass
class Baselib:
    url: str  # the protocol's base URL (…/baselib)
    key: bytes
    process: subprocess.Popen
    env: dict
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def baselib_env(home: Path, key: bytes) -> dict[str, str]:
    env = clean_env()
    env.update(YITONG_HOME=str(home), YITONG_BASELIB_KEY=key.hex(), YITONG_LOG_LEVEL="INFO")
    return env


@contextmanager
def running_baselib(directory: Path, *, port: int | None = None, key: bytes | None = None):
    """`yitong baselib serve` on a fresh SQLite home with :data:`CSV` and :data:`STRONG_CSV` imported;
    stopped afterwards."""
    key = key or secrets.token_bytes(32)
    home = directory / "baselib-home"
    home.mkdir(parents=True, exist_ok=True)
    engine = db.make_engine(make_url(f"sqlite:///{home / 'yitong.db'}"))
    db.upgrade(engine)
    engine.dispose()
    env = baselib_env(home, key)
    records = directory / "records.csv"
    records.write_text(CSV, encoding="utf-8")
    check_run(run_yitong(["baselib", "import", str(records)], env), "yitong baselib import")
    strong = directory / "strong.csv"
    strong.write_text(STRONG_CSV, encoding="utf-8")
    check_run(run_yitong(["baselib", "import", str(strong)], env), "yitong baselib import (bank, carrier)")
    with start_server(directory, env, key, port or free_port()) as server:
        yield server


@contextmanager
def start_server(directory: Path, env: dict, key: bytes, port: int):
    exe = shutil.which("yitong", path=str(Path(sys.executable).parent)) or "yitong"
    log_path = directory / f"baselib-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([exe, "baselib", "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
    server = Baselib(f"http://127.0.0.1:{port}/baselib", key, process, env, log_path)
    try:
        wait_until_healthy(process, f"http://127.0.0.1:{port}", server.log)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Front:
    """An HTTP server in front of the base library: each request takes the next step of ``plan``
    (an HTTP status to answer with, ``"sleep"`` to hang for ``sleep_seconds``, or ``"forward"``),
    and keeps taking the last one. ``hits`` counts the requests that arrived."""

    upstream: str  # e.g. http://127.0.0.1:8100
    plan: list = field(default_factory=lambda: ["forward"])
    sleep_seconds: float = 3.0
    hits: int = 0
    port: int = 0
    scheme: str = "http"
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/baselib"

    def next_step(self):
        with self._lock:
            self.hits += 1
            return self.plan[min(self.hits, len(self.plan)) - 1]


@contextmanager
def running_front(upstream: str, plan: list, sleep_seconds: float = 3.0, tls: tuple | None = None):
    """The front on a free port; ``tls=(chain.pem, key.pem)`` serves HTTPS."""
    front = Front(upstream, list(plan), sleep_seconds)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            step = front.next_step()
            if step == "sleep":
                time.sleep(front.sleep_seconds)
                step = "forward"
            if step == "forward":
                headers = {k: v for k, v in self.headers.items() if k.lower().startswith(("x-baselib", "content-type"))}
                request = urllib.request.Request(front.upstream + self.path, data=body, headers=headers, method="POST")
                try:
                    with urllib.request.urlopen(request, timeout=10) as answer:
                        status, data, ctype = answer.status, answer.read(), answer.headers.get("Content-Type")
                except urllib.error.HTTPError as exc:
                    status, data, ctype = exc.code, exc.read(), exc.headers.get("Content-Type")
            else:
                status, data, ctype = int(step), b'{"title": "failing on purpose"}', "application/problem+json"
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype or "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up (timeout): nothing to do

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        front.scheme = "https"
    front.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield front
    finally:
        server.shutdown()
        server.server_close()
