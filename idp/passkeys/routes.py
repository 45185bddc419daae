"""Passkey pages and endpoints (issue 18 item 5): the list at /account/passkeys (add, remove), and
signing in with one at /login/passkey — without a password (a discoverable credential, user
verification required), or as the second factor after the password (/login/mfa)."""

from __future__ import annotations

from flask import jsonify, redirect, render_template, request, session

from idp.i18n import t
from idp.passkeys import ceremony
from idp.passkeys.store import PasskeyError, Passkeys
from idp.services import services
from idp.web import (
    audit,
    csrf_failure,
    csrf_ok,
    csrf_token,
    masked_account,
    page_blueprint,
    safe_return_to,
    signed_in_account,
    to_sign_in,
)

bp = page_blueprint("idp_passkeys")
NO_STORE = {"Cache-Control": "no-store"}


def _relying_party() -> ceremony.RelyingParty | None:
    from flask import current_app

    site = current_app.jinja_env.globals.get("site")
    name = getattr(site, "name_zh", None) or "Yitong"
    return ceremony.RelyingParty.of_issuer(services().issuer, name)


def _refused(message: str, status: int = 400):
    return jsonify(error=message), status, NO_STORE


def _store() -> Passkeys:
    return services().passkeys


# -- the list: /account/passkeys -------------------------------------------------------------------------------
@bp.get("/account/passkeys")
def account_passkeys():
    sso = signed_in_account()
    if sso is None:
        return to_sign_in("/account/passkeys")
    return render_template("idp/passkeys.html", csrf=csrf_token(), passkeys=_store().of_person(sso.sub),
                           available=_relying_party() is not None, done=request.args.get("done")), 200, NO_STORE


@bp.post("/account/passkeys/options")
def registration_options():
    sso = signed_in_account()
    rp = _relying_party()
    if sso is None or rp is None or not csrf_ok():
        return _refused(t("请刷新页面后重试。", "Reload the page and try again."), 403)
    user = services().accounts.get(sso.sub)
    options = ceremony.registration_options(rp, sso.sub, masked_account(user), _store().of_person(sso.sub))
    return options, 200, {"Content-Type": "application/json", **NO_STORE}


@bp.post("/account/passkeys")
def add_passkey():
    sso = signed_in_account()
    rp = _relying_party()
    if sso is None or rp is None or not csrf_ok():
        return _refused(t("请刷新页面后重试。", "Reload the page and try again."), 403)
    name = (request.form.get("name") or "").strip()[:64] or t("通行密钥", "Passkey")
    try:
        made = ceremony.verify_registration(rp, sso.sub, request.form.get("credential", ""))
        _store().add(sso.sub, made.credential_id, made.public_key, made.sign_count, name, made.synced)
    except PasskeyError as error:
        audit("passkey.refused", sub=sso.sub, reason=str(error)[:120])
        return _refused(t("未能添加通行密钥：", "The passkey was not added: ") + str(error))
    audit("passkey.added", sub=sso.sub, synced=made.synced)
    return jsonify(redirect="/account/passkeys?done=added"), 200, NO_STORE


@bp.post("/account/passkeys/remove")
def remove_passkey():
    sso = signed_in_account()
    if sso is None:
        return to_sign_in("/account/passkeys")
    if not csrf_ok():
        return csrf_failure()
    if _store().remove(sso.sub, request.form.get("credential_id", "")):
        audit("passkey.removed", sub=sso.sub)
    return redirect("/account/passkeys?done=removed")


# -- signing in: /login/passkey --------------------------------------------------------------------------------
def _purpose() -> tuple[str, str | None]:
    """("mfa", sub) after a right password (the second factor), else ("login", None): no password."""
    pending = session.get("mfa_pending")
    return ("mfa", pending["sub"]) if pending else ("login", None)


@bp.post("/login/passkey/options")
def authentication_options():
    rp = _relying_party()
    if rp is None or not csrf_ok():
        return _refused(t("请刷新页面后重试。", "Reload the page and try again."), 403)
    purpose, sub = _purpose()
    allowed = _store().of_person(sub) if sub else []
    return ceremony.authentication_options(rp, purpose, sub, allowed), 200, {"Content-Type": "application/json",
                                                                             **NO_STORE}


@bp.post("/login/passkey")
def sign_in_with_passkey():
    from idp.signin.routes import _signed_in, finish_second_factor

    rp = _relying_party()
    if rp is None or not csrf_ok():
        return _refused(t("请刷新页面后重试。", "Reload the page and try again."), 403)
    idp = services()
    purpose, _ = _purpose()
    credential = request.form.get("credential", "")
    ip = request.remote_addr or "unknown"
    decision = idp.throttle.before_attempt("passkey", ip)
    if not decision.allowed:
        return _refused(t(f"尝试次数过多，请在 {decision.retry_after_seconds} 秒后重试。",
                          f"Too many attempts; try again in {decision.retry_after_seconds} seconds."), 429)
    try:
        passkey = _store().get(ceremony.credential_id_of(credential))
        if passkey is None:
            raise PasskeyError(t("这个通行密钥未在本平台登记（可能已被删除）。",
                                 "This passkey is not registered here (it may have been removed)."))
        sign_count = ceremony.verify_authentication(rp, purpose, credential, passkey)
    except PasskeyError as error:
        idp.throttle.record_failure("passkey", ip)
        audit("login.failure", method="passkey", reason=str(error)[:120])
        return _refused(t("通行密钥验证失败：", "The passkey check failed: ") + str(error), 401)
    user = idp.accounts.get(passkey.sub)
    if user is None:
        return _refused(t("账号已停用", "The account is disabled"), 401)
    _store().used(passkey.credential_id, sign_count)
    # RFC 8176: a synced passkey is a software-secured key, one bound to its authenticator hardware-secured;
    # user verification (required) makes it multi-factor on its own.
    amr = ["swk" if passkey.synced else "hwk", "user"]
    if purpose == "mfa":
        response = finish_second_factor(session["mfa_pending"], user, ["pwd", amr[0]])
    else:
        response = _signed_in(user, amr, safe_return_to(request.form.get("return_to")))
    answer = jsonify(redirect=response.headers["Location"])  # fetch() cannot follow a redirect for the page
    for cookie in response.headers.getlist("Set-Cookie"):
        answer.headers.add("Set-Cookie", cookie)
    answer.headers["Cache-Control"] = "no-store"
    return answer
