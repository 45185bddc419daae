"""/admin/api/v1/users, /organisations, /agents (security), /audit (audit), /operators and /keys
(system): JSON, RFC 7807 errors.

Every call passes :func:`idp.admin.access.authorise` for its area first; every change is an
audit event naming the operator. Sensitive actions (role grants and revocations, locking an
account, revoking an agent's mandate) need a recent sign-in (:func:`idp.admin.access.recent_sign_in`).
Lists page with ``limit`` and a cursor (``before`` = the last id or sub seen), newest first.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select

from idp.acr import LEVELS
from idp.admin.access import authorise, recent_sign_in
from idp.agents.store import AgentError
from idp.audit import EVENTS
from idp.models import audit_table, users_table
from idp.oauth.registration import problem
from idp.operators import ROLES, OperatorError
from idp.services import services

bp = Blueprint("idp_admin_v1", __name__, url_prefix="/admin/api/v1")
_AREAS = {"users": "users", "audit": "audit", "operators": "operators", "keys": "keys",
          "organisations": "organisations", "agents": "agents"}
MAX_PAGE = 200


@bp.before_request
def require_role():
    area = request.path.removeprefix(bp.url_prefix + "/").split("/")[0]
    if area == "openapi.json":
        return None  # the API's description is public, like discovery
    return authorise(_AREAS.get(area, area))


@bp.get("/openapi.json")
def openapi():
    from idp.admin.openapi import admin_openapi

    response = jsonify(admin_openapi(services().issuer))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def _record(event: str, **detail) -> None:
    services().audit.record(event, sub=g.admin_actor, ip=request.remote_addr, user_agent=request.user_agent.string,
                            via="admin-api", **detail)


def _limit() -> int:
    try:
        return max(1, min(MAX_PAGE, int(request.args.get("limit", 50))))
    except ValueError:
        return 50


def _body() -> dict | None:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


def mask_phone(phone: str | None) -> str | None:
    return f"{phone[:3]}****{phone[-4:]}" if phone and len(phone) >= 8 else phone


def _usernames(subs) -> dict[str, str]:
    """Operators know people by username; an operator that is an automation client has none."""
    with services().accounts.engine.connect() as conn:
        return dict(conn.execute(select(users_table.c.sub, users_table.c.username)
                                 .where(users_table.c.sub.in_(set(subs)))).all())


# -- users (security administrator) -----------------------------------------------------------------
@bp.get("/users")
def list_users():
    """Accounts, searched by username or sub prefix (``q``); phone numbers masked."""
    query = select(users_table).where(users_table.c.disabled.is_(False)).order_by(users_table.c.sub).limit(_limit())
    if q := request.args.get("q", "").strip():
        query = query.where(users_table.c.username.startswith(q, autoescape=True)
                            | users_table.c.sub.startswith(q, autoescape=True))
    if after := request.args.get("after"):
        query = query.where(users_table.c.sub > after)
    with services().accounts.engine.connect() as conn:
        rows = conn.execute(query).all()
    return jsonify({"items": [{"sub": r.sub, "username": r.username, "phone": mask_phone(r.phone), "acr": r.acr,
                               "second_factor": r.totp_secret_wrapped is not None,
                               "locked": r.locked_at is not None} for r in rows],
                    "next": rows[-1].sub if len(rows) == _limit() else None})


@bp.post("/users/<sub>/level")
def set_user_level(sub: str):
    body = _body()
    if not body or body.get("acr") not in LEVELS or not str(body.get("reason") or "").strip():
        return problem(400, "Bad Request", f"send {{\"acr\": one of {', '.join(LEVELS)}, \"reason\": \"...\"}}")
    if services().accounts.get(sub) is None:
        return problem(404, "Not Found", f"no account {sub}")
    services().accounts.set_level(sub, body["acr"])
    _record("user.level_set", target=sub, acr=body["acr"], reason=str(body["reason"])[:500])
    return jsonify({"sub": sub, "acr": body["acr"]})


def _reason() -> str | None:
    body = _body() or {}
    reason = body.get("reason")
    return reason.strip()[:500] if isinstance(reason, str) and reason.strip() else None


def _end_sessions(sub: str) -> list[str]:
    """End every session of ``sub`` as /logout does: grants revoked, back-channel logout sent."""
    idp = services()
    sids = []
    for sso in idp.accounts.sessions.active(sub):
        ended = idp.tokens.revoke_session_grants(sso.sid)
        idp.accounts.end_session(sso.sid)
        idp.notify_backchannel(sso, {grant.client_id for grant in ended})
        sids.append(sso.sid)
    return sids


@bp.post("/users/<sub>/lock")
@bp.post("/users/<sub>/unlock")
def lock_user(sub: str):
    reason = _reason()
    if reason is None:
        return problem(400, "Bad Request", "send {\"reason\": \"...\"}: locking and unlocking say why")
    if request.path.endswith("/lock") and (challenge := recent_sign_in()):
        return challenge
    if services().accounts.get(sub) is None:
        return problem(404, "Not Found", f"no account {sub}")
    locking = request.path.endswith("/lock")
    services().accounts.set_locked(sub, locking)
    ended = _end_sessions(sub) if locking else []
    _record("user.locked" if locking else "user.unlocked", target=sub, reason=reason, sessions_ended=len(ended))
    return jsonify({"sub": sub, "locked": locking, "sessions_ended": len(ended)})


@bp.get("/users/<sub>/sessions")
def user_sessions(sub: str):
    return jsonify({"items": [{"sid": s.sid, "acr": s.acr, "amr": s.amr, "auth_time": s.auth_time}
                              for s in services().accounts.sessions.active(sub)]})


@bp.delete("/users/<sub>/sessions")
def end_user_sessions(sub: str):
    for sid in _end_sessions(sub):
        _record("session.revoked", target=sub, sid=sid, by_operator=True)
    return "", 204


# -- organisations and their agents (security administrator) ------------------------------------------
def _organisation_dict(organisation) -> dict:
    return {"uscc": organisation.uscc, "name": organisation.name,
            "legal_representative_sub": organisation.legal_representative_sub, "acr": organisation.acr,
            "uscc_warnings": organisation.uscc_warnings, "trust_framework": organisation.trust_framework,
            "verified_at": organisation.verified_at.isoformat()}


@bp.get("/organisations")
def list_organisations():
    """Registered organisations by USCC, searched by a USCC prefix or part of the name (``q``),
    paged by ``after`` (the last USCC seen)."""
    rows = services().organisations.search(request.args.get("q", "").strip()[:200],
                                           after=request.args.get("after") or None, limit=_limit())
    return jsonify({"items": [_organisation_dict(o) for o in rows],
                    "next": rows[-1].uscc if len(rows) == _limit() else None})


@bp.get("/organisations/<uscc>")
def show_organisation(uscc: str):
    """One organisation and its agents' mandates (every state, newest first; ``state`` filters)."""
    organisation = services().organisations.get(uscc)
    if organisation is None:
        return problem(404, "Not Found", f"no registered organisation {uscc}")
    state = request.args.get("state")
    agents = [a.as_dict() for a in services().agents.of_organisation(uscc) if not state or a.state == state]
    # Operators know people by username, not by subject identifier: both are given.
    names = _usernames([organisation.legal_representative_sub, *(a["agent_sub"] for a in agents)])
    for agent in agents:
        agent["agent_username"] = names.get(agent["agent_sub"])
    return jsonify({**_organisation_dict(organisation), "agents": agents,
                    "legal_representative_username": names.get(organisation.legal_representative_sub)})


@bp.get("/agents/<agent_id>")
def show_agent(agent_id: str):
    agent = services().agents.get(agent_id)
    if agent is None:
        return problem(404, "Not Found", f"no agent mandate {agent_id}")
    return jsonify(agent.as_dict())


@bp.post("/agents/<agent_id>/revoke")
def revoke_agent(agent_id: str):
    """End an agent's mandate at once, with a reason: its grants end, introspection answers inactive."""
    reason = _reason()
    if reason is None:
        return problem(400, "Bad Request", "send {\"reason\": \"...\"}: revoking a mandate says why")
    if challenge := recent_sign_in():
        return challenge
    try:
        agent = services().agents.revoke(actor=g.admin_actor, agent_id=agent_id, operator=True)
    except AgentError as exc:
        return problem(exc.status, "Not Found" if exc.status == 404 else "Conflict", exc.en)
    _record("agent.revoked", uscc=agent.uscc, agent_sub=agent.agent_sub, agent_id=agent.agent_id, roles=agent.roles,
            revoked_by=g.admin_actor, reason=reason)
    return jsonify(agent.as_dict())


# -- audit trail (audit administrator) ---------------------------------------------------------------
@bp.get("/audit")
def list_audit():
    """Audit events, newest first; filters ``event`` and ``sub``; cursor ``before`` (an id)."""
    query = select(audit_table).order_by(audit_table.c.id.desc()).limit(_limit())
    event = request.args.get("event")
    if event:
        if event not in EVENTS:
            return problem(400, "Bad Request", f"unknown event {event!r}")
        query = query.where(audit_table.c.event == event)
    if sub := request.args.get("sub"):
        query = query.where(audit_table.c.sub == sub)
    if (before := request.args.get("before", "")).isdigit():
        query = query.where(audit_table.c.id < int(before))
    with services().audit.engine.connect() as conn:
        rows = conn.execute(query).all()
    items = [{"id": r.id, "at": r.at.isoformat(), "event": r.event, "sub": r.sub, "client_id": r.client_id,
              "ip": r.ip, "detail": r.detail, "chain_seq": r.chain_seq} for r in rows]
    return jsonify({"items": items, "next": rows[-1].id if len(rows) == _limit() else None})


@bp.get("/audit/verify")
def verify_audit():
    """The IdP's audit chain checked now (seal usage: `yitong audit verify`, which sees both rooms)."""
    chain = services().audit.chain
    report = chain.verify(audit_table)
    return jsonify(report.as_dict())


# -- keys (system administrator) ------------------------------------------------------------------
@bp.get("/keys")
def list_keys():
    """The keystore's keys (no private parts) with their age in days, filtered by ``purpose``."""
    from keys.clock import utcnow

    now = utcnow()
    records = services().keys.keystore.list(purpose=request.args.get("purpose") or None)
    return jsonify({"items": [{**r.as_dict(), "age_days": (now - r.created_at).days} for r in records]})


# -- operators (system administrator) ----------------------------------------------------------------
@bp.get("/operators")
def list_operators():
    operators = services().operators.list()
    names = _usernames(o.sub for o in operators)
    return jsonify({"items": [{**o.as_dict(), "username": names.get(o.sub)} for o in operators]})


@bp.post("/operators")
def grant_operator():
    if challenge := recent_sign_in():
        return challenge
    body = _body()
    if not body or body.get("role") not in ROLES or not (body.get("sub") or body.get("username")):
        return problem(400, "Bad Request", f"send {{\"sub\" (or \"username\"): \"...\", \"role\": one of "
                                           f"{', '.join(ROLES)}}}")
    # The operator is an account (by sub or username) or an automation client (by client id): one
    # that exists, so a typing error never leaves a role for nobody.
    named = str(body.get("sub") or body.get("username"))[:64]
    accounts = services().accounts
    account = accounts.get(named) if body.get("sub") else accounts.find_by_username(named)
    sub = account.sub if account else None
    if sub is None and body.get("sub") and services().clients.get(named) is not None:
        sub = named
    if sub is None:
        return problem(404, "Not Found", f"no account or client {named!r}")
    try:
        granted = services().operators.grant(sub, body["role"], by=g.admin_actor)
    except OperatorError as exc:
        return problem(409, "Conflict", str(exc))
    _record("operator.granted", operator=granted.sub, role=granted.role, reason=_reason())
    response = jsonify(granted.as_dict())
    response.status_code = 201
    return response


@bp.delete("/operators/<sub>")
def revoke_operator(sub: str):
    if challenge := recent_sign_in():
        return challenge
    try:
        revoked = services().operators.revoke(sub, by=g.admin_actor)
    except OperatorError as exc:
        return problem(409, "Conflict", str(exc))
    _record("operator.revoked", operator=revoked.sub, role=revoked.role, reason=_reason())
    return "", 204
