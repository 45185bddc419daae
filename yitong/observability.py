"""Logs and metrics of the web service (issue 16): request ids, JSON log lines, ``/metrics``.

- Every request gets a request id (the client's ``X-Request-Id`` when it is a short token,
  else a new one); it is sent back in ``X-Request-Id`` and is on every log line written while the
  request runs, on its access-log line and in its audit events (keys/observe.py holds it).
- ``YITONG_LOG_FORMAT=json`` writes one JSON object per line (timestamp, level, logger, message,
  request_id, client_id, sub_hash, route, and status / duration_ms on access lines); ``text``
  the classic lines. Without the setting: json unless stderr is a terminal.
- ``/metrics`` serves the Prometheus text format, from every gunicorn worker at once in
  multi-process mode (``PROMETHEUS_MULTIPROC_DIR``, which ``yitong serve`` sets up), to the
  addresses of ``YITONG_METRICS_ALLOW`` (default loopback) or with ``YITONG_METRICS_TOKEN``.

This module may import keys/ (observe, the keystore's key list) and yitong.proxy; rooms never
import it, they call keys/observe.py.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import re
import sys
import time
from datetime import UTC, datetime

from flask import Flask, Response, request

from keys import observe
from keys.runtime import stamp_snapshot
from yitong.settings import SettingsError

LOG_FORMATS = ("json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# Attributes every LogRecord has; anything else on a record was passed with extra= and is shown.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
_CONTEXT_FIELDS = ("request_id", "client_id", "sub_hash", "route")


# -- log lines -------------------------------------------------------------------------------------------
class ContextFilter(logging.Filter):
    """Puts the current request's id, client, subject hash and route on each record (unless the
    record already carries them, as access-log lines written after the request do)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = observe.current()
        values = _context_fields(context)
        for name in _CONTEXT_FIELDS:
            if not hasattr(record, name):
                setattr(record, name, values[name])
        return True


def _context_fields(context: observe.RequestContext | None) -> dict:
    if context is None:
        return dict.fromkeys(_CONTEXT_FIELDS)
    return {"request_id": context.request_id, "client_id": context.client_id,
            "sub_hash": observe.subject_hash(context.sub), "route": context.route}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``-`` placeholders become absent keys, extras are kept."""

    def format(self, record: logging.LogRecord) -> str:
        body = {"timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"), "level": record.levelname, "logger": record.name,
                "message": record.getMessage()}
        for name, value in record.__dict__.items():
            if name not in _STANDARD and value is not None and not name.startswith("_"):
                body[name] = value
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


def log_format(environ: dict | None = None, stream=None) -> str:
    """``YITONG_LOG_FORMAT``, or json unless ``stream`` (stderr) is a terminal."""
    environ = os.environ if environ is None else environ
    value = environ.get("YITONG_LOG_FORMAT", "").strip().lower()
    if not value:
        stream = sys.stderr if stream is None else stream
        return "text" if getattr(stream, "isatty", lambda: False)() else "json"
    if value not in LOG_FORMATS:
        raise SettingsError(f"YITONG_LOG_FORMAT must be json or text, not {value!r}")
    return value


def formatter(fmt: str) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter(TEXT_FORMAT)


def configure(level: str, fmt: str, stream=None) -> None:
    """The root logger's one handler, in the chosen format, with the request context filter."""
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(formatter(fmt))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_yitong", False):
            root.removeHandler(old)
    handler._yitong = True
    root.addHandler(handler)
    root.setLevel(level)


# -- request ids and request metrics ---------------------------------------------------------------------
ENVIRON_KEY = "yitong.request"


class RequestContextMiddleware:
    """WSGI: opens the request's context (keys/observe), answers its id in ``X-Request-Id``, and
    counts the request by route template and status when the application has answered."""

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ, start_response):
        supplied = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = supplied if _REQUEST_ID.fullmatch(supplied) else os.urandom(16).hex()
        context, token = observe.begin(request_id)
        environ[ENVIRON_KEY] = context
        started = time.perf_counter()
        status_seen = ["500"]

        def start(status, headers, exc_info=None):
            status_seen[0] = status.split(" ", 1)[0]
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            headers.append(("X-Request-Id", request_id))
            return start_response(status, headers, exc_info)

        try:
            with stamp_snapshot():  # the request's change stamps in one Redis round trip (keys/runtime)
                return self.app(environ, start)
        finally:
            observe.end(token)
            try:
                observe.http_request(environ.get("REQUEST_METHOD", "-")[:10], context.route or "<unmatched>",
                                     int(status_seen[0]), time.perf_counter() - started)
            except Exception:  # a metric must never cost a request
                logging.getLogger("yitong").exception("could not count a request")


def install(app: Flask) -> None:
    """The middleware (outermost, so that every answer has an id) and the route hook."""

    @app.before_request
    def _route():
        context = request.environ.get(ENVIRON_KEY)
        if context is not None and request.url_rule is not None:
            context.route = request.url_rule.rule

    app.wsgi_app = RequestContextMiddleware(app.wsgi_app)


def access_fields(environ: dict) -> dict:
    """The request's context for its access-log line (written by gunicorn after the request)."""
    return _context_fields(environ.get(ENVIRON_KEY))


# -- /metrics --------------------------------------------------------------------------------------------
class MetricsGate:
    """Who may read /metrics: a peer in the allowed networks (as yitong.proxy resolved it), or a
    caller with the bearer token. A request that says it was forwarded (``X-Forwarded-For``)
    without coming through a configured proxy is not believed to be local: a proxy on this
    machine that nobody configured would otherwise make every client look like loopback."""

    def __init__(self, allow: tuple[str, ...], token: str | None) -> None:
        self.networks = tuple(ipaddress.ip_network(n, strict=False) for n in allow)
        self.token = token

    def admits(self, environ: dict, authorization: str | None) -> bool:
        if self.token and authorization and authorization.startswith("Bearer ") and \
                hmac.compare_digest(authorization[7:].strip().encode(), self.token.encode()):
            return True
        from yitong.proxy import ORIGINAL_ENVIRON_KEY

        if environ.get("HTTP_X_FORWARDED_FOR") and ORIGINAL_ENVIRON_KEY not in environ:
            return False
        try:
            address = ipaddress.ip_address(environ.get("REMOTE_ADDR", ""))
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)


def register_metrics(app: Flask, gate: MetricsGate, collectors=()) -> None:
    """``GET /metrics``: the Prometheus text format, summed over workers in multi-process mode,
    plus the figures read at scrape time (``collectors``: key ages, expiry times, queue depth)."""

    @app.get("/metrics")
    def metrics():
        if not gate.admits(request.environ, request.headers.get("Authorization")):
            body = {"type": "about:blank", "title": "Forbidden", "status": 403,
                    "detail": "/metrics is served to the configured addresses or with the metrics token"}
            return Response(json.dumps(body), 403, {"Content-Type": "application/problem+json"})
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(scrape(collectors), 200, {"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})


def scrape(collectors=()) -> bytes:
    """The text format of this process's metrics, or of every process in the multi-process folder,
    then ``collectors``. The folder changes while it is read: a worker folding a finished work
    horse's file (keys/observe.py) may remove a file between the folder's listing and its reading,
    and a process making its file leaves it empty for a moment before it sizes it (prometheus_client
    then fails with struct.error; seen in the scale-out test's worker scrape): the scrape is then
    read again."""
    import struct

    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        for attempt in range(3):
            try:
                output = generate_latest(registry)
                break
            except (FileNotFoundError, struct.error):
                if attempt == 2:
                    raise
                time.sleep(0.01)
    else:
        output = generate_latest(REGISTRY)
    if collectors:
        extra = CollectorRegistry()
        for collector in collectors:
            extra.register(collector)
        output += generate_latest(extra)
    return output


def metrics_app(gate: MetricsGate) -> Flask:
    """A web app serving /metrics only: `yitong worker --metrics-port` on a host of its own."""
    app = Flask("yitong.worker")
    register_metrics(app, gate)
    return app


class HomeCollector:
    """Figures read when Prometheus scrapes (the same for every worker, so not summed): the age of
    each purpose's oldest active key, when each CA certificate expires and each CRL's nextUpdate
    (alert before either passes), and the job queue's depth and failures. A part that cannot be
    read is left out and counted in ``yitong_scrape_errors``, never a failed scrape."""

    def __init__(self, home) -> None:
        self.home = home

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        errors = GaugeMetricFamily("yitong_scrape_errors", "Parts of the scrape-time figures that could not be read",
                                   labels=["part"])
        for part, reader in (("keys", self._keys), ("pki", self._pki), ("jobs", self._jobs)):
            try:
                yield from reader(GaugeMetricFamily)
                errors.add_metric([part], 0)
            except Exception as exc:  # a scrape reports what it can
                logging.getLogger("yitong").warning("metrics: could not read %s: %s", part, type(exc).__name__)
                errors.add_metric([part], 1)
        yield errors

    def _keys(self, family):
        now = datetime.now(UTC)
        oldest: dict[tuple[str, str], float] = {}
        for record in self.home.keystore().list(states=("active",)):
            since = record.activated_at or record.created_at
            age = (now - since.replace(tzinfo=since.tzinfo or UTC)).total_seconds()
            key = (record.purpose, record.algorithm)
            oldest[key] = max(age, oldest.get(key, 0.0))
        ages = family("yitong_key_age_seconds", "Age of the oldest active key of each purpose and algorithm",
                      labels=["purpose", "algorithm"])
        for (purpose, algorithm), age in sorted(oldest.items()):
            ages.add_metric([purpose, algorithm], age)
        yield ages

    def _pki(self, family):
        from asn1crypto import crl as asn1_crl

        pki = self.home.pki()
        expiry = family("yitong_ca_certificate_expiry_timestamp_seconds", "When each CA certificate expires",
                        labels=["ca"])
        next_update = family("yitong_crl_next_update_timestamp_seconds", "nextUpdate of each CA's current CRL",
                             labels=["ca"])
        for name in pki.ca_names():
            expiry.add_metric([name], pki.ca_certificate(name).not_valid_after.timestamp())
            listed = asn1_crl.CertificateList.load(pki.crl(name))
            next_update.add_metric([name], listed["tbs_cert_list"]["next_update"].native.timestamp())
        yield expiry
        yield next_update

    def _jobs(self, family):
        counts = self.home.runtime.jobs.counts()
        depth = family("yitong_job_queue_jobs", "Jobs in the queue by state (queued, started, failed)",
                       labels=["state"])
        for state, count in counts.items():
            depth.add_metric([state], count)
        yield depth
