"""Helpers for tests (import them; fixtures live in conftest.py)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

CI = os.environ.get("CI", "").lower() == "true"

# The suite hashes passwords at a cost far below OWASP's (tests/conftest.py sets it for the session and
# clean_env hands it on): some two thousand hashes and verifications at m=19456,t=2 spent about 40 s of
# CPU. tests/idp/test_security.py checks the default cost itself; YITONG_PASSWORD_ARGON2=m=19456,t=2,p=1
# make test runs the whole suite at the real one.
TEST_PASSWORD_COST = "m=256,t=1,p=1"
_KEPT = ("YITONG_PASSWORD_ARGON2",)


def clean_env(drop: tuple[str, ...] = ()) -> dict[str, str]:
    """This process's environment without Yitong's settings (and without the variables starting with any of
    ``drop``): what a test hands a `yitong` it starts, adding the settings it means. The suite's password
    hashing cost is kept."""
    return {k: v for k, v in os.environ.items()
            if (k in _KEPT or not k.startswith("YITONG_")) and not (drop and k.startswith(drop))}


def require_tool(name: str) -> str:
    """The tool's path; a missing tool skips locally and FAILS under CI (never a silent pass)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed; .ci/run installs it"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def npm_ci_once(folder: Path, installed: Path) -> None:
    """`npm ci` in ``folder`` unless ``installed`` (a file it brings) is there, one process at a time.

    xdist workers of a fresh clone reach this together, and `npm ci` empties node_modules before it
    fills it: without the lock one worker reads a half-written file while another installs (seen:
    axe.min.js evaluated half-written)."""
    import fcntl

    with open(folder / ".npm-ci.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not installed.exists():
            npm = require_tool("npm")
            result = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=folder, capture_output=True,
                                    text=True, timeout=300)
            assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"


# Commands that start a server or a worker run as a process of their own even in process=False mode: in
# the test's process they would serve until killed.
_LONG_RUNNING = (("serve",), ("worker",), ("baselib", "serve"))


def run_yitong(args: list[str], env: dict[str, str], input: bytes | None = None, cwd: Path | None = None, *,
               process: bool = False) -> subprocess.CompletedProcess:
    """Run `yitong` as a user would: ``yitong.cli.main`` with exactly ``env`` as the environment, ``input``
    on stdin and ``cwd`` as the working directory; stdout, stderr and the exit code as
    ``subprocess.run`` gives them.

    In the test's own process by default: each `yitong` process would pay the import of the whole
    service (seconds on a busy machine) for a command that takes milliseconds. ``process=True`` runs
    the installed console script (a test of the process itself: its imports, its exit on a signal);
    ``serve`` and ``worker`` always do, and so does every command when YITONG_TEST_CLI=process (to
    check that a test passes the same both ways, or to time the difference).
    """
    process = process or os.environ.get("YITONG_TEST_CLI") == "process"
    if process or any(tuple(args[:len(prefix)]) == prefix and "--help" not in args for prefix in _LONG_RUNNING):
        exe = shutil.which("yitong", path=str(Path(sys.executable).parent)) or "yitong"
        return subprocess.run([exe, *args], env=env, input=input, capture_output=True, cwd=cwd, timeout=120)
    return _run_in_process(list(args), env, input, cwd)


def _run_in_process(args: list[str], env: dict[str, str], input: bytes | None, cwd: Path | None):
    """``yitong.cli.main(args)`` under click's CliRunner isolation (stdin, stdout, stderr, environment),
    with the root logger as a fresh process has it (the CLI configures logging to its own stderr)."""
    import logging
    import traceback

    from click.testing import CliRunner

    from yitong.cli import main

    runner = CliRunner()
    overrides = {name: env.get(name) for name in {*os.environ, *env}}  # None: unset for the call
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    previous_dir = os.getcwd()
    code = 0
    with runner.isolation(input=input, env=overrides) as (out, err, _):
        root.handlers[:] = []
        try:
            if cwd is not None:
                os.chdir(cwd)
            main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                sys.stderr.write(f"{exc.code}\n")
        except BaseException:  # what the interpreter does with an uncaught exception: a traceback, exit 1
            traceback.print_exc(file=sys.stderr)
            code = 1
        finally:
            os.chdir(previous_dir)
            for handler in root.handlers:
                handler.flush()
            root.handlers[:], level = saved
            root.setLevel(level)
            sys.stdout.flush()
            sys.stderr.flush()
        stdout, stderr = out.getvalue(), err.getvalue()
    return subprocess.CompletedProcess(["yitong", *args], code, stdout, stderr)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(process: subprocess.Popen, base: str, server_output, *, context=None,
                       seconds: float = 30) -> None:
    """Wait until ``base``/healthz answers, failing at once if the server process has exited.

    ``server_output()`` gives the server's output for the failure message.
    """
    import time
    import urllib.request

    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            pytest.fail(f"server exited: {server_output()}")
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1, context=context).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"server did not answer within {seconds:.0f} s: {server_output()}")
            time.sleep(0.1)


def check_run(result: subprocess.CompletedProcess, what: str) -> bytes:
    """stdout of a command that must have succeeded (else its output in the failure)."""
    assert result.returncode == 0, f"{what} failed: {result.stdout!r} {result.stderr!r}"
    return result.stdout


def issue_tls_server_certificate(env: dict[str, str], directory: Path) -> tuple[Path, Path, Path]:
    """A TLS server certificate for localhost/127.0.0.1 from the home's own p256-issuing CA.

    The home (``env``'s YITONG_HOME) must be migrated. Returns (chain.pem: leaf + issuing CA,
    tls.key, p256-root.pem): the root is what a client must trust (Node's NODE_EXTRA_CA_CERTS, an
    NSS database for Chromium); only the P-256 root, since TLS stacks cannot read the SM2 one.
    """
    from keys.pki.certificates import certificate_pem
    from yitong.home import Home
    from yitong.settings import Settings

    openssl = require_tool("openssl")
    home = Home(Settings.from_env(env))
    pki = home.pki()
    ca_file = directory / "p256-root.pem"
    ca_file.write_bytes(certificate_pem(pki.ca_certificate("p256-root")))
    issuing = certificate_pem(pki.ca_certificate("p256-issuing"))
    home.engine.dispose()

    key, csr, leaf, chain = (directory / name for name in ("tls.key", "tls.csr", "tls.pem", "chain.pem"))
    check_run(subprocess.run([openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                              "-out", str(key)], capture_output=True), "openssl genpkey")
    check_run(subprocess.run([openssl, "req", "-new", "-key", str(key), "-subj", "/CN=localhost",
                              "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-out", str(csr)],
                             capture_output=True), "openssl req")
    check_run(run_yitong(["pki", "issue", "--profile", "tls-server", "--csr", str(csr), "--out", str(leaf)], env),
              "yitong pki issue --profile tls-server")
    chain.write_bytes(leaf.read_bytes() + issuing)  # without the issuing CA, clients report an unknown CA
    return chain, key, ca_file


class PrivateRedis:
    """A redis-server of one test's own, on a free port and without persistence, to stop, pause
    (SIGSTOP) and restart at will: never the Redis on 6379 that everybody shares."""

    def __init__(self, directory: Path) -> None:
        self.executable = require_tool("redis-server")
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        import time

        import redis

        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                client.close()
                return
            except redis.RedisError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server on port {self.port} did not start")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        """Stop and start again on the same port: empty, as a server without persistence comes back."""
        self.stop()
        self.start()

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)


def check_openapi_covers(document: dict, app, prefix: str) -> set[tuple[str, str]]:
    """Check an OpenAPI 3.1 document's structure (openapi-spec-validator is not a dependency) and that
    it describes exactly the routes ``app`` serves under ``prefix`` (its own openapi.json aside);
    returns the (path, METHOD) pairs described."""
    import re

    assert document["openapi"] == "3.1.0" and document["info"]["title"] and document["info"]["version"]
    assert document["servers"][0]["url"].endswith(prefix)
    schemes = document["components"]["securitySchemes"]
    described = set()
    for path, item in document["paths"].items():
        assert path.startswith("/")
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert method in ("get", "post", "put", "patch", "delete"), (path, method)
            assert operation["summary"] and operation["responses"], (path, method)
            assert all(re.fullmatch(r"[1-5][0-9][0-9]", code) for code in operation["responses"]), (path, method)
            assert all(name in schemes for requirement in operation.get("security", []) for name in requirement)
            named = {p["name"] for p in item.get("parameters", []) + operation.get("parameters", [])
                     if p["in"] == "path"}
            assert named == set(re.findall(r"{([^}]+)}", path)), (path, method, named)
            described.add((path, method.upper()))
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(prefix + "/") and not rule.rule.endswith("/openapi.json"):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule.removeprefix(prefix))
            served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert described == served, (described ^ served)
    return described
