"""What the service tells its operator: the context of a request's log lines, and the counters
that ``/metrics`` serves (issue 16).

Rooms call the one-line functions here where an event happens (``observe.note(client_id=...)``,
``observe.sign_in(...)``, ``observe.sealed(...)``); the web layer (yitong/observability.py) opens a
request context for every request, names it in the logs and the ``X-Request-Id`` header, and
serves the metrics. This module imports no web framework (keys/ stays web-free); it may import
only the standard library and prometheus_client.

prometheus_client is imported at the first metric, not with this module: in multi-process mode
(gunicorn workers) ``PROMETHEUS_MULTIPROC_DIR`` must be set before any metric exists, and
``yitong serve`` sets it after the CLI's modules are loaded.

Labels take names of kinds, outcomes and routes only, never a subject, a login or a value a
client chose freely (each distinct label value is a new time series).
"""

from __future__ import annotations

import contextvars
import hashlib
import threading
from dataclasses import dataclass
from typing import Any

# -- the request context ---------------------------------------------------------------------------------


@dataclass
class RequestContext:
    request_id: str
    client_id: str | None = None
    sub: str | None = None
    route: str | None = None


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("yitong_request", default=None)


def begin(request_id: str) -> tuple[RequestContext, contextvars.Token]:
    """Open the context of one request (the web layer calls it; :func:`end` closes it)."""
    context = RequestContext(request_id)
    return context, _current.set(context)


def end(token: contextvars.Token) -> None:
    _current.reset(token)


def current() -> RequestContext | None:
    return _current.get()


def request_id() -> str | None:
    context = _current.get()
    return context.request_id if context else None


def note(*, client_id: str | None = None, sub: str | None = None) -> None:
    """Name the client and the person the current request is for (kept for its log lines)."""
    context = _current.get()
    if context is None:
        return
    if client_id and not context.client_id:
        context.client_id = client_id
    if sub and not context.sub:
        context.sub = sub


def subject_hash(sub: str | None) -> str | None:
    """A short, stable stand-in for a subject in log lines: lines of one person can be joined, and
    the log alone names nobody."""
    return hashlib.sha256(sub.encode()).hexdigest()[:16] if sub else None


# -- metrics ---------------------------------------------------------------------------------------------

# Buckets for request and connector latency: a sign-in page in milliseconds, a large PDF in seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Buckets for background jobs: one document in a second, a large batch in an hour.
JOB_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}

_lock = threading.Lock()
_metrics: dict[str, Any] = {}


def _define() -> dict[str, Any]:
    from prometheus_client import Counter, Gauge, Histogram

    return {
        "http_requests": Counter("yitong_http_requests", "HTTP requests answered, by route template and status",
                                 ["method", "route", "status"]),
        "http_latency": Histogram("yitong_http_request_duration_seconds",
                                  "Time to answer an HTTP request, by route template and status",
                                  ["method", "route", "status"], buckets=LATENCY_BUCKETS),
        "token_grants": Counter("yitong_token_grants", "Token endpoint requests by grant type and outcome",
                                ["grant_type", "outcome"]),
        "sign_ins": Counter("yitong_sign_ins", "Sign-ins by method, outcome and assurance level",
                            ["method", "outcome", "level"]),
        "realname": Counter("yitong_realname_checks",
                            "Real-name checks by kind (person, organisation, strong), source and verdict",
                            ["kind", "source", "verdict"]),
        "connector_calls": Counter("yitong_connector_calls", "Calls to the base libraries by source and outcome",
                                   ["source", "outcome"]),
        "connector_latency": Histogram("yitong_connector_call_duration_seconds",
                                       "Time a base-library call took, retries included", ["source"],
                                       buckets=LATENCY_BUCKETS),
        "breaker": Gauge("yitong_connector_breaker_state",
                         "Circuit breaker of a base-library source: 0 closed, 1 half open, 2 open",
                         ["source"], multiprocess_mode="mostrecent"),
        "seal_events": Counter("yitong_seal_events", "Seal lifecycle events (applied, made, suspended, ...)",
                               ["event"]),
        "sealed": Counter("yitong_documents_sealed", "Documents sealed by format, level and outcome",
                          ["format", "level", "outcome"]),
        "verified": Counter("yitong_documents_verified", "Documents verified at /verify/ by format and verdict",
                            ["format", "verdict"]),
        "audit": Counter("yitong_audit_events", "Audit events recorded, by event", ["event"]),
        "jobs": Counter("yitong_jobs", "Background jobs a worker ran, by job function and outcome (finished, failed)",
                        ["job", "outcome"]),
        "job_duration": Histogram("yitong_job_duration_seconds", "Time a worker spent on a job, by job function",
                                  ["job"], buckets=JOB_BUCKETS),
        "licences_issued": Counter("yitong_licences_issued",
                                   "Licence issuances by type code, format and outcome (issued, replayed, "
                                   "refused, failed)", ["type", "format", "outcome"]),
        "licence_status": Counter("yitong_licence_status_lookups",
                                  "Licence status look-ups (public endpoint, check pages, in-process) by answer",
                                  ["answer"]),
        "showings": Counter("yitong_licence_showings",
                            "Licence showings (亮证): codes made, and scans by outcome", ["event", "outcome"]),
        "licence_verified": Counter("yitong_licence_files_verified",
                                    "Files carrying a licence verified at /verify/, by verdict", ["verdict"]),
    }


def _define_once() -> dict[str, Any]:
    if not _metrics:
        with _lock:
            if not _metrics:
                _metrics.update(_define())
    return _metrics


def _m(name: str):
    return (_metrics or _define_once())[name]


def http_request(method: str, route: str, status: int, seconds: float) -> None:
    _m("http_requests").labels(method, route, str(status)).inc()
    _m("http_latency").labels(method, route, str(status)).observe(seconds)


def sign_in(method: str, outcome: str, level: str | None = None) -> None:
    _m("sign_ins").labels(method, outcome, level or "").inc()


def token_grant(grant_type: str | None, outcome: str) -> None:
    _m("token_grants").labels(_known(grant_type, _GRANT_TYPES), outcome).inc()


def realname_check(kind: str, source: str | None, verdict: str) -> None:
    _m("realname").labels(kind, source or "", verdict).inc()


def connector_call(source: str, outcome: str, seconds: float, breaker: str | None = None) -> None:
    _m("connector_calls").labels(source, outcome).inc()
    _m("connector_latency").labels(source).observe(seconds)
    if breaker in BREAKER_STATES:
        _m("breaker").labels(source).set(BREAKER_STATES[breaker])


def seal_event(event: str) -> None:
    _m("seal_events").labels(event).inc()


def sealed(fmt: str, level: str, outcome: str) -> None:
    _m("sealed").labels(fmt, level, outcome).inc()


def verified(fmt: str, verdict: str) -> None:
    _m("verified").labels(fmt, verdict).inc()


def job_done(job: str, outcome: str, seconds: float) -> None:
    """A worker ran a job (``job``: the function's dotted path, never its arguments)."""
    _m("jobs").labels(job, outcome).inc()
    _m("job_duration").labels(job).observe(seconds)


def licence_issued(type_code: str, fmt: str, outcome: str) -> None:
    """``type_code``: a catalogue code or ``other``; ``fmt``: pdf, ofd or ``other`` (the caller makes sure)."""
    _m("licences_issued").labels(type_code, fmt, outcome).inc()


def licence_status(answer: str) -> None:
    _m("licence_status").labels(answer).inc()


def licence_showing(event: str, outcome: str) -> None:
    _m("showings").labels(event, outcome).inc()


def licence_verified(verdict: str) -> None:
    _m("licence_verified").labels(verdict).inc()


_GRANT_TYPES = frozenset({
    "authorization_code", "refresh_token", "client_credentials", "password",
    "urn:ietf:params:oauth:grant-type:token-exchange", "urn:ietf:params:oauth:grant-type:device_code",
    "urn:ietf:params:oauth:grant-type:jwt-bearer", "urn:openid:params:grant-type:ciba"})


def _known(value: str | None, known: frozenset[str]) -> str:
    """A client-chosen value becomes a label only when it is one of the known ones."""
    return value if value in known else "other"


def audit_event(event: str, detail: dict) -> None:
    """Every audit event is counted, and the ones that are sign-ins, token grants or real-name
    checks feed those metrics too: one call in idp/audit.py instead of one at each site."""
    _m("audit").labels(event).inc()
    family, _, outcome = event.partition(".")
    if family == "login":
        method = detail.get("method") or ("certificate" if outcome == "certificate" else _method(detail.get("amr")))
        sign_in(method, "success" if outcome in ("success", "certificate") else outcome, detail.get("acr"))
    elif family == "federation" and outcome in ("login", "refused"):
        sign_in("federation", "success" if outcome == "login" else "failure", detail.get("acr"))
    elif family == "token" and outcome in ("issued", "refused"):
        token_grant(detail.get("grant_type"), outcome)
    elif family in ("realname", "organisation", "strong_realname"):
        kind = {"realname": "person", "organisation": "organisation", "strong_realname": "strong"}[family]
        realname_check(kind, detail.get("source"), outcome)


def _method(amr) -> str:
    if isinstance(amr, list | tuple) and amr:
        return str(amr[0])
    return "password"


# -- multi-process files of short-lived processes ------------------------------------------------------
def fold_dead_process(pid: int, owner: int, path: str | None = None) -> None:
    """Add the counters and histograms a finished process (an RQ work horse, one per job) left in
    the multi-process folder to files of ``owner`` (the worker), and remove its files: figures stay,
    and the folder does not grow by a file per job. Live gauges of ``pid`` are dropped as
    prometheus_client's ``mark_process_dead`` does. No-op outside multi-process mode."""
    import glob
    import os

    path = path or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return
    from prometheus_client import multiprocess
    from prometheus_client.mmap_dict import MmapedDict

    for kind in ("counter", "histogram"):
        source = os.path.join(path, f"{kind}_{pid}.db")
        if not os.path.exists(source):
            continue
        target = MmapedDict(os.path.join(path, f"{kind}_folded{owner}.db"))
        try:
            for key, value, timestamp, _ in MmapedDict.read_all_values_from_file(source):
                total, _ = target.read_value(key)
                target.write_value(key, total + value, timestamp)
        finally:
            target.close()
        os.unlink(source)
    multiprocess.mark_process_dead(pid, path)
    for stale in glob.glob(os.path.join(path, f"gauge_*_{pid}.db")):  # other gauge modes of a dead process
        os.unlink(stale)
