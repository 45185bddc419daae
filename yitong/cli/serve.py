"""`yitong serve` (gunicorn) and `yitong worker` (RQ)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import click

from yitong.cli.common import open_home

THREADS = 8


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
    shared = bool(home.settings.redis_url)
    if workers is None:
        workers = default_workers(shared)
    if workers > 1 and not shared:
        raise click.UsageError("--workers > 1 needs YITONG_REDIS_URL: without Redis the in-process stores "
                               "(sessions, replay caches, rate limits) would not be shared between workers")
    if bool(certfile) != bool(keyfile):
        raise click.UsageError("--certfile and --keyfile go together")
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

        def load(self):
            return app

    # The checks above and create_app() opened pooled connections in this (master) process;
    # forked workers must not share those sockets (SQLAlchemy "using connection pools with
    # multiprocessing"): drop them here, and have each worker forget any it inherited.
    home.engine.dispose()
    scheme = "https" if certfile else "http"
    click.echo(f"Yitong on {scheme}://{host}:{port} (issuer {home.settings.issuer}; "
               f"{workers} worker(s) x {THREADS} threads)", err=True)
    public = urlsplit(home.settings.issuer)
    public_port = public.port or (443 if public.scheme == "https" else 80)
    if public.hostname in ("127.0.0.1", "localhost", "::1") and public_port != port:
        click.echo(f"warning: this home's public URL {home.settings.issuer} is on this machine but not on port "
                   f"{port}: clients following it will miss this server (`yitong home show`; --port "
                   f"{public_port})", err=True)
    _Gunicorn().run()


@click.command()
@click.option("--burst", is_flag=True, help="Run the queued jobs, then exit.")
def worker(burst: bool) -> None:
    """Run background jobs from Redis (RQ). Needs YITONG_REDIS_URL."""
    home = open_home()
    if not home.settings.redis_url:
        raise click.UsageError("`yitong worker` needs YITONG_REDIS_URL; without Redis, jobs run inside `yitong serve`")
    from yitong.cli.seal import reconcile_jobs

    home.runtime.jobs.worker(maintenance=lambda: reconcile_jobs(home)).work(burst=burst)
