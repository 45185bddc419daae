"""People's own account pages: sign-up, password reset and phone change (below), my data, export and
deletion, and the account console at /account (further down).

Self-service by SMS code (issue 5): sign-up by mobile number, password reset, phone change.

Not idp/oauth/registration.py, which is dynamic *client* registration (RFC 7591). The sign-up page is
``GET /register`` (RFC 7591 uses only ``POST /register`` and ``/register/<client_id>``); its steps
post to ``/signup/...`` so that no path of ours can shadow a client id.

Every flow has the same two steps:

1. a mobile number and the self-hosted CAPTCHA (idp/security/captcha.py) — no code is ever sent
   without a solved CAPTCHA — then the anti-bombing limits: per client IP (``SMS_PER_IP`` an
   hour, counted before the CAPTCHA) and per number (one message per ``SMS_INTERVAL`` seconds,
   ``SMS_PER_PHONE`` an hour, across all purposes); beyond them 429 with Retry-After and a page
   that says when to try again;
2. the 6-digit code (idp/accounts/sms.py: single use, 5 minutes, 5 guesses) with what the flow needs.

No enumeration: sign-up with a registered number sends that number a notice instead of a code,
a reset for an unknown number sends nothing, a phone change to a number taken by another
account sends nothing — and the pages, statuses and limits are the same in every case; only
the owner of the number can tell the difference. Audit events carry masked numbers only, never
a code or a password.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time

from flask import current_app, redirect, render_template, request, session
from sqlalchemy import select

from idp.accounts.sessions import Session
from idp.accounts.sms import MAX_ATTEMPTS, CodeCheck, OneTimeCodes, SmsError
from idp.accounts.store import AccountError, Accounts
from idp.i18n import t
from idp.identity import IdentifierError, mask_phone
from idp.identity.numbers import check_mobile
from idp.models import federation_links_table
from idp.oauth.consent import scope_label
from idp.security import check_answer, new_challenge
from idp.security.bruteforce import account_key, client_ip_key
from idp.services import services
from idp.web import (
    SSO_COOKIE,
    audit,
    csrf_failure,
    csrf_ok,
    csrf_token,
    current_session,
    error_page,
    page_blueprint,
    safe_return_to,
    signed_in_account,
    to_sign_in,
)
from idp.words import local_time, methods

bp = page_blueprint("idp_accounts")

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
    return services().sms_codes


def _limited(title: str, seconds: int):
    page, status = error_page(title, t(f"发送过于频繁，请在 {seconds} 秒后重试。",
                                       f"Too many messages: try again in {seconds} seconds."), 429)
    return page, status, {"Retry-After": str(seconds)}


def _outbox_note() -> bool:
    return services().sms_gateway_name == "outbox"


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
        return _render(template, 400, step="phone", captcha=new_challenge(idp.captcha_key),
                       error=t(error.zh, error.en), **context)
    ip = client_ip_key(request.remote_addr or "unknown")
    per_ip = idp.sms_per_ip.hit(ip)
    if not per_ip.allowed:
        audit("sms.throttled", sub=sub, purpose=purpose, scope="ip")
        return _limited(t("请求过于频繁", "Too many requests"), per_ip.retry_after_seconds)
    if not check_answer(idp.captcha_key, request.form.get("captcha_token", ""),
                        request.form.get("captcha_answer", ""), replay_cache=idp.captcha_replay):
        return _render(template, 400, step="phone", phone=phone, captcha=new_challenge(idp.captcha_key),
                       error=t("图形验证码错误，请重新输入", "The characters did not match; try the new picture"),
                       **context)
    number = account_key(phone)
    for limiter in (idp.sms_interval, idp.sms_per_phone):
        result = limiter.hit(number)
        if not result.allowed:
            audit("sms.throttled", sub=sub, purpose=purpose, scope="phone", phone=mask_phone(phone))
            return _limited(t("请求过于频繁", "Too many requests"), result.retry_after_seconds)
    issued = _codes().issue(purpose, phone)
    what = deliver(phone)
    if what is not None:
        message, with_code = what
        try:
            idp.sms.send(phone, message, issued.code if with_code else None)
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
        return _render(template, 400, step="phone", captcha=new_challenge(services().captcha_key),
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
    from idp.signin.routes import begin_session

    cookie, _ = begin_session(user, amr)
    return cookie


# -- sign-up --------------------------------------------------------------------------------------------------
@bp.get("/register")
def signup():
    return_to = safe_return_to(request.args.get("return_to"))
    return _render("idp/signup.html", step="phone", captcha=new_challenge(services().captcha_key),
                   return_to=return_to)


def _signup_delivery(phone: str):
    taken = services().accounts.find_by_phone(phone) is not None
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
    accounts: Accounts = services().accounts
    try:
        user = accounts.create(username=None, password=password, phone=flow["phone"])
    except AccountError:  # registered meanwhile (or before: then no code was ever sent)
        session.pop("sms_flow", None)
        return _render("idp/signup.html", 400, step="phone", captcha=new_challenge(services().captcha_key),
                       error=t("验证码已失效，请重新获取。", "The code is no longer valid; ask for a new one."),
                       **context)
    session.pop("sms_flow", None)
    services().lifecycle.record_consent(user.sub, CONSENT_DOCUMENT, CONSENT_VERSION)
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
    response.set_cookie(SSO_COOKIE, cookie, httponly=True, samesite="Lax", secure=services().secure, path="/")
    return response


@bp.get("/privacy")
def privacy_notice():
    return _render("idp/privacy.html")


# -- password reset --------------------------------------------------------------------------------------------
@bp.get("/password/reset")
def password_reset():
    return _render("idp/password_reset.html", step="phone", captcha=new_challenge(services().captcha_key))


def _reset_delivery(phone: str):
    return ("reset", True) if services().accounts.find_by_phone(phone) is not None else None


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
    accounts: Accounts = services().accounts
    user = accounts.find_by_phone(flow["phone"])
    if user is None:  # a right code exists only for registered numbers; deleted meanwhile
        return error_page(t("无法重置密码", "Cannot reset the password"),
                          t("该账号已不存在。", "The account no longer exists."), 400)
    try:
        accounts.set_password(user.sub, password)
    except AccountError as error:
        return error_page(t("无法重置密码", "Cannot reset the password"), str(error), 400)
    ended = services().lifecycle.sign_out_everywhere(user.sub)
    audit("password.reset", sub=user.sub, via="sms", sessions_ended=ended)
    return _render("idp/password_reset.html", step="done")


# -- phone change (signed in; password first, then a code to the NEW number) -----------------------------------
@bp.get("/account/phone")
def account_phone():
    sso = signed_in_account()
    if sso is None:
        return to_sign_in("/account/phone")
    user = services().accounts.get(sso.sub)
    return _render("idp/account_phone.html", step="phone", captcha=new_challenge(services().captcha_key),
                   current=mask_phone(user.phone if user else None))


def reauthenticate(sub: str, template: str, **context):
    """None when the password is right; else the page (wrong password: 401; too many: 429)."""
    idp = services()
    limit = idp.reauth_limiter.hit(sub)
    if not limit.allowed:
        page, status = error_page(t("尝试次数过多", "Too many attempts"),
                                  t(f"请在 {limit.retry_after_seconds} 秒后重试。",
                                    f"Try again in {limit.retry_after_seconds} seconds."), 429)
        return page, status, {"Retry-After": str(limit.retry_after_seconds)}
    if idp.accounts.check_password(sub, request.form.get("current_password", "")):
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
    captcha = new_challenge(services().captcha_key)
    refused = reauthenticate(sso.sub, "idp/account_phone.html", step="phone", captcha=captcha)
    if refused is not None:
        return refused

    def deliver(phone: str):
        return ("phone-change", True) if services().accounts.find_by_phone(phone) is None else None

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
    accounts: Accounts = services().accounts
    old = accounts.get(sso.sub)
    try:
        accounts.change_phone(sso.sub, flow["phone"])
    except AccountError:  # taken meanwhile (a taken number never got a code)
        return _render("idp/account_phone.html", 400, step="phone", captcha=new_challenge(services().captcha_key),
                       error=t("验证码已失效，请重新获取。", "The code is no longer valid; ask for a new one."))
    audit("phone.changed", sub=sso.sub, old=mask_phone(old.phone if old else None), new=mask_phone(flow["phone"]))
    if old is not None and old.phone:
        try:  # tell the old number, so that a hijack does not go unnoticed
            services().sms.send(old.phone, "phone-changed", None)
        except SmsError:
            pass
    from idp.realname.strong import recheck_after_phone_change

    level = recheck_after_phone_change(sso.sub, flow["phone"])
    return _render("idp/account_phone.html", step="done", masked_phone=mask_phone(flow["phone"]), level=level)


# -- privacy: /account/data, its export, account deletion ----------------------------------------------------------
# My data (issue 5, PIPL arts. 45 and 47): ``/account/data`` shows what we hold and offers the
# JSON export (``/account/data/export``) and account deletion (``POST /account/delete``, with the
# password again and an explicit confirmation). idp/accounts/lifecycle.py does the work.
def _what_we_show(sub: str) -> dict:
    user = services().accounts.get(sub)
    return {"user": user, "phone": mask_phone(user.phone), "identity": services().identities.get(sub)}


def _page(status: int = 200, **context):
    context.setdefault("error", None)
    return render_template("idp/account_data.html", csrf=csrf_token(), **_what_we_show(current_session().sub),
                           **context), status, {"Cache-Control": "no-store"}


@bp.get("/account/data")
def account_data():
    if signed_in_account() is None:
        return to_sign_in("/account/data")
    return _page()


@bp.get("/account/data/export")
def account_data_export():
    sso = signed_in_account()
    if sso is None:
        return to_sign_in("/account/data")
    data = services().lifecycle.export(sso.sub)
    audit("user.data_exported", sub=sso.sub)
    body = json.dumps(data, ensure_ascii=False, indent=2)
    return current_app.response_class(body, mimetype="application/json", headers={
        "Content-Disposition": 'attachment; filename="yitong-my-data.json"', "Cache-Control": "no-store"})


@bp.post("/account/delete")
def account_delete():
    sso = signed_in_account()
    if sso is None:
        return to_sign_in("/account/data")
    if not csrf_ok():
        return csrf_failure()
    if request.form.get("confirm") != "delete":
        return _page(400, error=t("请勾选确认注销", "Tick the box to confirm the deletion"))
    refused = reauthenticate(sso.sub, "idp/account_data.html", **_what_we_show(sso.sub))
    if refused is not None:
        return refused
    ended = services().lifecycle.delete(sso.sub)
    audit("user.deleted", sub=sso.sub, sessions_ended=ended)
    session.clear()
    response = current_app.make_response(render_template("idp/account_deleted.html"))
    response.delete_cookie(SSO_COOKIE, path="/")
    return response


# -- the account console at /account -------------------------------------------------------------------------------
# The account console (issue 5 item 9): ``/account``, one page of what a signed-in person has.
#
# Profile (masked phone and ID number), real-name status and level, two-step verification, the
# person's live SSO sessions (browser, masked address, start; end one, or all but this one),
# organisations and agents (counts, links to their pages), linked national-platform identities,
# consents per client (withdraw: the consent is forgotten and the client's grants for this person
# are revoked), recent sign-in events (masked addresses), and the links to data export and deletion.
#
# Every form carries the CSRF token, every answer is ``Cache-Control: no-store``, every change is
# audited (``session.revoked``, ``consent.withdrawn``). Ending a session does what /logout does for
# it: its grants are revoked and its relying parties get a back-channel logout token.
LOGIN_EVENTS = ("login.success", "login.failure", "login.throttled", "login.certificate", "mfa.success",
                "mfa.failure", "logout", "federation.login", "session.revoked", "password.reset", "reauth.failure")
RECENT_EVENTS = 15
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

EVENT_NAMES = {
    "login.success": ("登录成功", "Signed in"), "login.failure": ("登录失败", "Sign-in failed"),
    "login.throttled": ("登录受限", "Sign-in throttled"), "login.certificate": ("证书登录", "Certificate sign-in"),
    "mfa.success": ("两步验证通过", "Two-step check passed"), "mfa.failure": ("两步验证失败", "Two-step check failed"),
    "logout": ("退出", "Signed out"), "federation.login": ("经国家平台登录", "Signed in via the national platform"),
    "session.revoked": ("结束了一个登录会话", "Ended a session"), "password.reset": ("重置密码", "Password reset"),
    "reauth.failure": ("密码确认失败", "Password re-check failed"),
}
MESSAGES = {
    "session": ("已结束该登录会话。", "That session has ended."),
    "others": ("已结束其他所有登录会话。", "Every other session has ended."),
    "consent": ("已撤回授权，该服务须重新征得您的同意。", "Consent withdrawn: that service must ask you again."),
}


def mask_ip(value: str | None) -> str:
    """An address shown without its host part: 203.0.113.* (IPv4), 2001:db8:1::* (IPv6 /48)."""
    try:
        address = ipaddress.ip_address(value or "")
    except ValueError:
        return "—"
    if address.version == 4:
        return ".".join(str(address).split(".")[:3]) + ".*"
    network = ipaddress.ip_network(f"{address}/48", strict=False)
    return f"{str(network.network_address).rstrip(':')}::*"


_BROWSERS = (("MicroMessenger", "微信", "WeChat"), ("Edg/", "Edge", "Edge"), ("Firefox/", "Firefox", "Firefox"),
             ("Chrome/", "Chrome", "Chrome"), ("Safari/", "Safari", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"),
            ("Mac OS X", "macOS"), ("HarmonyOS", "HarmonyOS"), ("Linux", "Linux"))


def device(user_agent: str | None) -> str:
    """A person-readable name of the browser and system ("Chrome · Android"), never the raw string."""
    if not user_agent:
        return t("未知设备", "Unknown device")
    browser = next((t(zh, en) for needle, zh, en in _BROWSERS if needle in user_agent), None)
    system = next((name for needle, name in _SYSTEMS if needle in user_agent), None)
    parts = [p for p in (browser, system) if p]
    if not parts:
        return re.sub(r"[^\w .-]", "", user_agent)[:40] or t("未知设备", "Unknown device")
    return " · ".join(parts)


def _sessions(sso) -> list[dict]:
    starts = services().audit.session_starts(sso.sub)
    rows = []
    for s in services().accounts.sessions.active(sso.sub):
        start = starts.get(s.sid)
        rows.append({"sid": s.sid, "current": s.sid == sso.sid, "device": device(start.user_agent if start else None),
                     "ip": mask_ip(start.ip if start else None), "started": local_time(s.auth_time),
                     "amr": methods(s.amr), "acr": s.acr})
    return sorted(rows, key=lambda r: not r["current"])  # this device first


def _consents(sub: str) -> list[dict]:
    clients = services().clients
    rows = []
    for consent in services().consents.of_person(sub):
        client = clients.get(consent.client_id)
        rows.append({"client_id": consent.client_id, "name": client.name if client else consent.client_id,
                     "scopes": [t(*scope_label(s, services().scope_families)) for s in consent.scopes],
                     "granted": local_time(consent.granted_at)})
    return rows


def _links(sub: str) -> list[dict]:
    with services().tokens.engine.connect() as conn:
        rows = conn.execute(select(federation_links_table).where(federation_links_table.c.sub == sub)
                            .order_by(federation_links_table.c.first_at)).all()
    upstreams = services().federation
    out = []
    for row in rows:
        upstream = upstreams.get(row.upstream)
        out.append({"label": upstream.label if upstream else row.upstream, "first": local_time(row.first_at),
                    "last": local_time(row.last_at), "level": row.last_acr})
    return out


def _events(sub: str) -> list[dict]:
    events = [e for e in services().audit.for_subject(sub, 200) if e.event in LOGIN_EVENTS][-RECENT_EVENTS:]
    return [{"at": local_time(e.at), "what": t(*EVENT_NAMES.get(e.event, (e.event, e.event))), "event": e.event,
             "ip": mask_ip(e.ip), "device": device(e.user_agent)} for e in reversed(events)]


def _organisations(sub: str) -> dict:
    agents = services().agents
    represented = services().organisations.represented_by(sub)
    mine = agents.of_person(sub)
    granted = [a for o in represented for a in agents.of_organisation(o.uscc)]
    return {"represented": len(represented), "acting": sum(1 for a in mine if a.is_active),
            "invitations": sum(1 for a in mine if a.state == "pending"),
            "agents": sum(1 for a in granted if a.state in ("pending", "active"))}


@bp.get("/account")
def account_console():
    sso = signed_in_account()
    if sso is None:
        return to_sign_in("/account")
    idp = services()
    user = idp.accounts.get(sso.sub)
    done = request.args.get("done")
    message = t(*MESSAGES[done]) if done in MESSAGES else None
    page = render_template(
        "idp/account.html", csrf=csrf_token(), user=user, phone=mask_phone(user.phone),
        identity=idp.identities.get(sso.sub), sso=sso, sessions=_sessions(sso),
        consents=_consents(sso.sub), links=_links(sso.sub), events=_events(sso.sub),
        orgs=_organisations(sso.sub), message=message, passkey_count=len(idp.passkeys.of_person(sso.sub)))
    return page, 200, NO_STORE


def _end(sso, sid: str) -> None:
    """End one session of the signed-in person as /logout would: grants, session, back channel."""
    idp = services()
    ended = idp.tokens.revoke_session_grants(sid)
    idp.accounts.end_session(sid)
    audit("session.revoked", sub=sso.sub, sid=sid, by_sid=sso.sid)
    idp.notify_backchannel(Session(sid, sso.sub, "", [], 0), {g.client_id for g in ended})


@bp.post("/account/sessions/end")
def account_session_end():
    sso = signed_in_account()
    if sso is None:
        return to_sign_in("/account")
    if not csrf_ok():
        return csrf_failure()
    sid = request.form.get("sid", "")
    live = {s.sid for s in services().accounts.sessions.active(sso.sub)}
    if sid == sso.sid or sid not in live:  # this device signs out at /logout; others' sessions are not ours
        return redirect("/account", code=303)
    _end(sso, sid)
    return redirect("/account?done=session#sessions", code=303)


@bp.post("/account/sessions/end-others")
def account_sessions_end_others():
    sso = signed_in_account()
    if sso is None:
        return to_sign_in("/account")
    if not csrf_ok():
        return csrf_failure()
    for other in services().accounts.sessions.active(sso.sub):
        if other.sid != sso.sid:
            _end(sso, other.sid)
    return redirect("/account?done=others#sessions", code=303)


@bp.post("/account/consents/withdraw")
def account_consent_withdraw():
    sso = signed_in_account()
    if sso is None:
        return to_sign_in("/account")
    if not csrf_ok():
        return csrf_failure()
    client_id = request.form.get("client_id", "")
    revoked = services().consents.withdraw(sso.sub, client_id, services().tokens)
    if revoked is None:
        return redirect("/account#consents", code=303)
    audit("consent.withdrawn", sub=sso.sub, client_id=client_id, grants_revoked=len(revoked))
    return redirect("/account?done=consent#consents", code=303)
