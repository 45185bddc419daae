"""`yitong serve` (gunicorn) and `yitong worker` (RQ)."""

from __future__ import annotations

import gc
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import click

from yitong.cli.common import open_home

THREADS = 8
log = logging.getLogger("yitong.serve")
# gunicorn's default access line, then the request id (yitong/observability.py) for the text format.
TEXT_ACCESS_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %({x-request-id}o)s'


def metrics_directory(environ=os.environ) -> Path:
    """The folder prometheus_client's multi-process mode shares between this server's workers:
    PROMETHEUS_MULTIPROC_DIR when set, else a new one; emptied now, since figures of an earlier
    run (or of dead workers' pids reused) would be added to this one's."""
    configured = environ.get("PROMETHEUS_MULTIPROC_DIR")
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            if not _alive(_writer(stale)):  # a `yitong worker` sharing the folder keeps its files
                stale.unlink(missing_ok=True)
    else:
        path = Path(tempfile.mkdtemp(prefix="yitong-metrics-"))
    environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    if "prometheus_client.values" in sys.modules:  # chosen at import: choose again
        from prometheus_client import values

        values.ValueClass = values.get_value_class()
    return path


def _writer(path: Path) -> int:
    """The process that wrote a multi-process file: ``counter_123.db``, ``gauge_livesum_123.db``,
    ``counter_folded123.db`` (a worker's, keys/observe.py); 0 when the name holds none."""
    digits = "".join(c for c in path.stem.rsplit("_", 1)[-1] if c.isdigit())
    return int(digits) if digits else 0


def _alive(pid: int) -> bool:
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def collect_garbage_less_often() -> None:
    """Freeze what the process has built so far (imports, the app) out of the cyclic collector's scans, and
    let it run after 50,000 new objects instead of Python's default 700.

    A forking server should freeze before it forks (the gc module's documentation: the workers' collections
    then neither scan the master's objects nor write to their pages, which stay shared). Measured here: the
    test processes, which make thousands of apps, cut tests/idp from 112 s to 92 s of CPU with it; a served
    IdP's grants/s did not move (bench/oidc.py: 686 with it, 688 without)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def default_workers(shared_state: bool) -> int:
    """One worker without Redis (in-process stores must be shared); else 2 × cores + 1, at most 8."""
    if not shared_state:
        return 1
    return min(8, 2 * (os.cpu_count() or 1) + 1)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="gunicorn worker processes [default: 1 without Redis; 2 x cores + 1 (max 8) with Redis].")
@click.option("--certfile", type=click.Path(exists=True, dir_okay=False),
              help="Serve HTTPS with this certificate chain (PEM); usually a proxy terminates TLS instead.")
@click.option("--keyfile", type=click.Path(exists=True, dir_okay=False), help="The private key for --certfile.")
def serve(host: str, port: int, workers: int | None, certfile: str | None, keyfile: str | None) -> None:
    """Run the service with gunicorn (threads in each worker).

    Without YITONG_REDIS_URL the sessions, replay caches and rate limits live in the process,
    so exactly one worker runs; with Redis several workers share them.
    """
    from gunicorn.app.base import BaseApplication

    from yitong.accesslog import RedactingLogger
    from yitong.app import create_app

    home = open_home()
    home.check_ready_to_serve()
    logging.getLogger().setLevel(home.settings.log_level)
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))  # its set-up chatter
    shared = bool(home.settings.redis_url)
    if workers is None:
        workers = default_workers(shared)
    if workers > 1 and not shared:
        raise click.UsageError("--workers > 1 needs YITONG_REDIS_URL: without Redis the in-process stores "
                               "(sessions, replay caches, rate limits) would not be shared between workers")
    if bool(certfile) != bool(keyfile):
        raise click.UsageError("--certfile and --keyfile go together")
    own_metrics_dir = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    metrics_dir = metrics_directory()  # before the app: metrics made from here on are per-process files
    app = create_app(home.settings, home)

    class _Gunicorn(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", THREADS)
            self.cfg.set("accesslog", "-")
            self.cfg.set("errorlog", "-")
            self.cfg.set("graceful_timeout", 20)
            self.cfg.set("timeout", 60)
            self.cfg.set("proc_name", "yitong")
            self.cfg.set("control_socket_disable", True)  # gunicorn 27: one fixed path would clash between instances
            if certfile:
                self.cfg.set("certfile", certfile)
                self.cfg.set("keyfile", keyfile)
            self.cfg.set("post_fork", lambda _server, _worker: home.engine.dispose(close=False))
            # The proxies yitong.proxy believes for X-Forwarded-For also set the scheme; nobody by default.
            self.cfg.set("forwarded_allow_ips", ",".join(home.settings.trusted_proxies))
            self.cfg.set("logger_class", RedactingLogger)
            self.cfg.set("access_log_format", TEXT_ACCESS_FORMAT)
            self.cfg.set("child_exit", _worker_exited)

        def load(self):
            return app

    # The checks above and create_app() opened pooled connections in this (master) process;
    # forked workers must not share those sockets (SQLAlchemy "using connection pools with
    # multiprocessing"): drop them here, and have each worker forget any it inherited.
    home.engine.dispose()
    collect_garbage_less_often()  # before gunicorn forks the workers
    scheme = "https" if certfile else "http"
    log.info("Yitong on %s://%s:%s (issuer %s; %d worker(s) x %d threads)", scheme, host, port,
             home.settings.issuer, workers, THREADS)
    public = urlsplit(home.settings.issuer)
    public_port = public.port or (443 if public.scheme == "https" else 80)
    if public.hostname in ("127.0.0.1", "localhost", "::1") and public_port != port:
        log.warning(f"warning: this home's public URL {home.settings.issuer} is on this machine but not on port "
                    f"{port}: clients following it will miss this server (`yitong home show`; --port "
                    f"{public_port})")
    master = os.getpid()
    try:
        _Gunicorn().run()
    finally:
        # Workers are forked inside run() and leave it through here too: only the master cleans up.
        if own_metrics_dir and os.getpid() == master:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _worker_exited(_server, worker) -> None:
    """A dead worker's live gauges leave the sums (its counters stay: they happened)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


@click.command()
@click.option("--burst", is_flag=True, help="Run the queued jobs, then exit.")
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
              help="Serve this worker's /metrics on this port (a worker on a host of its own; the same "
                   "YITONG_METRICS_ALLOW / YITONG_METRICS_TOKEN as the app's).")
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address for --metrics-port.")
def worker(burst: bool, metrics_port: int | None, metrics_host: str) -> None:
    """Run background jobs from Redis (RQ). Needs YITONG_REDIS_URL.

    Its metrics (jobs by outcome and time, documents sealed and licences issued by jobs) go to
    PROMETHEUS_MULTIPROC_DIR: give it the folder of the `yitong serve` on the same host and the
    app's /metrics adds them up; or serve them with --metrics-port for Prometheus to scrape.
    """
    home = open_home()
    if not home.settings.redis_url:
        raise click.UsageError("`yitong worker` needs YITONG_REDIS_URL; without Redis, jobs run inside `yitong serve`")
    from yitong.cli.seal import reconcile_jobs

    shared = "PROMETHEUS_MULTIPROC_DIR" in os.environ
    if shared:  # the app's folder (it clears it when it starts): add to it, remove nothing
        Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
        if "prometheus_client.values" in sys.modules:
            from prometheus_client import values

            values.ValueClass = values.get_value_class()
        metrics_dir = None
    else:
        metrics_dir = metrics_directory()
    server = None
    try:
        if metrics_port is not None:
            server = _serve_metrics(home.settings, metrics_host, metrics_port)
        home.runtime.jobs.worker(maintenance=lambda: reconcile_jobs(home)).work(burst=burst)
    finally:
        if server is not None:
            server.shutdown()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _serve_metrics(settings, host: str, port: int):
    """/metrics of this worker (and its work horses) in a thread, behind the app's gate."""
    import threading

    from werkzeug.serving import make_server

    from yitong.observability import MetricsGate, metrics_app

    try:
        server = make_server(host, port, metrics_app(MetricsGate(settings.metrics_allow, settings.metrics_token)),
                             threaded=True)
    except OSError as exc:
        raise click.ClickException(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None
    threading.Thread(target=server.serve_forever, name="yitong-metrics", daemon=True).start()
    log.info("worker metrics on http://%s:%s/metrics", host, port)
    return server
