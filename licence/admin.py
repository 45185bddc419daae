"""/licences/admin/: the security administrator's licence types and revocations (issue 17 item 2),
over OIDC only, as seal/admin.py does for seals.

The operator's role comes in the access token (claim ``yitong_role``) for this room's audience
(``$YITONG_ISSUER/licences``); a person's token comes from a sign-in at loa:3. The security
administrator reads the catalogue and the licences and revokes one with a reason (a recent
sign-in: :mod:`keys.stepup`); the audit administrator may read, never act. A refused revocation
is an ``admin.refused`` event in that licence's history. Holders' ID numbers stay masked and a
licence's data items are not shown here (the issuing system reads them at /licences/api/v1).
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from keys import stepup
from keys.storage import utcnow
from licence.api import _caller, _library, _refused, _state, problem
from licence.catalogue import CatalogueError
from licence.library import LicenceError
from seal.admin import require_operator
from seal.openapi import REASON, admin_document, admin_operation, query_parameters
from seal.tokens import Caller

bp = Blueprint("licence_admin", __name__, url_prefix="/licences/admin")
ADMIN_SCOPE = "yitong:admin"
STATUSES = ("valid", "revoked", "expired", "superseded")
MAX_PAGE = 200


def _operator(*, reading: bool = False) -> Caller:
    """The calling operator (seal/admin.py's rule: security acts, audit reads)."""
    caller = _caller(ADMIN_SCOPE)
    licence_id = (request.view_args or {}).get("licence_id")
    return require_operator(caller, what="licences", reading=reading, problem=problem,
                            refused=lambda role: licence_id and _refusal(licence_id, caller, role))


def _refusal(licence_id: str, caller: Caller, role: str | None) -> None:
    library = _library()
    try:
        found = library.get(licence_id)
    except LicenceError:
        return
    library.audit_chain.prepare()
    with library.engine.begin() as conn:
        library.record_event(conn, licence_id=licence_id, type_code=found.type_code, at=utcnow(),
                             event="admin.refused", from_status=found.status, to_status=found.status,
                             actor=f"operator:{caller.sub}"[:128], reason=None,
                             detail={"role": role, "path": request.path[:200]})


def _type_summary(kind, count: int) -> dict:
    return {"code": kind.code, "name": kind.name, "name_en": kind.name_en, "authority_name": kind.authority_name,
            "authority_uscc": kind.authority_uscc, "holder_kind": kind.holder_kind,
            "validity_years": kind.validity_years, "esid": kind.esid, "licences": count}


@bp.get("/openapi.json")
def openapi():
    """This API's OpenAPI 3.1 description (public, from the configured URLs)."""
    settings = _state()["settings"]
    response = jsonify(admin_openapi_document(f"{settings.issuer}/licences/admin",
                                              settings.seal_idp_issuer or settings.issuer))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/types")
def list_types():
    """The catalogue: every licence type, with how many licences of it were issued; ``q`` searches
    the code, the names and the authority."""
    _operator(reading=True)
    library = _library()
    q = request.args.get("q", "").strip()[:100]
    kinds = [k for k in library.catalogue.list() if not q or any(
        q.lower() in text.lower() for text in (k.code, k.name, k.name_en, k.authority_name, k.authority_uscc))]
    return jsonify({"items": [_type_summary(k, library.count(k.code)) for k in kinds]})


@bp.get("/types/<code>")
def show_type(code: str):
    """One type: its definition (data items, validity, face) and its licence count."""
    _operator(reading=True)
    library = _library()
    try:
        kind = library.catalogue.get(code)
    except CatalogueError as exc:
        return problem(exc.status, "Not found" if exc.status == 404 else "Bad request", str(exc), exc.kind)
    return jsonify(_type_summary(kind, library.count(code)) | {"definition": kind.as_dict()})


@bp.get("/licences")
def list_licences():
    """Licences, newest first, filtered by ``type``, ``status`` and ``holder`` (the holder's ID or USCC),
    paged by ``offset``."""
    _operator(reading=True)
    status = request.args.get("status") or None
    if status and status not in STATUSES:
        return problem(400, "Bad request", f"status is one of {', '.join(STATUSES)}", "bad-parameter")
    try:
        limit = max(1, min(MAX_PAGE, int(request.args.get("limit", 50))))
        offset = max(0, int(request.args.get("offset", 0)))
    except ValueError:
        return problem(400, "Bad request", "limit and offset are whole numbers", "bad-parameter")
    found = _library().list(type_code=request.args.get("type") or None, holder_id=request.args.get("holder") or None,
                            status=status, limit=offset + limit + 1)
    page = found[offset:offset + limit]
    return jsonify({"items": [licence.summary() for licence in page],
                    "next": offset + limit if len(found) > offset + limit else None})


@bp.get("/licences/<licence_id>")
def show_licence(licence_id: str):
    """A licence's summary (holder masked, no data items) and its history."""
    _operator(reading=True)
    library = _library()
    try:
        found = library.get(licence_id)
    except LicenceError as exc:
        return _refused(exc)
    return jsonify(found.summary() | {"issued_at": found.issued_at.isoformat(), "esid": found.esid,
                                      "supersedes": found.supersedes, "superseded_by": found.superseded_by,
                                      "events": library.events(licence_id)})


@bp.post("/licences/<licence_id>/revoke")
def revoke_licence(licence_id: str):
    """Revoke a valid licence, with a reason: its status answers ``revoked`` from now on."""
    caller = _operator()
    library = _library()
    try:
        library.get(licence_id)
    except LicenceError as exc:
        return _refused(exc)
    body = request.get_json(silent=True)
    reason = body.get("reason") if isinstance(body, dict) else None
    if not isinstance(reason, str) or not reason.strip():
        return problem(400, "Bad request", "send {\"reason\": \"...\"}: revoking a licence says why", "bad-parameter")
    max_age = stepup.window(current_app.config)
    if stepup.needed(caller.claims, max_age):
        return problem(401, "Unauthorized", stepup.detail(max_age), stepup.PROBLEM_KIND,
                       {"WWW-Authenticate": stepup.challenge(max_age)})
    try:
        revoked = library.revoke(licence_id, actor=f"operator:{caller.sub}", reason=reason.strip()[:500])
    except LicenceError as exc:
        return _refused(exc)
    return jsonify(revoked.summary())


def admin_openapi_document(server_url: str, idp_issuer: str) -> dict:
    licence_id = {"name": "licence_id", "in": "path", "required": True, "schema": {"type": "string"},
                  "description": "the GB/T 36904 licence identifier"}
    code = {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}
    return admin_document(
        "Yitong licence admin API",
        "The security administrator reads the licence catalogue and the licences and revokes licences; the "
        "audit administrator reads. Holders' ID numbers are masked and data items are not returned.",
        server_url, idp_issuer, {
            "/types": {"get": admin_operation("The licence catalogue, with licence counts",
                                              params=query_parameters("q"))},
            "/types/{code}": {"parameters": [code], "get": admin_operation("A licence type's definition")},
            "/licences": {"get": admin_operation("Licences, newest first",
                                                 params=query_parameters("type", "status", "holder", "limit",
                                                                         "offset"))},
            "/licences/{licence_id}": {"parameters": [licence_id],
                                       "get": admin_operation("A licence (holder masked) and its history")},
            "/licences/{licence_id}/revoke": {"parameters": [licence_id], "post": admin_operation(
                "Revoke a valid licence, with a reason", roles=("security",), body=REASON, step_up=True)},
        })
