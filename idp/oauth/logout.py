"""OpenID Connect RP-Initiated Logout 1.0 at /logout (discovery's ``end_session_endpoint``; the route:
idp/oauth/routes.py).

A request with an ``id_token_hint`` of ours naming the person signed in on this browser comes
from an RP that person used (§2): the session ends at once and the browser goes on to a
``post_logout_redirect_uri`` registered for that client (with ``state``). Anything else — no
hint (a bare link, an ``<img>`` on any site, CAS's /cas/logout), or a hint naming someone else —
could have been sent by any site, so it ends nothing: the person is asked (§2 lets the OP ask
the End-User whether to log out) on a page whose form posts back here with the same CSRF token
the sign-in pages use (idp/web.py); only that POST ends the session and then follows the same
redirect rules. Ending a session revokes its grants and queues back-channel logout tokens
(OIDC Back-Channel Logout 1.0, idp/oauth/backchannel_logout.py) for its RPs.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import current_app, redirect, render_template, request

from idp.oauth.backchannel_logout import logout_token_claims
from idp.services import services
from idp.web import SSO_COOKIE, audit, csrf_token
from keys import jose

# What the confirmation form carries over to its POST (the hint itself is not needed there).
CARRIED = ("client_id", "post_logout_redirect_uri", "state")


def id_token_hint_claims(hint: str) -> dict | None:
    """The claims of an ID token we issued (signature and issuer checked; an expired one is still a
    valid hint, OIDC Core §3.1.2.1 and RP-Initiated Logout §2), else None."""
    try:
        _header, claims = jose.verify_jwt(hint, services().keys.verification_keys(hint),
                                          algorithms=["ES256", "SM2"])
    except Exception:
        return None
    if claims.get("iss") != services().issuer or not claims.get("sub") or not claims.get("aud"):
        return None
    return claims


def notify_backchannel(sso, client_ids: set[str]) -> None:
    """Queue a logout token for every RP of the ended session that asked for one."""
    idp = services()
    for client_id in sorted(client_ids):
        client = idp.clients.get(client_id)
        uri = client.metadata.get("backchannel_logout_uri") if client else None
        if not uri:
            continue
        claims = logout_token_claims(idp.issuer, client_id, idp.tokens.subject_for(client, sso.sub), sso.sid)
        token = idp.keys.sign(claims, client.id_token_signed_response_alg, typ="logout+jwt")
        idp.jobs.enqueue("idp.oauth.backchannel_logout:deliver", uri, token)


def audience(claims: dict) -> str:
    return claims["aud"] if isinstance(claims["aud"], str) else claims["aud"][0]


def names_the_person(claims: dict | None, sso) -> bool:
    """The hint is an ID token of the person of this session (as its client saw them: pairwise)."""
    if claims is None:
        return False
    client = services().clients.get(audience(claims))
    return claims["sub"] == services().tokens.subject_for(client, sso.sub)


def confirmation_page(client_id: str | None):
    """The question, whose form carries the request on (the client as the hint named it, if any)."""
    carried = {name: request.values[name] for name in CARRIED if request.values.get(name)}
    if client_id:
        carried["client_id"] = client_id
    response = current_app.make_response(render_template("idp/logout_confirm.html", csrf=csrf_token(),
                                                         carried=carried))
    response.headers["Cache-Control"] = "no-store"
    return response


def end_session(sso, client_id: str | None) -> None:
    idp = services()
    ended = idp.tokens.revoke_session_grants(sso.sid)
    idp.accounts.end_session(sso.sid)
    audit("logout", sub=sso.sub, client_id=client_id, sid=sso.sid)
    notify_backchannel(sso, {g.client_id for g in ended})


def after_logout(client_id: str | None):
    """A post_logout_redirect_uri registered for the client (with state), else our own page."""
    target = request.values.get("post_logout_redirect_uri")
    client = services().clients.get(client_id) if client_id else None
    if target and client and target in client.post_logout_redirect_uris:
        state = request.values.get("state")
        response = redirect(target + (("&" if "?" in target else "?") + urlencode({"state": state}) if state else ""))
    else:
        response = current_app.make_response(render_template("idp/logged_out.html"))
    response.delete_cookie(SSO_COOKIE, path="/")
    return response


