"""Self-service by SMS code (issue 5): sign-up by mobile number, password reset, phone change.

Not idp/registration.py, which is dynamic *client* registration (RFC 7591). The sign-up page is
``GET /register`` (RFC 7591 uses only ``POST /register`` and ``/register/<client_id>``); its steps
post to ``/signup/...`` so that no path of ours can shadow a client id.

Every flow has the same two steps:

1. a mobile number and the self-hosted CAPTCHA (idp/security/captcha.py) — no code is ever sent
   without a solved CAPTCHA — then the anti-bombing limits: per client IP (``SMS_PER_IP`` an
   hour, counted before the CAPTCHA) and per number (one message per ``SMS_INTERVAL`` seconds,
   ``SMS_PER_PHONE`` an hour, across all purposes); beyond them 429 with Retry-After and a page
   that says when to try again;
2. the 6-digit code (idp/sms.py: single use, 5 minutes, 5 guesses) with what the flow needs.

No enumeration: sign-up with a registered number sends that number a notice instead of a code,
a reset for an unknown number sends nothing, a phone change to a number taken by another
account sends nothing — and the pages, statuses and limits are the same in every case; only
the owner of the number can tell the difference. Audit events carry masked numbers only, never
a code or a password.
"""

from __future__ import annotations

import time

from flask import redirect, render_template, request, session

from idp.accounts import AccountError, Accounts
from idp.i18n import t
from idp.identity import IdentifierError, mask_phone
from idp.identity.numbers import check_mobile
from idp.security import check_answer, new_challenge
from idp.security.bruteforce import account_key, client_ip_key
from idp.sms import MAX_ATTEMPTS, CodeCheck, OneTimeCodes, SmsError
from idp.web import (
    SSO_COOKIE,
    audit,
    bp,
    csrf_failure,
    csrf_ok,
    csrf_token,
    error_page,
    safe_return_to,
    services,
    signed_in_account,
    to_sign_in,
)

SMS_PER_IP = 20  # messages asked for per client IP ...
SMS_PER_IP_WINDOW = 3600  # ... per hour
SMS_PER_PHONE = 5  # messages per number ...
SMS_PER_PHONE_WINDOW = 3600  # ... per hour
SMS_INTERVAL = 60  # and at most one per minute
REAUTH_ATTEMPTS = 5  # password re-authentications per account per 15 minutes
REAUTH_WINDOW = 900
FLOW_SECONDS = 600

# PIPL art. 14 and 17: the notice people consent to at sign-up. A new version means new consent.
CONSENT_DOCUMENT = "pipl-registration"
CONSENT_VERSION = "2026-11-28.1"
CONSENT_TEXT = (
    "一通统一身份认证（本平台）将处理您的手机号码、登录密码（仅保存不可逆的散列）以及您日后自愿提交的实名信息"
    "（姓名、身份证号码，加密保存），用于账号注册、登录、身份核验和安全审计。实名信息仅在您授权的政务服务应用"
    "请求时提供。登录和操作记录依法保存不少于六个月。您可以在“我的数据”页面导出您的个人信息或注销账号；"
    "注销后手机号、姓名、证件信息和第二验证因素将被删除，仅保留不含个人信息的账号标识以供审计。",
    "Yitong unified identity (this platform) processes your mobile number, your password (only as an "
    "irreversible hash) and the real-name data you may later submit (name and ID number, stored encrypted) "
    "to register you, sign you in, verify your identity and keep a security audit trail. Real-name data is "
    "released only to government-service applications you authorise. Sign-in and activity records are kept "
    "for at least six months as the law requires. On the 'My data' page you can export your personal "
    "information or delete your account; deletion erases your mobile number, name, identity data and second "
    "factor and keeps only an identifier without personal information for the audit trail.",
)


def _codes() -> OneTimeCodes:
    return services()["sms_codes"]


def _limited(title: str, seconds: int):
    page, status = error_page(title, t(f"发送过于频繁，请在 {seconds} 秒后重试。",
                                       f"Too many messages: try again in {seconds} seconds."), 429)
    return page, status, {"Retry-After": str(seconds)}


def _outbox_note() -> bool:
    return services()["sms_gateway_name"] == "outbox"


def _render(template: str, status: int = 200, **context):
    context.setdefault("error", None)
    return (render_template(template, csrf=csrf_token(), outbox=_outbox_note(), max_attempts=MAX_ATTEMPTS,
                            consent_text=t(*CONSENT_TEXT), consent_version=CONSENT_VERSION, **context),
            status, {"Cache-Control": "no-store"})


def _flow(purpose: str) -> dict | None:
    flow = session.get("sms_flow")
    if not flow or flow.get("purpose") != purpose or time.time() - flow.get("at", 0) > FLOW_SECONDS:
        return None
    return flow


def _send_step(purpose: str, template: str, *, deliver, sub: str | None = None, **context):
    """Step 1 of every flow: CSRF, number, per-IP limit, CAPTCHA, per-number limits, then the code.

    ``deliver(phone)`` says what to send: ``(purpose, True)`` a code, ``(purpose, False)`` a notice
    without a code, ``None`` nothing. The answer is the same page either way.
    """
    idp = services()
    try:
        phone = check_mobile(request.form.get("phone", ""))
    except IdentifierError as error:
        return _render(template, 400, step="phone", captcha=new_challenge(idp["captcha_key"]),
                       error=t(error.zh, error.en), **context)
    ip = client_ip_key(request.remote_addr or "unknown")
    per_ip = idp["sms_per_ip"].hit(ip)
    if not per_ip.allowed:
        audit("sms.throttled", sub=sub, purpose=purpose, scope="ip")
        return _limited(t("请求过于频繁", "Too many requests"), per_ip.retry_after_seconds)
    if not check_answer(idp["captcha_key"], request.form.get("captcha_token", ""),
                        request.form.get("captcha_answer", ""), replay_cache=idp["captcha_replay"]):
        return _render(template, 400, step="phone", phone=phone, captcha=new_challenge(idp["captcha_key"]),
                       error=t("图形验证码错误，请重新输入", "The characters did not match; try the new picture"),
                       **context)
    number = account_key(phone)
    for limiter in (idp["sms_interval"], idp["sms_per_phone"]):
        result = limiter.hit(number)
        if not result.allowed:
            audit("sms.throttled", sub=sub, purpose=purpose, scope="phone", phone=mask_phone(phone))
            return _limited(t("请求过于频繁", "Too many requests"), result.retry_after_seconds)
    issued = _codes().issue(purpose, phone)
    what = deliver(phone)
    if what is not None:
        message, with_code = what
        try:
            idp["sms"].send(phone, message, issued.code if with_code else None)
        except SmsError:
            return error_page(t("短信发送失败", "The message could not be sent"),
                              t("短信服务暂时不可用，请稍后重试。", "The SMS service is unavailable; try again later."),
                              503)
        audit("sms.sent", sub=sub, purpose=message, phone=mask_phone(phone))
    session["sms_flow"] = {"purpose": purpose, "id": issued.challenge_id, "phone": phone, "at": time.time(),
                           "sub": sub, "return_to": context.get("return_to", "/")}
    return _render(template, step="code", masked_phone=mask_phone(phone), **context)


def _check_code(flow: dict, template: str, **context):
    """None when the code is right (and now spent), else the page to answer with."""
    result = _codes().check(flow["id"], flow["purpose"], flow["phone"], request.form.get("code", ""))
    if result is CodeCheck.OK:
        return None
    audit("sms.code_failed", sub=flow.get("sub"), purpose=flow["purpose"], phone=mask_phone(flow["phone"]),
          spent=result is CodeCheck.SPENT)
    if result is CodeCheck.SPENT:
        session.pop("sms_flow", None)
        return _render(template, 400, step="phone", captcha=new_challenge(services()["captcha_key"]),
                       error=t("验证码已失效（过期、已使用或错误次数过多），请重新获取。",
                               "The code is no longer valid (expired, used or too many wrong tries); "
                               "ask for a new one."), **context)
    return _render(template, 400, step="code", masked_phone=mask_phone(flow["phone"]),
                   error=t("短信验证码不正确", "The SMS code is not right"), **context)


def _new_passwords(template: str, flow: dict, **context):
    """The two password fields; None and the password when they agree."""
    password = request.form.get("password", "")
    if password != request.form.get("password2", ""):
        return _render(template, 400, step="code", masked_phone=mask_phone(flow["phone"]),
                       error=t("两次输入的密码不一致", "The two passwords differ"), **context), None
    from idp.security import check_password_policy

    problems = check_password_policy(password, phone=flow["phone"])
    if problems:
        return _render(template, 400, step="code", masked_phone=mask_phone(flow["phone"]),
                       error=t("密码不符合要求：", "Password refused: ") + "; ".join(problems), **context), None
    return None, password


def _start_session(user, amr: list[str]) -> str:
    from idp.pages import begin_session

    cookie, _ = begin_session(user, amr)
    return cookie


# -- sign-up --------------------------------------------------------------------------------------------------
@bp.get("/register")
def signup():
    return_to = safe_return_to(request.args.get("return_to"))
    return _render("idp/signup.html", step="phone", captcha=new_challenge(services()["captcha_key"]),
                   return_to=return_to)


def _signup_delivery(phone: str):
    taken = services()["accounts"].find_by_phone(phone) is not None
    return ("register-taken", False) if taken else ("register", True)


@bp.post("/signup/code")
def signup_code():
    return_to = safe_return_to(request.form.get("return_to"))
    if not csrf_ok():
        return csrf_failure()
    return _send_step("register", "idp/signup.html", deliver=_signup_delivery, return_to=return_to)


@bp.route("/signup/account", methods=["GET", "POST"])
def signup_account():
    flow = _flow("register")
    if flow is None:
        return redirect("/register")
    context = {"return_to": flow.get("return_to", "/")}
    if request.method != "POST":  # GET, or HEAD (Flask answers it as GET without a body)
        return _render("idp/signup.html", step="code", masked_phone=mask_phone(flow["phone"]), **context)
    if not csrf_ok():
        return csrf_failure()
    if request.form.get("consent") != CONSENT_VERSION:  # before the code: a missing tick costs no guess
        return _render("idp/signup.html", 400, step="code", masked_phone=mask_phone(flow["phone"]),
                       error=t("请阅读并同意个人信息处理规则",
                               "Please read and accept the personal information notice"), **context)
    answered, password = _new_passwords("idp/signup.html", flow, **context)
    if answered is not None:
        return answered
    answered = _check_code(flow, "idp/signup.html", **context)
    if answered is not None:
        return answered
    accounts: Accounts = services()["accounts"]
    try:
        user = accounts.create(username=None, password=password, phone=flow["phone"])
    except AccountError:  # registered meanwhile (or before: then no code was ever sent)
        session.pop("sms_flow", None)
        return _render("idp/signup.html", 400, step="phone", captcha=new_challenge(services()["captcha_key"]),
                       error=t("验证码已失效，请重新获取。", "The code is no longer valid; ask for a new one."),
                       **context)
    session.pop("sms_flow", None)
    services()["lifecycle"].record_consent(user.sub, CONSENT_DOCUMENT, CONSENT_VERSION)
    audit("user.registered", sub=user.sub, via="sms", acr=user.acr, phone=mask_phone(user.phone))
    audit("privacy.consented", sub=user.sub, document=CONSENT_DOCUMENT, version=CONSENT_VERSION)
    cookie = _start_session(user, ["pwd", "sms"])
    return_to = context["return_to"]
    if return_to != "/":
        session["fresh_login"] = return_to
        response = redirect(return_to)
    else:
        page, status, headers = _render("idp/signup.html", step="done", masked_phone=mask_phone(user.phone),
                                        acr=user.acr, **context)
        from flask import make_response

        response = make_response(page, status, headers)
    response.set_cookie(SSO_COOKIE, cookie, httponly=True, samesite="Lax", secure=services()["secure"], path="/")
    return response


@bp.get("/privacy")
def privacy_notice():
    return _render("idp/privacy.html")


# -- password reset --------------------------------------------------------------------------------------------
@bp.get("/password/reset")
def password_reset():
    return _render("idp/password_reset.html", step="phone", captcha=new_challenge(services()["captcha_key"]))


def _reset_delivery(phone: str):
    return ("reset", True) if services()["accounts"].find_by_phone(phone) is not None else None


@bp.post("/password/reset/code")
def password_reset_code():
    if not csrf_ok():
        return csrf_failure()
    return _send_step("reset", "idp/password_reset.html", deliver=_reset_delivery)


@bp.route("/password/reset/confirm", methods=["GET", "POST"])
def password_reset_confirm():
    flow = _flow("reset")
    if flow is None:
        return redirect("/password/reset")
    if request.method != "POST":  # GET, or HEAD (Flask answers it as GET without a body)
        return _render("idp/password_reset.html", step="code", masked_phone=mask_phone(flow["phone"]))
    if not csrf_ok():
        return csrf_failure()
    answered, password = _new_passwords("idp/password_reset.html", flow)
    if answered is not None:
        return answered
    answered = _check_code(flow, "idp/password_reset.html")
    if answered is not None:
        return answered
    session.pop("sms_flow", None)
    accounts: Accounts = services()["accounts"]
    user = accounts.find_by_phone(flow["phone"])
    if user is None:  # a right code exists only for registered numbers; deleted meanwhile
        return error_page(t("无法重置密码", "Cannot reset the password"),
                          t("该账号已不存在。", "The account no longer exists."), 400)
    try:
        accounts.set_password(user.sub, password)
    except AccountError as error:
        return error_page(t("无法重置密码", "Cannot reset the password"), str(error), 400)
    ended = services()["lifecycle"].sign_out_everywhere(user.sub)
    audit("password.reset", sub=user.sub, via="sms", sessions_ended=ended)
    return _render("idp/password_reset.html", step="done")


# -- phone change (signed in; password first, then a code to the NEW number) -----------------------------------
@bp.get("/account/phone")
def account_phone():
    sso = signed_in_account()
    if sso is None:
        return to_sign_in("/account/phone")
    user = services()["accounts"].get(sso.sub)
    return _render("idp/account_phone.html", step="phone", captcha=new_challenge(services()["captcha_key"]),
                   current=mask_phone(user.phone if user else None))


def reauthenticate(sub: str, template: str, **context):
    """None when the password is right; else the page (wrong password: 401; too many: 429)."""
    idp = services()
    limit = idp["reauth_limiter"].hit(sub)
    if not limit.allowed:
        page, status = error_page(t("尝试次数过多", "Too many attempts"),
                                  t(f"请在 {limit.retry_after_seconds} 秒后重试。",
                                    f"Try again in {limit.retry_after_seconds} seconds."), 429)
        return page, status, {"Retry-After": str(limit.retry_after_seconds)}
    if idp["accounts"].check_password(sub, request.form.get("current_password", "")):
        return None
    audit("reauth.failure", sub=sub, page=request.path)
    return _render(template, 401, error=t("当前密码不正确", "The current password is not right"), **context)


@bp.post("/account/phone/code")
def account_phone_code():
    sso = signed_in_account()
    if sso is None:
        return to_sign_in("/account/phone")
    if not csrf_ok():
        return csrf_failure()
    captcha = new_challenge(services()["captcha_key"])
    refused = reauthenticate(sso.sub, "idp/account_phone.html", step="phone", captcha=captcha)
    if refused is not None:
        return refused

    def deliver(phone: str):
        return ("phone-change", True) if services()["accounts"].find_by_phone(phone) is None else None

    return _send_step("phone-change", "idp/account_phone.html", deliver=deliver, sub=sso.sub)


@bp.route("/account/phone/confirm", methods=["GET", "POST"])
def account_phone_confirm():
    sso = signed_in_account()
    if sso is None:
        return to_sign_in("/account/phone")
    flow = _flow("phone-change")
    if flow is None or flow.get("sub") != sso.sub:
        return redirect("/account/phone")
    if request.method != "POST":  # GET, or HEAD (Flask answers it as GET without a body)
        return _render("idp/account_phone.html", step="code", masked_phone=mask_phone(flow["phone"]))
    if not csrf_ok():
        return csrf_failure()
    answered = _check_code(flow, "idp/account_phone.html")
    if answered is not None:
        return answered
    session.pop("sms_flow", None)
    accounts: Accounts = services()["accounts"]
    old = accounts.get(sso.sub)
    try:
        accounts.change_phone(sso.sub, flow["phone"])
    except AccountError:  # taken meanwhile (a taken number never got a code)
        return _render("idp/account_phone.html", 400, step="phone", captcha=new_challenge(services()["captcha_key"]),
                       error=t("验证码已失效，请重新获取。", "The code is no longer valid; ask for a new one."))
    audit("phone.changed", sub=sso.sub, old=mask_phone(old.phone if old else None), new=mask_phone(flow["phone"]))
    if old is not None and old.phone:
        try:  # tell the old number, so that a hijack does not go unnoticed
            services()["sms"].send(old.phone, "phone-changed", None)
        except SmsError:
            pass
    from idp.realname.strong import recheck_after_phone_change

    level = recheck_after_phone_change(sso.sub, flow["phone"])
    return _render("idp/account_phone.html", step="done", masked_phone=mask_phone(flow["phone"]), level=level)
