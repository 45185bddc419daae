"""gunicorn's access log without the secrets that travel in URLs (issue 12, item 4).

Query strings carry authorization codes, CAS tickets, ``id_token_hint`` (an ID token: the person's
ID number or phone number inside), ``login_hint``, ``state`` and return addresses that hold all of
these again. The access log keeps every parameter's *name* but the *value* only of a short list of
parameters known to be harmless (which client, which flow, which error): an allowlist, so that a
parameter added later is hidden until someone decides it may be shown. The same applies to the
``Referer`` and ``Location`` values, and credentials headers are never written at all.
"""

from __future__ import annotations

import traceback
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from gunicorn.glogging import Logger

from yitong import observability

REDACTED = "REDACTED"
# Parameters whose values identify a client, a flow or an error, never a person or a credential.
SHOWN_PARAMETERS = frozenset({
    "client_id", "response_type", "response_mode", "scope", "redirect_uri", "post_logout_redirect_uri",
    "prompt", "acr_values", "max_age", "display", "ui_locales", "claims_locales", "code_challenge_method",
    "grant_type", "error", "lang", "limit", "level", "page", "pages", "riding", "x_mm", "y_mm",
})
_HIDDEN_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "dpop", "proxy-authorization",
                             "x-ssl-client-cert"})


def redact_query(query: str) -> str:
    """``code=abc&client_id=portal`` -> ``code=REDACTED&client_id=portal``; names stay, values go."""
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    if not pairs:
        return REDACTED
    return "&".join(f"{quote(name, safe='')}={quote(value, safe='') if name in SHOWN_PARAMETERS else REDACTED}"
                    for name, value in pairs)


def redact_url(url: str) -> str:
    """A URL or request target with :func:`redact_query` applied to its query, and no fragment."""
    if not url or url == "-":
        return url
    parts = urlsplit(url)
    fragment = REDACTED if parts.fragment else ""  # response_mode=fragment puts the code there
    return urlunsplit((parts.scheme, parts.netloc, parts.path, redact_query(parts.query), fragment))


class RedactingLogger(Logger):
    """gunicorn's Logger whose access-log atoms hold redacted URLs and no credentials headers.

    With ``YITONG_LOG_FORMAT=json`` (yitong/observability.py) its error and access lines are JSON
    objects too, and each access line carries the request's id, client, subject hash and route;
    in text form the request id ends the line.
    """

    def setup(self, cfg):
        super().setup(cfg)
        self.json = observability.log_format() == "json"
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.addFilter(observability.ContextFilter())
                if self.json:
                    handler.setFormatter(observability.JsonFormatter())

    def access(self, resp, req, environ, request_time):
        if not self.json:
            return super().access(resp, req, environ, request_time)
        if not self.access_log_enabled:
            return
        try:
            atoms = self.atoms(resp, req, environ, request_time)
            status = str(atoms.get("s", "-"))
            self.access_log.info(atoms["r"], extra={
                **observability.access_fields(environ),
                "method": environ.get("REQUEST_METHOD"), "path": redact_url(environ.get("RAW_URI", "")),
                "status": int(status) if status.isdigit() else None,
                "duration_ms": round(request_time.total_seconds() * 1000, 1),
                "bytes": atoms.get("B"), "remote_addr": atoms.get("h"),
                "user_agent": environ.get("HTTP_USER_AGENT"),
                "referer": None if atoms["f"] == "-" else atoms["f"]})
        except Exception:
            self.error(traceback.format_exc())

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        target = redact_url(environ.get("RAW_URI", ""))
        atoms["r"] = f"{environ.get('REQUEST_METHOD')} {target} {environ.get('SERVER_PROTOCOL')}"
        atoms["q"] = redact_query(environ.get("QUERY_STRING", ""))
        atoms["f"] = redact_url(environ.get("HTTP_REFERER", "-"))
        for key in list(atoms):
            if not (key.startswith("{") and len(key) > 3):
                continue
            name, kind = key[1:-2], key[-1]
            header = name.replace("_", "-").removeprefix("http-") if kind == "e" else name
            if header in _HIDDEN_HEADERS:
                atoms[key] = REDACTED
            elif header in ("location", "referer") or name in ("raw_uri", "request_uri"):
                atoms[key] = redact_url(str(atoms[key]))
            elif name == "query_string":
                atoms[key] = redact_query(str(atoms[key]))
        return atoms
