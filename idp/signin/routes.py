"""Signing in: the sign-in page (password, CAPTCHA, throttling), the second factor, MFA enrolment; and
begin_session(), which every sign-in method (certificate, federation, sign-up) ends with. The consent
form of /authorize is in idp/oauth/routes.py."""

from __future__ import annotations

import secrets
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import segno
from flask import abort, jsonify, make_response, redirect, render_template, request, session
from markupsafe import Markup

from idp.accounts.store import Accounts
from idp.audit import mask_login
from idp.i18n import t
from idp.passkeys.ceremony import RelyingParty
from idp.security import audio_for, check_answer, new_challenge, new_secret, provisioning_uri, verify_totp
from idp.services import services
from idp.web import (
    SSO_COOKIE,
    asking_client,
    audit,
    csrf_failure,
    csrf_ok,
    csrf_token,
    current_session,
    error_page,
    has_second_factor,
    masked_account,
    page_blueprint,
    safe_return_to,
    to_sign_in,
)

bp = page_blueprint("idp_signin")


def _login_hint(return_to: str) -> str:
    """The authorization request's ``login_hint`` (OIDC Core §3.1.2.1), to fill in the login name."""
    hint = parse_qs(urlsplit(return_to).query).get("login_hint", [""])[0].strip()
    return hint if 0 < len(hint) <= 64 and hint.isprintable() else ""


def _login_page(return_to: str, error: str | None, status: int = 200, captcha: bool = False):
    challenge = new_challenge(services().captcha_key) if captcha else None
    return render_template("idp/login.html", return_to=return_to, csrf=session["csrf"], error=error,
                           captcha=challenge,
                           # after a wrong password the name stays filled in: only the password is retyped
                           login_hint=request.form.get("login", "").strip()[:64] or _login_hint(return_to),
                           asking=asking_client(return_to),
                           passkeys=RelyingParty.of_issuer(services().issuer, "") is not None), \
        status, {"Cache-Control": "no-store"}


# -- the CAPTCHA's new picture and its audio form (idp/security/captcha.py; issue 18 item 6) -----------------
@bp.get("/captcha/new")
def captcha_new():
    """A new challenge for the page's script to swap in without reloading the form (what was typed stays)."""
    challenge = new_challenge(services().captcha_key)
    audio = "/captcha/audio?" + urlencode({"t": challenge.audio_token})
    return jsonify(image=challenge.data_uri, token=challenge.token, audio=audio), 200, {"Cache-Control": "no-store"}


@bp.get("/captcha/audio")
def captcha_audio():
    """The challenge's code read out (WAV): the alternative that does not depend on sight."""
    wav = audio_for(services().captcha_key, request.args.get("t", ""))
    if wav is None:
        return error_page(t("验证码已过期", "The CAPTCHA has expired"),
                          t("请换一张验证码后再收听。", "Get a new CAPTCHA, then listen again."), 404)
    return wav, 200, {"Content-Type": "audio/wav", "Cache-Control": "no-store"}


@bp.route("/login", methods=["GET", "POST"])
def login():
    return_to = safe_return_to(request.values.get("return_to"))
    if request.method != "POST":  # GET, or HEAD (Flask answers it as GET without a body)
        csrf_token()  # ?captcha=1: the CAPTCHA's "new picture" link; a picture nobody asked for is ignored
        return _login_page(return_to, None, captcha=request.args.get("captcha") == "1")
    if not csrf_ok():
        return csrf_failure()
    idp = services()
    login_name, ip = request.form.get("login", "").strip(), request.remote_addr or "unknown"
    decision = idp.throttle.before_attempt(login_name, ip)
    if not decision.allowed:  # this address, not the account: the owner elsewhere is unaffected
        audit("login.throttled", login=mask_login(login_name))
        page, status = error_page(t("尝试次数过多", "Too many attempts"),
                                   t(f"请在 {decision.retry_after_seconds} 秒后重试。",
                                     f"Try again in {decision.retry_after_seconds} seconds."), 429)
        return page, status, {"Retry-After": str(decision.retry_after_seconds)}
    if decision.captcha_required:
        token, answer = request.form.get("captcha_token", ""), request.form.get("captcha_answer", "")
        if not token:  # the form was sent before the user knew a CAPTCHA was needed: no failure
            return _login_page(return_to, t("请输入验证码", "Please type the characters shown"), 401, captcha=True)
        if not check_answer(idp.captcha_key, token, answer, replay_cache=idp.captcha_replay):
            idp.throttle.record_failure(login_name, ip)
            return _login_page(return_to, t("验证码错误", "The characters did not match"), 401, captcha=True)
    accounts: Accounts = idp.accounts
    user = accounts.authenticate(login_name, request.form.get("password", ""))
    if user is None:
        idp.throttle.record_failure(login_name, ip)
        audit("login.failure", login=mask_login(login_name))
        return _login_page(return_to, t("用户名或密码错误", "Wrong username or password"), 401,
                           captcha=decision.captcha_required)
    if has_second_factor(user):  # the password was right; the session starts only after the second factor
        session["mfa_pending"] = {"sub": user.sub, "login": login_name, "return_to": return_to, "at": time.time()}
        return redirect("/login/mfa")
    idp.throttle.record_success(login_name, ip)
    return _signed_in(user, ["pwd"], return_to)


def begin_session(user, amr: list[str], acr: str | None = None, step_up: bool = False):
    """The SSO session of a sign-in; returns (cookie, session) and renews the CSRF token.

    The same person already signed in in this browser: that session continues (same sid, so grants,
    ID tokens' ``sid`` and back-channel logout still name it) at the new level with a new cookie;
    organisations proven in it stay proven only through a step-up (``step_up``), any other new
    sign-in proves them again. Someone else signed in here: their session ends first, as at
    /logout (their grants revoked, back-channel logout sent) — a shared counter PC must not keep
    the previous person's session alive."""
    from idp.agents.routes import forget_org_proofs

    idp = services()
    if idp.accounts.locked(user.sub):  # every way in (password, SMS, certificate, federation) passes here
        audit("login.failure", sub=user.sub, reason="locked", amr=amr)
        abort(make_response(error_page(t("账户已被锁定", "Account locked"),
                                       t("该账户已被安全管理员锁定，请联系管理员。",
                                         "A security administrator has locked this account; contact the "
                                         "administrator."), 403)))
    old = current_session()
    if old is not None and old.sub != user.sub:
        ended = idp.tokens.revoke_session_grants(old.sid)
        idp.accounts.end_session(old.sid)
        audit("logout", sub=old.sub, sid=old.sid, reason="another_person_signed_in")
        idp.notify_backchannel(old, {g.client_id for g in ended})
    renew = old.sid if old is not None and old.sub == user.sub else None
    cookie, sso = idp.accounts.start_session(user, amr, acr, renew=renew)
    audit("login.success", sub=user.sub, sid=sso.sid, amr=amr, acr=sso.acr, renewed=renew is not None)
    if not step_up:
        forget_org_proofs()
    session["csrf"] = secrets.token_urlsafe(16)  # a new token after login
    return cookie, sso


def _signed_in(user, amr: list[str], return_to: str, acr: str | None = None, step_up: bool = False):
    """:func:`begin_session`, then on to ``return_to`` with the new cookie."""
    cookie, _ = begin_session(user, amr, acr, step_up)
    session["fresh_login"] = return_to
    response = redirect(return_to)
    response.set_cookie(SSO_COOKIE, cookie, httponly=True, samesite="Lax", secure=services().secure, path="/")
    return response


MFA_PENDING_SECONDS = 300


def begin_step_up(user, sso, return_to: str) -> None:
    """A signed-in person is asked for their second factor to raise this sign-in (idp/oauth/routes.py
    ``_step_up``): /login/mfa then renews the session (same sid, new cookie) whose amr adds ``otp``,
    at the level idp/acr.py ``sign_in_level`` gives, and returns to ``return_to``."""
    session["mfa_pending"] = {"sub": user.sub, "login": user.username or user.phone or user.sub,
                              "return_to": return_to, "at": time.time(), "step_up": sso.sid,
                              "amr": list(sso.amr)}


def _mfa_page(pending: dict, error: str | None, status: int = 200):
    user = services().accounts.get(pending["sub"])
    return render_template("idp/mfa.html", csrf=csrf_token(), error=error, step_up=bool(pending.get("step_up")),
                           has_totp=bool(user and user.has_totp),
                           has_passkey=bool(user and services().passkeys.has_any(user.sub))), status


@bp.route("/login/mfa", methods=["GET", "POST"])
def login_mfa():
    """Second step: a TOTP code (RFC 6238) or a single-use recovery code."""
    pending = session.get("mfa_pending")
    if not pending or time.time() - pending["at"] > MFA_PENDING_SECONDS:
        session.pop("mfa_pending", None)
        return to_sign_in((pending or {}).get("return_to", "/"))
    if request.method != "POST":  # GET, or HEAD (Flask answers it as GET without a body)
        return _mfa_page(pending, None)
    if not csrf_ok():
        return csrf_failure()
    idp, sub, code = services(), pending["sub"], request.form.get("code", "").strip()
    accounts: Accounts = idp.accounts
    secret = accounts.totp_secret(sub)
    ok = bool(secret) and verify_totp(secret, code, replay_cache=idp.totp_replay, user_key=sub)
    amr = ["pwd", "otp"]
    if not ok and "-" in code:
        ok, amr = accounts.use_recovery_code(sub, code), ["pwd", "otp", "kba"]
    user = accounts.get(sub)
    if not ok or user is None:
        idp.throttle.record_failure(pending["login"], request.remote_addr or "unknown")
        audit("mfa.failure", sub=sub)
        return _mfa_page(pending, t("验证码不正确", "The code is not right"), 401)
    return finish_second_factor(pending, user, amr)


def finish_second_factor(pending: dict, user, amr: list[str]):
    """The second factor (TOTP, recovery code, passkey) passed: the session starts, or the session
    being stepped up is renewed with the earlier factors plus this one."""
    idp = services()
    session.pop("mfa_pending", None)
    idp.throttle.record_success(pending["login"], request.remote_addr or "unknown")
    step_up = bool(pending.get("step_up"))
    if step_up:  # the earlier factors of the session being raised, plus this one
        amr = list(dict.fromkeys([*pending.get("amr", []), *amr]))
        old = current_session()
        step_up = old is not None and old.sid == pending["step_up"] and old.sub == user.sub  # still that session
    audit("mfa.success", sub=user.sub, amr=amr, step_up=step_up)
    return _signed_in(user, amr, pending["return_to"], step_up=step_up)


@bp.route("/account/mfa", methods=["GET", "POST"])
def account_mfa():
    """Enrol an authenticator app: scan (or type) the secret, confirm one code, keep the recovery codes."""
    sso = current_session()
    if sso is None:
        return to_sign_in("/account/mfa")
    accounts: Accounts = services().accounts
    user = accounts.get(sso.sub)
    csrf_token()
    if user.has_totp:
        return render_template("idp/mfa_enrol.html", enabled=True, csrf=session["csrf"])
    if request.method == "POST":
        if not csrf_ok():
            return csrf_failure()
        secret = session.get("totp_enrolling")
        if secret and verify_totp(secret, request.form.get("code", ""), replay_cache=services().totp_replay,
                                  user_key=user.sub):
            codes = accounts.enrol_totp(user.sub, secret)
            session.pop("totp_enrolling", None)
            audit("mfa.enrolled", sub=user.sub)
            return render_template("idp/mfa_enrol.html", enabled=True, recovery_codes=codes, csrf=session["csrf"])
        error = t("验证码不正确", "The code is not right")
    else:
        session["totp_enrolling"] = new_secret()
        error = None
    secret = session["totp_enrolling"]
    label = masked_account(user)  # the label never carries the whole phone number
    uri = provisioning_uri(secret, label)
    qr = Markup(segno.make(uri, error="m").svg_inline(scale=5, title=t("动态验证码二维码", "Authenticator QR code")))  # noqa: S704 (our own SVG)
    return render_template("idp/mfa_enrol.html", enabled=False, secret=secret, csrf=session["csrf"], error=error,
                           uri=uri, qr=qr, account_label=label, secret_groups=_in_groups(secret))


def _in_groups(secret: str) -> str:
    """ABCD EFGH IJKL ...: a base32 key a person can copy by eye (apps ignore the spaces)."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))

