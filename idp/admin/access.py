"""Who may call the admin REST API: a bearer access token of ours with scope ``yitong:admin``
whose subject holds the role that manages the resource (idp.operators.PERMISSIONS). A person's
token must also come from a sign-in at loa:3 or above (a second factor). A refusal is 403
problem+json and the audit event ``admin.refused``.

Sensitive actions (granting or revoking a role, locking an account, revoking an agent's mandate)
also need a recent sign-in (:func:`recent_sign_in`): a person's token whose ``auth_time`` is older
than the step-up window (:func:`keys.stepup.window`) gets 401 with ``WWW-Authenticate: Bearer
error="insufficient_user_authentication", max_age=...`` (RFC 9470), and the client signs the
operator in again (``max_age=0``) before it repeats the call."""

from __future__ import annotations

from flask import current_app, g, request

from idp.acr import LOA_3, rank
from idp.oauth.registration import ADMIN_SCOPE, problem
from idp.operators import PERMISSIONS
from idp.services import services
from keys import stepup


def authorise(area: str):
    """None when the call may go on (``g.admin_actor``, ``g.admin_role`` set), else the response."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    claims = services().tokens.check_access_token(token.strip()) if scheme.lower() == "bearer" else None
    if claims is None:
        return problem(401, "Unauthorized", "a valid bearer access token is needed",
                       headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    if ADMIN_SCOPE not in claims.get("scope", "").split():
        return problem(403, "Forbidden", f"the token lacks the {ADMIN_SCOPE} scope",
                       headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{ADMIN_SCOPE}"'})
    sub = claims["sub"]
    role = services().operators.role_of(sub)
    needed = PERMISSIONS.get(area)
    person = sub != claims.get("client_id")
    if person and rank(claims.get("acr")) < rank(LOA_3):
        return _refuse(sub, role, area, f"operators sign in at {LOA_3} with a second factor")
    if needed is None or role != needed:
        return _refuse(sub, role, area, f"{area} are managed by the {needed} administrator" if needed
                       else f"no operator role manages {area}")
    g.admin_actor, g.admin_role, g.admin_claims = sub, role, claims
    return None


def recent_sign_in(max_age: int | None = None):
    """None when the caller signed in within ``max_age`` seconds (default: the step-up window,
    YITONG_ADMIN_STEPUP_SECONDS), else the RFC 9470 challenge."""
    max_age = stepup.window(current_app.config) if max_age is None else max_age
    if not stepup.needed(g.admin_claims, max_age):
        return None
    return problem(401, "Unauthorized", stepup.detail(max_age), f"urn:yitong:problem:{stepup.PROBLEM_KIND}",
                   headers={"WWW-Authenticate": stepup.challenge(max_age)})


def _refuse(sub: str, role: str | None, area: str, why: str):
    services().audit.record("admin.refused", sub=sub, ip=request.remote_addr, user_agent=request.user_agent.string,
                            role=role, area=area, method=request.method, path=request.path[:200])
    return problem(403, "Forbidden", f"{why}; the caller's role is {role or 'none'}")
