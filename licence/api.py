"""The licence API under /licences/ (an OAuth resource server, audience ``$YITONG_ISSUER/licences``).

- ``POST /licences/api/v1/licences`` — issue (client-credentials token with scope
  ``licence:issue``, checked by introspection; the client must be allowed for the type's
  authority: ``yitong licence client allow``). ``Idempotency-Key`` (1-128 printable characters):
  a retry with the same body answers the same licence (200), another body 409.
- ``GET /licences/api/v1/licences/{id}`` and ``.../file`` — the issuing client reads its own
  authority's licences.
- ``GET /licences/api/v1/licences/{id}/status`` — public: identifier and status only, no personal
  data; rate-limited per client address (:data:`STATUS_RATE_LIMIT` a minute), so enumerating
  identifiers is slow and learns nothing but whether one exists.
- ``/licences/api/v1/share/...`` — the sharing service (licence/share_api.py, licence/sharing.py).
- ``GET /licences/api/v1/openapi.json`` — this API's OpenAPI 3.1 description (licence/openapi.py).
- ``GET /licences/v?c=...`` — where the face's 2D code points: its signed claims, checked with the
  issuing seal's certificate, and the live status; ``GET /licences/v/{id}`` the same for a typed id.

Every refusal is RFC 7807 problem+json; a refused request writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable

from asn1crypto import x509
from flask import Blueprint, Flask, Response, abort, current_app, g, jsonify, render_template_string, request

from keys import observe
from keys.asymmetric import load_public_key
from keys.errors import KeysError
from licence.catalogue import CatalogueError
from licence.data import DataInvalid
from licence.issuers import IssuerClients
from licence.library import IssueRequest, LicenceError, LicenceLibrary
from licence.payload import read_payload, verify_payload
from seal.registry import SealError, SealRegistry
from seal.tokens import Caller, IdpGateway, TokenRefused, TokenValidator

STATUS_RATE_LIMIT = 60  # status look-ups per client address per minute
MAX_BODY = 256 * 1024
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")

bp = Blueprint("licence", __name__, url_prefix="/licences")


def problem(status: int, title: str, detail: str, kind: str, headers: dict | None = None,
            extra: dict | None = None) -> Response:
    body = {"type": f"urn:yitong:problem:licence:{kind}", "title": title, "status": status, "detail": detail,
            **(extra or {})}
    response = jsonify(body)
    response.status_code = status
    response.headers["Content-Type"] = "application/problem+json"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _state() -> dict:
    return current_app.extensions["yitong.licence"]


def _library() -> LicenceLibrary:
    return _state()["library"]()


@bp.before_request
def _request_id() -> None:
    g.licence_request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex


def _caller(scope: str | tuple[str, ...], *, introspect: bool = False, fresh: bool = False) -> Caller:
    validator: TokenValidator = _state()["validator"]()
    try:
        return validator.caller(request.headers.get("Authorization"), scope=scope, method=request.method,
                                url=request.base_url, dpop_proof=request.headers.get("DPoP"), introspect=introspect,
                                fresh=fresh)
    except TokenRefused as exc:
        if exc.status == 503:
            abort(problem(503, "Service unavailable", exc.description, "idp-unavailable"))
        title = {401: "Unauthorized", 403: "Forbidden"}.get(exc.status, "Refused")
        abort(problem(exc.status, title, exc.description, exc.error or "token-required",
                      {"WWW-Authenticate": exc.www_authenticate(realm="yitong-licence")}))


def _refused(exc: LicenceError | DataInvalid) -> Response:
    if isinstance(exc, DataInvalid):
        return problem(422, "Invalid licence data", "the data does not fit the licence type", "invalid-data",
                       extra={"errors": exc.errors})
    titles = {404: "Not found", 409: "Conflict"}
    return problem(exc.status, titles.get(exc.status, "Cannot issue"), str(exc), exc.kind)


def _body() -> dict:
    if request.mimetype != "application/json":
        abort(problem(415, "Unsupported media type", "send application/json", "not-json"))
    if request.content_length is not None and request.content_length > MAX_BODY:
        abort(problem(413, "Payload too large", f"a request body is at most {MAX_BODY} bytes", "too-large"))
    raw = request.stream.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        abort(problem(413, "Payload too large", f"a request body is at most {MAX_BODY} bytes", "too-large"))
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        abort(problem(400, "Bad request", "send a JSON object {type, holder_id, holder_name, data[, valid_from, "
                                          "valid_to, format]}", "bad-json"))
    extra = sorted(set(body) - {"type", "holder_id", "holder_name", "data", "valid_from", "valid_to", "format"})
    if extra:
        abort(problem(422, "Invalid licence data", "unknown fields in the request", "invalid-data",
                      extra={"errors": {name[:40]: "not a field of an issuance request" for name in extra}}))
    return body


def _issuing_client(type_code: object) -> Caller:
    caller = _caller("licence:issue", introspect=True)
    if caller.is_person:
        abort(problem(403, "Forbidden", "licences are issued by a business system's own token (client "
                                        "credentials)", "client-required"))
    if isinstance(type_code, str):
        try:
            kind = _library().catalogue.get(type_code)
        except CatalogueError as exc:
            abort(problem(exc.status, "Not found" if exc.status == 404 else "Bad request", str(exc), exc.kind))
        if kind.authority_uscc not in _state()["issuers"].authorities(caller.client_id):
            abort(problem(403, "Forbidden", f"client {caller.client_id} may not issue for the authority of "
                                            f"licence type {type_code}", "authority-not-allowed"))
    return caller


@bp.post("/api/v1/licences")
def issue():
    body = _body()
    caller = _issuing_client(body.get("type"))
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        return problem(400, "Bad request", "Idempotency-Key is 1-128 printable ASCII characters",
                       "bad-idempotency-key")
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    idempotency = (key, hashlib.sha256(canonical).hexdigest()) if key else None
    library = _library()
    fmt = body.get("format", "pdf")
    request_ = IssueRequest(body.get("type"), body.get("holder_id"), body.get("holder_name"), body.get("data"),
                            body.get("valid_from"), body.get("valid_to"), fmt if isinstance(fmt, str) else "")
    try:
        existing = library.replayed(caller.client_id, idempotency) if idempotency else None
        issued = existing or library.issue(
            request_, actor=f"client:{caller.client_id}", client_id=caller.client_id, idempotency=idempotency,
            caller_detail={"request_id": g.licence_request_id, "client_ip": request.remote_addr})
    except (LicenceError, DataInvalid) as exc:
        return _refused(exc)
    if existing:
        observe.licence_issued(existing.type_code, existing.format, "replayed")
    response = jsonify(issued.summary() | {"file_url": f"{request.script_root}/licences/api/v1/licences/"
                                                       f"{issued.licence_id}/file"})
    response.status_code = 200 if existing else 201
    response.headers["Location"] = f"{request.script_root}/licences/api/v1/licences/{issued.licence_id}"
    response.headers["X-Request-Id"] = g.licence_request_id
    return response


@bp.get("/api/v1/openapi.json")
def openapi():
    """This API's OpenAPI 3.1 description (public; the consent scopes from the catalogue's types)."""
    from licence.openapi import openapi_document

    settings = _state()["settings"]
    codes = [kind.code for kind in _library().catalogue.list()]
    response = jsonify(openapi_document(f"{settings.issuer}/licences/api/v1",
                                        settings.seal_idp_issuer or settings.issuer, codes))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


MAX_BATCH_BYTES = 16 * 1024 * 1024
_BATCH_TYPES = {"text/csv": "rows.csv", "application/x-ndjson": "rows.jsonl", "application/jsonl": "rows.jsonl"}


@bp.post("/api/v1/batches")
def submit_batch():
    """A batch import (CSV with a header line, or JSON lines) of ``?type=CODE``, run on the job queue."""
    from licence import batch

    type_code = request.args.get("type", "")
    fmt = request.args.get("format", "pdf")
    caller = _issuing_client(type_code)
    if request.mimetype not in _BATCH_TYPES:
        return problem(415, "Unsupported media type", "send text/csv or application/x-ndjson", "not-rows")
    if request.content_length is not None and request.content_length > MAX_BATCH_BYTES:
        return problem(413, "Payload too large", f"a batch is at most {MAX_BATCH_BYTES} bytes", "too-large")
    data = request.stream.read(MAX_BATCH_BYTES + 1)
    if len(data) > MAX_BATCH_BYTES:
        return problem(413, "Payload too large", f"a batch is at most {MAX_BATCH_BYTES} bytes", "too-large")
    library = _library()
    if fmt not in library.renderers:
        return problem(400, "Bad request", "format must be pdf or ofd", "bad-format")
    try:
        state = batch.submit_batch(library, _state()["jobs"](), type_code=type_code, client_id=caller.client_id,
                                   data=data, name=_BATCH_TYPES[request.mimetype], fmt=fmt)
    except LicenceError as exc:
        return _refused(exc)
    location = f"{request.script_root}/licences/api/v1/batches/{state['batch_id']}"
    state.pop("client_id")
    response = jsonify(state | {"status_url": location})
    response.status_code = 202
    response.headers["Location"] = location
    return response


@bp.get("/api/v1/batches/<batch_id>")
def batch_progress(batch_id: str):
    from licence import batch

    caller = _caller("licence:issue")
    try:
        state = batch.batch_status(_library(), batch_id)
    except LicenceError as exc:
        return _refused(exc)
    if state.pop("client_id") != caller.client_id:
        return problem(404, "Not found", f"no batch {batch_id}", "batch-not-found")
    return jsonify(state)


def _own(licence_id: str):
    caller = _caller("licence:issue")
    library = _library()
    try:
        found, data = library.file(licence_id)
    except LicenceError as exc:
        abort(_refused(exc))
    kind_authorities = _state()["issuers"].authorities(caller.client_id)
    if library.catalogue.get(found.type_code).authority_uscc not in kind_authorities:
        abort(problem(404, "Not found", f"no licence {licence_id}", "licence-not-found"))
    return library, found, data


@bp.get("/api/v1/licences/<licence_id>")
def show(licence_id: str):
    library, found, _ = _own(licence_id)
    return jsonify(found.details() | {"events": library.events(licence_id)})


@bp.get("/api/v1/licences/<licence_id>/file")
def file(licence_id: str):
    _, found, data = _own(licence_id)
    return Response(data, mimetype="application/pdf" if found.format == "pdf" else "application/ofd",
                    headers={"Content-Disposition": f'attachment; filename="{found.number}.{found.format}"'})


def _limited() -> Response | None:
    verdict = _state()["status_limiter"]().hit(request.remote_addr or "-")
    if not verdict.allowed:
        return problem(429, "Too many requests", "too many status look-ups from this address; try later",
                       "rate-limited", {"Retry-After": str(verdict.retry_after_seconds)})
    return None


@bp.get("/api/v1/licences/<licence_id>/status")
def status(licence_id: str):
    refusal = _limited()
    if refusal is not None:
        return refusal
    try:
        answer = _library().status(licence_id)
    except LicenceError as exc:
        return problem(exc.status, "Not found" if exc.status == 404 else "Bad request", str(exc), exc.kind)
    response = jsonify(answer)
    response.headers["Cache-Control"] = "no-store"
    return response


_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>证照核验 Licence check</title>
<style nonce="{{ csp_nonce() }}">
body{font-family:"Noto Sans CJK SC",sans-serif;max-width:36rem;margin:1.5rem auto;padding:0 1rem;color:#222}
h1{font-size:1.3rem}.s{font-size:1.6rem;font-weight:bold;margin:.5rem 0}.valid{color:#17692e}.other{color:#a31515}
dl{display:grid;grid-template-columns:auto 1fr;gap:.4rem 1rem}dt{color:#666}dd{margin:0;word-break:break-all}
.note{color:#666;font-size:.85rem}</style></head><body><h1>证照核验 Licence check</h1>
{% if answer %}<p class="s {{ 'valid' if answer.status == 'valid' else 'other' }}">{{ label }}</p>
<dl><dt>证照名称</dt><dd>{{ name }}</dd><dt>证照标识</dt><dd>{{ answer.licence_id }}</dd>
{% if claims %}<dt>持证主体</dt><dd>{{ claims.h }}</dd>
<dt>有效期</dt><dd>{{ claims.f }} 至 {{ claims.u or "长期" }}</dd>
<dt>二维码签名</dt><dd>{{ signature }}</dd>{% endif %}
<dt>状态 Status</dt><dd>{{ answer.status }}</dd></dl>
<p class="note">状态由签发机构实时提供。The status comes live from the issuer.</p>
{% else %}<p class="s other">{{ error }}</p>{% endif %}</body></html>"""
_LABELS = {"valid": "有效 Valid", "revoked": "已吊销/注销 Revoked", "expired": "已过期 Expired",
           "superseded": "已变更（有新版本） Superseded"}


def _check_page(licence_id: str, claims: dict | None, signature: str):
    library = _library()
    try:
        answer = library.status(licence_id)
        name = library.catalogue.get(library.get(licence_id).type_code).name
    except LicenceError as exc:
        return render_template_string(_PAGE, answer=None, error=str(exc)), exc.status
    return render_template_string(_PAGE, answer=answer, name=name, label=_LABELS.get(answer["status"], ""),
                                  claims=claims, signature=signature)


@bp.get("/v")
def scanned_code():
    """Where a face's 2D code points: the code's signed claims (checked with the issuing seal's
    certificate) and the licence's live status."""
    refusal = _limited()
    if refusal is not None:
        return refusal
    compact = request.args.get("c", "")
    try:
        if len(compact) > 2048:
            raise ValueError("the code is too long")
        claims, _, _ = read_payload(compact)
        esid, licence_id = claims.get("e"), claims.get("i")
        if not isinstance(esid, str) or not isinstance(licence_id, str):
            raise ValueError("the 2D code names no licence or seal")
        certificate = _library().seals.blob(esid, "cert_der")  # the issuing seal's certificate
        claims = verify_payload(compact, load_public_key(x509.Certificate.load(certificate).public_key.dump()))
    except (ValueError, SealError, KeysError) as exc:
        error = f"无效的证照二维码 Not a valid licence code: {exc}"
        return render_template_string(_PAGE, answer=None, error=error), 400
    return _check_page(licence_id, claims, "有效（签发机构印章密钥签名）Valid, signed by the issuing seal's key")


@bp.get("/v/<licence_id>")
def check_page(licence_id: str):
    """A licence identifier typed in: its type and live status (no personal data)."""
    refusal = _limited()
    if refusal is not None:
        return refusal
    return _check_page(licence_id, None, "")


def register(app: Flask, *, home, settings, idp_gateway: Callable[[], IdpGateway], seals: Callable[[], SealRegistry],
             audience: str, holder_of: Callable[[str], str | None] = lambda sub: None) -> None:
    """Mount /licences/ on the app; library and validator are built on first use. ``holder_of(sub)``:
    the ID number the IdP verified for a person (the sharing API's consent tokens name only ``sub``)."""
    from licence import share_api

    built: dict = {}
    lock = threading.Lock()

    def library() -> LicenceLibrary:
        with lock:
            if "library" not in built:
                built["library"] = LicenceLibrary(home.engine, seals(), issuer=settings.issuer)
            return built["library"]

    def validator() -> TokenValidator:
        with lock:
            if "validator" not in built:
                built["validator"] = TokenValidator(gateway=idp_gateway(), audience=audience,
                                                    replay_cache=home.runtime.replay_cache("licence-dpop"))
            return built["validator"]

    def limiter(namespace: str, limit: int) -> Callable:
        def built_once():
            with lock:
                if namespace not in built:
                    built[namespace] = home.runtime.rate_limiter(namespace, limit, 60)
                return built[namespace]

        return built_once

    status_limiter = limiter("licence-status:ip", STATUS_RATE_LIMIT)
    share_limiter = limiter("licence-share:client", settings.licence_share_rate_limit)

    app.extensions["yitong.licence"] = {"library": library, "validator": validator, "jobs": lambda: home.runtime.jobs,
                                        "issuers": IssuerClients(home.engine), "status_limiter": status_limiter,
                                        "share_limiter": share_limiter,
                                        "holder_of": holder_of, "settings": settings}
    app.register_blueprint(bp)
    app.register_blueprint(share_api.bp)  # /licences/api/v1/share/: the sharing service
    from licence.admin import bp as admin_bp  # /licences/admin: the operators' face (imports this module)

    app.register_blueprint(admin_bp)
