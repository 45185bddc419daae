"""Who may call the admin REST API: a bearer access token of ours with scope ``yitong:admin``
whose subject holds the role that manages the resource (idp.operators.PERMISSIONS). A person's
token must also come from a sign-in at loa:3 or above (a second factor). A refusal is 403
problem+json and the audit event ``admin.refused``."""

from __future__ import annotations

from flask import g, request

from idp.acr import LOA_3, rank
from idp.oauth.registration import ADMIN_SCOPE, problem
from idp.operators import PERMISSIONS
from idp.services import services


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
    g.admin_actor, g.admin_role = sub, role
    return None


def _refuse(sub: str, role: str | None, area: str, why: str):
    services().audit.record("admin.refused", sub=sub, ip=request.remote_addr, user_agent=request.user_agent.string,
                            role=role, area=area, method=request.method, path=request.path[:200])
    return problem(403, "Forbidden", f"{why}; the caller's role is {role or 'none'}")
