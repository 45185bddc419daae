"""The broker's pages: ``/login/federation/<name>`` starts a sign-in at the upstream;
``/login/federation/callback`` finishes it.

The pending request (state, nonce, PKCE verifier, where to return) lives in this browser's
signed session cookie, keyed by ``state`` and used once: a callback whose ``state`` this browser
did not send is refused (CSRF / login CSRF, RFC 6749 §10.12), as is an ID token whose ``nonce``
is not the one sent (OIDC Core §3.1.3.7), an ``iss`` parameter naming another issuer (RFC 9207
mix-up defence), and a request older than :data:`PENDING_SECONDS`.
"""

from __future__ import annotations

import secrets
import time

from flask import redirect, request, session

from idp.federation import rp
from idp.federation.broker import NotLinkable, link
from idp.federation.upstreams import Upstreams
from idp.i18n import t
from idp.services import services
from idp.web import audit, error_page, page_blueprint, safe_return_to

bp = page_blueprint("idp_federation")

PENDING_SECONDS = 600
MAX_PENDING = 3
AMR = ["fed"]


def _upstreams() -> Upstreams:
    return services().federation


def redirect_uri() -> str:
    return f"{services().issuer}/login/federation/callback"


@bp.app_template_global()
def federation_upstreams() -> list[tuple[str, str]]:
    """(name, label) of the configured upstreams, for the sign-in page's links."""
    return _upstreams().summaries()


def _unavailable(name: str, reason: str):
    audit("federation.unavailable", upstream=name, reason=reason[:200])
    return error_page(t("国家政务服务平台暂时无法登录", "The national platform cannot be reached"),
                      t("请稍后再试，或使用本平台账号登录。",
                        "Please try again later, or sign in with a Yitong account."), 502)


def _refused(name: str | None, code: str, zh: str, en: str, status: int = 403, **fields):
    audit("federation.refused", upstream=name, reason=code, **fields)
    return error_page(t("无法通过国家政务服务平台登录", "Cannot sign in through the national platform"),
                      t(zh, en), status)


@bp.get("/login/federation/<name>")
def federation_start(name: str):
    upstream = _upstreams().get(name)
    if upstream is None:
        return error_page(t("无法登录", "Cannot sign in"), t("未配置该登录方式。", "No such sign-in method."), 404)
    return_to = safe_return_to(request.args.get("return_to"))
    try:
        document = rp.metadata(upstream)
    except (rp.UpstreamUnavailable, rp.UpstreamRefused) as exc:
        return _unavailable(name, str(exc))
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    verifier, challenge = rp.pkce_pair()
    pending = {k: v for k, v in (session.get("federation_pending") or {}).items()
               if time.time() - v.get("at", 0) < PENDING_SECONDS}
    pending = dict(sorted(pending.items(), key=lambda item: item[1]["at"])[-(MAX_PENDING - 1):])
    pending[state] = {"upstream": name, "nonce": nonce, "verifier": verifier, "return_to": return_to,
                      "at": time.time()}
    session["federation_pending"] = pending
    return redirect(rp.authorization_url(upstream, document, redirect_uri=redirect_uri(), state=state, nonce=nonce,
                                         challenge=challenge))


@bp.get("/login/federation/callback")
def federation_callback():
    state = request.args.get("state", "")
    pending_all = dict(session.get("federation_pending") or {})
    pending = pending_all.pop(state, None) if state else None
    session["federation_pending"] = pending_all  # used once, whatever happens next
    if pending is None or time.time() - pending["at"] > PENDING_SECONDS:
        return _refused(None, "state_mismatch", "登录请求已失效或不是从本浏览器发起的，请重新登录。",
                        "this sign-in was not started in this browser or has expired; start again", 400)
    name = pending["upstream"]
    upstream = _upstreams().get(name)
    if upstream is None:
        return _refused(name, "upstream_removed", "该登录方式已停用。", "this sign-in method was removed", 400)
    if "iss" in request.args and request.args["iss"] != upstream.issuer:
        return _refused(name, "issuer_mismatch", "登录响应来自其他平台。", "the response came from another provider",
                        400)
    if "error" in request.args:
        error = request.args.get("error", "")[:64]
        return _refused(name, "upstream_error", "国家政务服务平台未完成登录。",
                        "the national platform did not complete the sign-in", 400, error=error)
    code = request.args.get("code")
    if not code:
        return _refused(name, "no_code", "登录响应不完整。", "the sign-in response is incomplete", 400)
    try:
        document = rp.metadata(upstream)
        token = rp.redeem(upstream, document, code=code, redirect_uri=redirect_uri(), verifier=pending["verifier"])
        claims = rp.id_token_claims(upstream, document, token["id_token"], nonce=pending["nonce"])
        info = {}
        if any(rp.claim_at(claims, upstream.claims[kind]) is None for kind in ("id_number", "name")):
            # not (all) in the ID token: ask userinfo (its sub must match); the ID token's claims come first
            info = rp.userinfo(upstream, document, token["access_token"], claims["sub"])
    except rp.UpstreamUnavailable as exc:
        return _unavailable(name, str(exc))
    except rp.UpstreamRefused as exc:
        return _refused(name, "invalid_response", "国家政务服务平台的登录响应未通过校验。",
                        "the national platform's answer failed our checks", 400, detail=str(exc)[:200])
    try:
        outcome = link(upstream, services().identities, services().accounts, claims["sub"], claims, info)
    except NotLinkable as exc:
        return _refused(name, exc.code, exc.zh, exc.en, upstream_sub=claims["sub"])
    audit("federation.login", sub=outcome.sub, upstream=name, upstream_sub=claims["sub"], acr=outcome.acr,
          created=outcome.created)
    from idp.signin.routes import _signed_in

    user = services().accounts.get(outcome.sub)
    return _signed_in(user, AMR, pending["return_to"], acr=outcome.acr)
