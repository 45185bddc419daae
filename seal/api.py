"""The seal API under /seal/ (an OAuth resource server; OpenAPI 3.1 at /seal/openapi.json).

Authorisation (on top of the token checks in :mod:`seal.tokens`):

- use (sign): a business client granted the seal (``seal_grants`` kind client), a keeper
  granted it (kind person, by sub), the person holding a personal seal, or a person acting for
  the holder organisation (``org.acting_as``) with the role ``seal_keeper`` or
  ``legal_representative``. Personal seals are used only with a person's token of
  acr ≥ urn:yitong:loa:3; below that the answer is an RFC 9470 step-up challenge (401,
  ``insufficient_user_authentication``, ``acr_values``).
- read (list, show, image, .esl): whoever may use it, and the holder (its agents included).
- the usage log: the holder only (the person, or agents acting for the organisation).

Every refusal is RFC 7807 problem+json; a refused request writes nothing and is not a use.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

from flask import Blueprint, Flask, Response, abort, current_app, g, jsonify, request

from keys import observe
from seal import public
from seal.document import document_format, seal_document
from seal.openapi import openapi_document
from seal.pdf import LEVELS, MEDIA_TYPES, PdfLimits, PdfRefused, Placement, parse_page_list
from seal.registry import SealError, SealRecord, SealRegistry, sealer_for
from seal.tokens import Caller, IdpGateway, TokenRefused, TokenValidator

STEP_UP_ACR = "urn:yitong:loa:3"
# Roles (org claim) that may use an organisation's seals: a seal keeper, the legal representative,
# and an agent authorised for all services ("*", idp/agents/store.py).
KEEPER_ROLES = frozenset({"seal_keeper", "legal_representative", "*"})
SEALER_TTL = 60

bp = Blueprint("seal", __name__, url_prefix="/seal")


def problem(status: int, title: str, detail: str, kind: str, headers: dict | None = None) -> Response:
    body = {"type": f"urn:yitong:problem:seal:{kind}", "title": title, "status": status, "detail": detail}
    request_id = getattr(g, "seal_request_id", None)
    if request_id:
        body["request_id"] = request_id
    response = jsonify(body)
    response.status_code = status
    response.headers["Content-Type"] = "application/problem+json"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _state() -> dict:
    return current_app.extensions["yitong.seal"]


def _registry() -> SealRegistry:
    return _state()["registry"]()


def _caller(scope: str, *, introspect: bool = False) -> Caller:
    validator: TokenValidator = _state()["validator"]()
    try:
        return validator.caller(request.headers.get("Authorization"), scope=scope, method=request.method,
                                url=request.base_url, dpop_proof=request.headers.get("DPoP"), introspect=introspect)
    except TokenRefused as exc:
        if exc.status == 503:
            kind = "introspection-not-configured" if exc.error == "not-configured" else "idp-unavailable"
            abort(problem(503, "Service unavailable", exc.description, kind))
        title = {401: "Unauthorized", 403: "Forbidden"}.get(exc.status, "Refused")
        abort(problem(exc.status, title, exc.description, exc.error or "token-required",
                      {"WWW-Authenticate": exc.www_authenticate()}))


def _record(registry: SealRegistry, esid: str) -> SealRecord:
    try:
        return registry.get(esid)
    except SealError as exc:
        abort(problem(exc.status, "Seal not found" if exc.status == 404 else "Bad request", str(exc),
                      exc.kind))


def _is_holder(record: SealRecord, caller: Caller) -> bool:
    if record.holder_kind == "person":
        return caller.is_person and caller.sub == record.holder_id
    return caller.is_person and caller.acting_for == record.holder_id


def _may_use(registry: SealRegistry, record: SealRecord, caller: Caller) -> bool:
    if record.holder_kind == "person":
        return caller.is_person and (caller.sub == record.holder_id
                                     or registry.granted(record.esid, "person", caller.sub))
    if registry.granted(record.esid, "client", caller.client_id):
        return True
    if caller.is_person and registry.granted(record.esid, "person", caller.sub):
        return True
    roles = set((caller.org or {}).get("roles") or [])
    return caller.is_person and caller.acting_for == record.holder_id and bool(roles & KEEPER_ROLES)


def _may_read(registry: SealRegistry, record: SealRecord, caller: Caller) -> bool:
    return _is_holder(record, caller) or _may_use(registry, record, caller)


def _readable(esid: str) -> tuple[SealRegistry, SealRecord]:
    caller = _caller("seal:read")
    registry = _registry()
    record = _record(registry, esid)
    if not _may_read(registry, record, caller):
        abort(problem(403, "Forbidden", f"this caller has no grant for seal {record.esid}", "not-granted"))
    return registry, record


@bp.before_request
def _request_id():
    supplied = request.headers.get("X-Request-Id", "")
    # The request's id for every log line and the usage log (yitong/observability.py), when it runs.
    g.seal_request_id = observe.request_id() or \
        (supplied if 0 < len(supplied) <= 64 and supplied.isprintable() else uuid.uuid4().hex)
    # Bounds what Werkzeug reads for forms and files, even without a Content-Length (chunked).
    request.max_content_length = 4 * _state()["settings"].seal_max_bytes + 65536


@bp.errorhandler(413)
def _too_large(exc):
    return problem(413, "Payload too large", "the request is over the seal API's size limit", "too-large")


@bp.get("/openapi.json")
def openapi():
    # From the configured URLs, never from Host / X-Forwarded-*: a cached copy must not point elsewhere.
    settings = _state()["settings"]
    response = jsonify(openapi_document(f"{settings.issuer}/seal", settings.seal_idp_issuer or settings.issuer))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/seals")
def list_seals():
    caller = _caller("seal:read")
    registry = _registry()
    visible = [r for r in registry.list() if _may_read(registry, r, caller)]
    return jsonify({"seals": [r.as_api() for r in visible]})


@bp.post("/seals")
def apply_for_seal():
    """Apply for a seal for the verified identity in the token: the person (sub), or the
    organisation the person acts for (org.uscc, org.name). An operator approves and makes it."""
    caller = _caller("seal:sign", introspect=True)
    if not caller.is_person:
        return problem(403, "Forbidden", "a seal is applied for by a person, for themselves or their organisation",
                       "person-required")
    if not caller.loa_at_least("urn:yitong:loa:2"):
        refusal = TokenRefused(401, "insufficient_user_authentication",
                               "applying for a seal needs a real-name identity (urn:yitong:loa:2)",
                               acr_values="urn:yitong:loa:2")
        return problem(401, "Step-up authentication required", refusal.description, "insufficient-acr",
                       {"WWW-Authenticate": refusal.www_authenticate()})
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return problem(400, "Bad request", "send a JSON object {holder_kind, type, algorithm[, name]}", "bad-json")
    kind = body.get("holder_kind")
    if kind == "org":
        org = caller.org or {}
        if not caller.acting_for or not isinstance(org.get("name"), str):
            return problem(403, "Forbidden", "the token does not act for an organisation", "not-acting-for-org")
        holder_id, holder_name = caller.acting_for, org["name"]
    elif kind == "person":
        name = caller.claims.get("name")
        holder_id, holder_name = caller.sub, name if isinstance(name, str) else body.get("name")
    else:
        return problem(400, "Bad request", "holder_kind must be org or person", "bad-parameter")
    seal_type, algorithm = body.get("type"), body.get("algorithm", "sm2")
    if not isinstance(seal_type, int) or isinstance(seal_type, bool) or not isinstance(algorithm, str):
        return problem(400, "Bad request", "type must be an integer seal type code, algorithm sm2 or p256",
                       "bad-parameter")
    try:
        record = _registry().apply(holder_kind=kind, holder_id=holder_id, holder_name=holder_name or "",
                                   seal_type=seal_type, algorithm=algorithm,
                                   name=body.get("name") if isinstance(body.get("name"), str) else None,
                                   actor=f"idp:{caller.sub}", reason=f"applied through {caller.client_id}")
    except SealError as exc:
        return problem(exc.status, "Bad request", str(exc), exc.kind)
    response = jsonify(record.as_api())
    response.status_code = 201
    response.headers["Location"] = f"{request.script_root}/seal/seals/{record.esid}"
    return response


@bp.get("/seals/<esid>")
def show_seal(esid: str):
    record = _readable(esid)[1]
    return jsonify(record.as_api())


def _blob(esid: str, column: str, mimetype: str, filename: str):
    registry, record = _readable(esid)
    try:
        value = registry.blob(record.esid, column)
    except SealError as exc:
        return problem(exc.status, "Not made", str(exc), exc.kind)
    data = value.encode() if isinstance(value, str) else value
    return Response(data, mimetype=mimetype,
                    headers={"Content-Disposition": f'inline; filename="{record.esid}{filename}"'})


@bp.get("/seals/<esid>/image.png")
def seal_png(esid: str):
    return _blob(esid, "image_png", "image/png", ".png")


@bp.get("/seals/<esid>/image.svg")
def seal_svg(esid: str):
    return _blob(esid, "image_svg", "image/svg+xml", ".svg")


@bp.get("/seals/<esid>/esl")
def seal_esl(esid: str):
    return _blob(esid, "seseal_der", "application/octet-stream", ".esl")


@bp.get("/seals/<esid>/usage")
def seal_usage(esid: str):
    caller = _caller("seal:read")
    registry = _registry()
    record = _record(registry, esid)
    if not _is_holder(record, caller):
        return problem(403, "Forbidden", "only the seal's holder reads its usage log", "not-holder")
    try:
        limit = min(1000, max(1, int(request.args.get("limit", "100"))))
    except ValueError:
        return problem(400, "Bad request", "limit must be a whole number", "bad-parameter")
    return jsonify({"esid": record.esid, "usage": registry.usage(record.esid, limit)})


def _float(name: str) -> float | None:
    raw = request.values.get(name)
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except ValueError:
        abort(problem(400, "Bad request", f"{name} must be a number of millimetres",
                      "bad-parameter"))
    if value != value or value in (float("inf"), float("-inf")):
        abort(problem(400, "Bad request", f"{name} must be a finite number", "bad-parameter"))
    return value


def _placement() -> tuple[Placement, str]:
    values = request.values
    try:
        page = int(values.get("page", "1"))
        pages = parse_page_list(values.get("pages", ""))
    except ValueError as exc:
        abort(problem(400, "Bad request", f"page/pages: {exc}", "bad-parameter"))
    keyword = values.get("keyword") or None
    x_mm, y_mm = _float("x_mm"), _float("y_mm")
    if keyword and (x_mm is not None or y_mm is not None):
        abort(problem(400, "Bad request", "give keyword or x_mm/y_mm, not both", "bad-parameter"))
    if keyword and len(keyword) > 64:
        abort(problem(400, "Bad request", "the keyword is over 64 characters", "bad-parameter"))
    riding = (values.get("riding") or "").lower() in ("1", "true", "yes", "on")
    level = values.get("level") or "B-LT"
    if level not in LEVELS:
        abort(problem(400, "Bad request", f"level must be one of {', '.join(LEVELS)}", "bad-level"))
    return Placement(page=page, x_mm=x_mm, y_mm=y_mm, keyword=keyword, pages=pages, riding=riding), level


# The body's media type only says how it is sent; PDF or OFD is decided from the content.
DOCUMENT_TYPES = ("application/pdf", "application/ofd", "application/zip", "application/octet-stream")


def _document(max_bytes: int) -> bytes:
    if request.content_length is not None and request.content_length > max_bytes + 65536:
        abort(problem(413, "Payload too large", f"the document is over the size limit of {max_bytes} bytes",
                      "too-large"))
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            abort(problem(400, "Bad request", "send the PDF or OFD as the multipart field 'file'", "no-document"))
        data = upload.stream.read(max_bytes + 1)
    elif request.mimetype in DOCUMENT_TYPES:
        data = request.stream.read(max_bytes + 1)
    else:
        abort(problem(415, "Unsupported media type",
                      "send application/pdf, application/ofd or multipart/form-data", "not-a-pdf"))
    if len(data) > max_bytes:
        abort(problem(413, "Payload too large", f"the document is over the size limit of {max_bytes} bytes",
                      "too-large"))
    if not data:
        abort(problem(400, "Bad request", "the document is empty", "no-document"))
    return data


def _sealer(registry: SealRegistry, record: SealRecord):
    cache: dict = _state()["sealers"]
    lock: threading.Lock = _state()["lock"]
    key = (record.esid, record.cert_serial)
    now = time.monotonic()
    with lock:
        hit = cache.get(key)
        if hit and now - hit[0] < SEALER_TTL:
            return hit[1]
    sealer = sealer_for(registry, record.esid)
    with lock:
        cache[key] = (now, sealer)
    return sealer


def _user_of(esid: str) -> tuple[Caller, SealRegistry, SealRecord]:
    """The caller allowed to seal with ``esid`` now, or a refusal (token, grant, step-up, status)."""
    caller = _caller("seal:sign", introspect=True)
    registry = _registry()
    record = _record(registry, esid)
    if not _may_use(registry, record, caller):
        abort(problem(403, "Forbidden", f"this caller is not granted the use of seal {record.esid}",
                      "not-granted"))
    if record.holder_kind == "person" and not caller.loa_at_least(STEP_UP_ACR):
        refusal = TokenRefused(401, "insufficient_user_authentication",
                               f"a personal seal needs authentication at {STEP_UP_ACR} or higher",
                               acr_values=STEP_UP_ACR)
        abort(problem(401, "Step-up authentication required", refusal.description, "insufficient-acr",
                      {"WWW-Authenticate": refusal.www_authenticate()}))
    if record.status != "active":
        abort(problem(409, "Seal not active", f"seal {record.esid} is {record.status}", "seal-not-active"))
    return caller, registry, record


@bp.post("/seals/<esid>/sign")
def sign(esid: str):
    caller, registry, record = _user_of(esid)
    placement, level = _placement()
    settings = _state()["settings"]
    data = _document(settings.seal_max_bytes)
    try:
        sealer = _sealer(registry, record)
        result = seal_document(sealer, data, placement, level=level, max_bytes=settings.seal_max_bytes,
                               limits=PdfLimits.of(settings))
    except PdfRefused as exc:
        observe.sealed(document_format(data), level, "refused")
        return problem(exc.status, "Cannot seal this document", str(exc), exc.kind)
    except SealError as exc:  # an ImageError answers 409 "seal-error" through its own status and kind
        observe.sealed(document_format(data), level, "refused")
        return problem(exc.status, "Cannot seal", str(exc), exc.kind)
    observe.sealed(result.format, result.level, "sealed")
    observe.note(client_id=caller.client_id, sub=caller.sub)
    registry.log_use(record.esid, caller=caller.client_id, subject=caller.sub if caller.is_person else None,
                     org_uscc=caller.acting_for, sm3_before=result.sm3_before, sm3_after=result.sm3_after,
                     request_id=g.seal_request_id, client_ip=request.remote_addr,
                     detail={"field": result.field_name, "page": result.page, "level": result.level,
                             "riding": placement.riding, "bytes": len(data), "format": result.format})
    return Response(result.document, mimetype=result.media_type, headers={
        "X-Request-Id": g.seal_request_id, "X-Seal-Field": result.field_name,
        "X-Document-SM3-Before": result.sm3_before, "X-Document-SM3-After": result.sm3_after})


@bp.post("/seals/<esid>/jobs")
def submit_job(esid: str):
    """Many documents in one request (multipart, repeated field 'file'), sealed on the JobQueue."""
    from seal import jobs

    caller, registry, record = _user_of(esid)
    placement, level = _placement()
    max_bytes = _state()["settings"].seal_max_bytes
    if request.mimetype != "multipart/form-data":
        return problem(415, "Unsupported media type", "send the PDFs or OFDs as multipart fields 'file'",
                       "not-multipart")
    if request.content_length is not None and request.content_length > 4 * max_bytes:
        return problem(413, "Payload too large", f"a job takes at most {4 * max_bytes} bytes", "too-large")
    documents = []
    for upload in request.files.getlist("file"):
        data = upload.stream.read(max_bytes + 1)
        if len(data) > max_bytes:
            return problem(413, "Payload too large", f"{upload.filename} is over {max_bytes} bytes", "too-large")
        documents.append((upload.filename or f"document-{len(documents) + 1}.pdf", data))
    try:
        job_id = jobs.submit(registry, _state()["jobs"](), esid=record.esid, caller=caller.client_id,
                             subject=caller.sub if caller.is_person else None, org_uscc=caller.acting_for,
                             request_id=g.seal_request_id, client_ip=request.remote_addr, placement=placement,
                             level=level, documents=documents)
    except SealError as exc:
        return problem(exc.status, "Cannot start the job", str(exc), exc.kind)
    location = f"{request.script_root}/seal/jobs/{job_id}"
    response = jsonify({"job_id": job_id, "status_url": location, "total": len(documents)})
    response.status_code = 202
    response.headers["Location"] = location
    return response


def _own_job(job_id: str) -> tuple[SealRegistry, dict]:
    from seal import jobs

    caller = _caller("seal:sign")
    registry = _registry()
    try:
        state = jobs.status(registry, job_id, queue=_state()["jobs"]())  # a job the queue lost ends here
    except SealError as exc:
        abort(problem(404, "Not found", str(exc), exc.kind))
    owner = state.pop("owner")
    if owner["caller"] != caller.client_id or owner["subject"] != (caller.sub if caller.is_person else None):
        abort(problem(404, "Not found", f"no job {job_id}", "job-not-found"))
    return registry, state


@bp.get("/jobs/<job_id>")
def job_status(job_id: str):
    return jsonify(_own_job(job_id)[1])


@bp.get("/jobs/<job_id>/documents/<int:position>")
def job_document(job_id: str, position: int):
    from seal import jobs

    registry, state = _own_job(job_id)
    documents = {d["position"]: d for d in state["documents"]}
    document = documents.get(position)
    if document is None:
        return problem(404, "Not found", f"job {job_id} has no document {position}", "document-not-found")
    if document["status"] == "pending":
        return problem(409, "Not ready", "the document has not been sealed yet", "pending")
    if document["status"] in ("refused", "failed"):
        return problem(422, "Cannot seal this document", document["error"] or "refused", document["status"])
    sealed = jobs.output(registry, job_id, position) or b""
    return Response(sealed, mimetype=MEDIA_TYPES[document_format(sealed)])


def register(app: Flask, *, home, settings, idp_gateway: Callable[[], IdpGateway]) -> None:
    """Mount /seal/ on the app; registry and token validator are built on first use, the latter
    over the IdP gateway that ``idp_gateway()`` makes (the composition root decides how the IdP is
    reached)."""
    audience = settings.seal_audience or f"{settings.issuer}/seal"
    built: dict = {}
    lock = threading.Lock()

    def registry() -> SealRegistry:
        if "registry" not in built:
            built["registry"] = SealRegistry(home.engine, home.keystore(), home.pki(), region=settings.seal_region,
                                             font=settings.seal_font, audit_chain=home.audit_chain())
        return built["registry"]

    def validator() -> TokenValidator:
        with lock:
            if "validator" not in built:
                built["validator"] = TokenValidator(gateway=idp_gateway(), audience=audience,
                                                    replay_cache=home.runtime.replay_cache("seal-dpop"))
        return built["validator"]

    def public_limiter():
        with lock:
            if "limiter" not in built:
                built["limiter"] = home.runtime.rate_limiter("seal-query:ip", public.RATE_LIMIT, 60)
            return built["limiter"]

    app.extensions["yitong.seal"] = {"registry": registry, "validator": validator, "settings": settings,
                                     "jobs": lambda: home.runtime.jobs,
                                     "sealers": {}, "lock": threading.Lock(),
                                     "public_limiter": public_limiter}
    app.register_blueprint(bp)
    app.register_blueprint(public.bp)  # the public seal query (印章查询), no token
    from seal import admin  # the security administrator's /seal/admin/ (imports this module)

    app.register_blueprint(admin.bp)
