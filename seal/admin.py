"""/seal/admin/: the security administrator's seal management (issue 17 item 2), over OIDC only.

seal/ never imports idp/: the operator's role comes in the access token (claim ``yitong_role``,
put there by the IdP for tokens with scope ``yitong:admin``), for this API's audience. A
person's token must come from a sign-in at loa:3 (a second factor). A seal is applied for by one
person and approved by another: the approver may not be its applicant. The audit administrator
may read seals, their history and every seal's events (/seal/admin/events, the seal part of the
audit trail, with the chains' state at /seal/admin/events/verify), never act. Every action, and
every refused action on a seal, is an event in that seal's history (seal_events, chained by
keys/auditchain), with the operator. Approving, suspending and revoking need a recent sign-in
(:mod:`keys.stepup`): an older person's token gets 401 with ``WWW-Authenticate: Bearer
error="insufficient_user_authentication", max_age=...`` (RFC 9470).
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, request

from keys import stepup
from seal.api import _caller, _record, _registry, _state, problem
from seal.models import events_table, usage_table
from seal.openapi import admin_openapi_document
from seal.records import REVOKE_REASONS, SealError, SealStatus
from seal.tokens import Caller

bp = Blueprint("seal_admin", __name__, url_prefix="/seal/admin")
ADMIN_SCOPE = "yitong:admin"
ROLE = "security"
ACTIONS = ("approve", "make", "suspend", "resume", "revoke")
MAX_PAGE = 200
STEP_UP = ("approve", "suspend", "revoke")


def _step_up_challenge(caller: Caller):
    """None when ``caller`` signed in recently enough (keys/stepup.py), else the RFC 9470 answer."""
    max_age = stepup.window(current_app.config)
    if not stepup.needed(caller.claims, max_age):
        return None
    return problem(401, "Unauthorized", stepup.detail(max_age), stepup.PROBLEM_KIND,
                   {"WWW-Authenticate": stepup.challenge(max_age)})


def require_operator(caller: Caller, *, what: str, reading: bool, problem, refused) -> Caller:
    """``caller`` if an operator may do this here: a person signed in at loa:3, the security
    administrator, or the audit administrator when ``reading``; else abort with 403 problem+json
    (``problem`` the room's own), a refused POST reported first to ``refused(role)``. seal/admin.py
    and licence/admin.py share this rule."""
    if caller.is_person and not caller.loa_at_least("urn:yitong:loa:3"):
        abort(problem(403, "Forbidden", "operators sign in at urn:yitong:loa:3 with a second factor",
                      "insufficient-acr"))
    role = caller.claims.get("yitong_role")
    if role != ROLE and not (reading and role == "audit"):
        if request.method == "POST":
            refused(role)
        abort(problem(403, "Forbidden", f"{what} are managed by the {ROLE} administrator; the caller's role is "
                      f"{role or 'none'}", "wrong-role"))
    return caller


def _operator(*, reading: bool = False) -> Caller:
    """The calling operator; the security administrator acts, the audit administrator may also read
    (a seal's status history is part of the audit trail)."""
    caller = _caller(ADMIN_SCOPE)
    esid = (request.view_args or {}).get("esid")
    return require_operator(caller, what="seals", reading=reading, problem=problem,
                            refused=lambda role: esid and _refusal(esid, caller, role))


def _refusal(esid: str, caller: Caller, role: str | None) -> None:
    registry = _registry()
    try:
        record = registry.get(esid)
    except SealError:
        return
    registry.record_event(esid, "admin.refused", actor=f"operator:{caller.sub}", status=record.status,
                          detail={"role": role, "path": request.path[:200]})


@bp.get("/openapi.json")
def openapi():
    """This API's OpenAPI 3.1 description: public, like the seal API's own."""
    settings = _state()["settings"]  # the configured URLs, never the Host header
    response = jsonify(admin_openapi_document(f"{settings.issuer}/seal/admin",
                                              settings.seal_idp_issuer or settings.issuer))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/seals")
def list_seals():
    """Every seal, filtered by ``status`` and ``q`` (esID, holder or name), paged by ``offset``."""
    _operator(reading=True)
    status, q = request.args.get("status"), request.args.get("q", "").strip()
    if status and status not in {s.value for s in SealStatus}:
        return problem(400, "Bad request", f"unknown status {status!r}", "bad-parameter")
    try:
        limit = max(1, min(MAX_PAGE, int(request.args.get("limit", 50))))
        offset = max(0, int(request.args.get("offset", 0)))
    except ValueError:
        return problem(400, "Bad request", "limit and offset are whole numbers", "bad-parameter")
    records = [r for r in _registry().list() if (not status or r.status == status)
               and (not q or q in r.esid or q in r.holder_id or q in (r.name or "") or q in r.holder_name)]
    page = records[offset:offset + limit]
    return jsonify({"items": [r.as_api() for r in page], "total": len(records),
                    "next": offset + limit if offset + limit < len(records) else None})


@bp.get("/events")
def list_events():
    """Every seal's lifecycle events, newest first: filtered by ``event``, ``esid`` and ``actor``,
    paged by ``before`` (the last ``id`` seen) and ``limit``."""
    _operator(reading=True)
    try:
        limit = max(1, min(MAX_PAGE, int(request.args.get("limit", 50))))
        before = int(request.args["before"]) if request.args.get("before") else None
    except ValueError:
        return problem(400, "Bad request", "limit and before are whole numbers", "bad-parameter")
    filters = {name: request.args.get(name, "").strip()[:128] or None for name in ("event", "esid", "actor")}
    items = _registry().all_events(before=before, limit=limit, **filters)
    return jsonify({"items": items, "next": items[-1]["id"] if len(items) == limit else None})


@bp.get("/events/verify")
def verify_events():
    """The seal chains (lifecycle events and usage records) checked now, as `yitong audit verify`."""
    _operator(reading=True)
    chain = _registry().audit_chain
    return jsonify({"chains": [chain.verify(table).as_dict() for table in (events_table, usage_table)]})


@bp.get("/seals/<esid>")
def show_seal(esid: str):
    _operator(reading=True)
    registry = _registry()
    record = _record(registry, esid)
    return jsonify({**record.as_api(), "history": registry.events(record.esid),
                    "image": f"{request.script_root}/seal/admin/seals/{record.esid}/image.png"})


@bp.get("/seals/<esid>/image.png")
def seal_image(esid: str):
    _operator(reading=True)
    registry = _registry()
    record = _record(registry, esid)
    try:
        png = registry.blob(record.esid, "image_png")
    except SealError as exc:
        return problem(exc.status, "Not made", str(exc), exc.kind)
    return png, 200, {"Content-Type": "image/png"}


@bp.post("/seals/<esid>/<action>")
def act_on_seal(esid: str, action: str):
    if action not in ACTIONS:
        return problem(404, "Not found", f"no action {action!r}; one of {', '.join(ACTIONS)}", "not-found")
    caller = _operator()
    registry = _registry()
    record = _record(registry, esid)
    body = request.get_json(silent=True) or {}
    reason = body.get("reason") if isinstance(body, dict) else None
    if not isinstance(reason, str) or not reason.strip():
        return problem(400, "Bad request", "send {\"reason\": \"...\"}: every seal action says why", "bad-parameter")
    actor = f"operator:{caller.sub}"
    if action == "approve" and registry.applicant(record.esid) == caller.sub:
        registry.record_event(record.esid, "admin.refused", actor=actor, status=record.status,
                              detail={"role": ROLE, "why": "applicant"})
        return problem(403, "Forbidden", "a seal is approved by someone other than its applicant",
                       "applicant-approves")
    if action in STEP_UP and (challenge := _step_up_challenge(caller)):
        return challenge
    try:
        if action == "revoke":
            crl_reason = body.get("crl_reason", "cessationOfOperation")
            if crl_reason not in REVOKE_REASONS:
                return problem(400, "Bad request", f"crl_reason is one of {', '.join(REVOKE_REASONS)}",
                               "bad-parameter")
            updated = registry.revoke(record.esid, actor=actor, reason=reason, crl_reason=crl_reason)
        else:
            updated = getattr(registry, action)(record.esid, actor=actor, reason=reason)
    except SealError as exc:
        return problem(exc.status, "Refused", str(exc), exc.kind)
    return jsonify(updated.as_api())
