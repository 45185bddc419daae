"""The account console (issue 5 item 9): ``/account``, one page of what a signed-in person has.

Profile (masked phone and ID number), real-name status and level, two-step verification, the
person's live SSO sessions (browser, masked address, start; end one, or all but this one),
organisations and agents (counts, links to their pages), linked national-platform identities,
consents per client (withdraw: the consent is forgotten and the client's grants for this person
are revoked), recent sign-in events (masked addresses), and the links to data export and deletion.

Every form carries the CSRF token, every answer is ``Cache-Control: no-store``, every change is
audited (``session.revoked``, ``consent.withdrawn``). Ending a session does what /logout does for
it: its grants are revoked and its relying parties get a back-channel logout token.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, timedelta, timezone

from flask import redirect, render_template, request
from sqlalchemy import select

from idp.acr import LOA_1, LOA_2, LOA_3, LOA_4
from idp.consent import SCOPE_LABELS
from idp.i18n import t
from idp.identity import mask_phone
from idp.models import federation_links_table
from idp.sessions import Session
from idp.web import (
    audit,
    bp,
    csrf_failure,
    csrf_ok,
    csrf_token,
    services,
    signed_in_account,
    to_sign_in,
)

CHINA = timezone(timedelta(hours=8), "CST")
LOGIN_EVENTS = ("login.success", "login.failure", "login.throttled", "login.certificate", "mfa.success",
                "mfa.failure", "logout", "federation.login", "session.revoked", "password.reset", "reauth.failure")
RECENT_EVENTS = 15
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

LEVEL_NAMES = {
    LOA_1: ("已注册（未实名）", "Registered (no real name)"),
    LOA_2: ("实名认证（人口库核验）", "Real name (population library)"),
    LOA_3: ("强实名认证", "Strong real name"),
    LOA_4: ("数字证书", "Digital certificate"),
}
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


def local_time(value: datetime | int | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        value = datetime.fromtimestamp(value, UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def _sessions(sso) -> list[dict]:
    starts = services()["audit"].session_starts(sso.sub)
    rows = []
    for s in services()["accounts"].sessions.active(sso.sub):
        start = starts.get(s.sid)
        rows.append({"sid": s.sid, "current": s.sid == sso.sid, "device": device(start.user_agent if start else None),
                     "ip": mask_ip(start.ip if start else None), "started": local_time(s.auth_time),
                     "amr": " + ".join(s.amr), "acr": s.acr})
    return sorted(rows, key=lambda r: not r["current"])  # this device first


def _consents(sub: str) -> list[dict]:
    clients = services()["clients"]
    rows = []
    for consent in services()["consents"].of_person(sub):
        client = clients.get(consent.client_id)
        rows.append({"client_id": consent.client_id, "name": client.name if client else consent.client_id,
                     "scopes": [t(*SCOPE_LABELS.get(s, (s, s))) for s in consent.scopes],
                     "granted": local_time(consent.granted_at)})
    return rows


def _links(sub: str) -> list[dict]:
    with services()["tokens"].engine.connect() as conn:
        rows = conn.execute(select(federation_links_table).where(federation_links_table.c.sub == sub)
                            .order_by(federation_links_table.c.first_at)).all()
    upstreams = services()["federation"]
    out = []
    for row in rows:
        upstream = upstreams.get(row.upstream)
        out.append({"label": upstream.label if upstream else row.upstream, "first": local_time(row.first_at),
                    "last": local_time(row.last_at), "level": row.last_acr})
    return out


def _events(sub: str) -> list[dict]:
    events = [e for e in services()["audit"].for_subject(sub, 200) if e.event in LOGIN_EVENTS][-RECENT_EVENTS:]
    return [{"at": local_time(e.at), "what": t(*EVENT_NAMES.get(e.event, (e.event, e.event))), "event": e.event,
             "ip": mask_ip(e.ip), "device": device(e.user_agent)} for e in reversed(events)]


def _organisations(sub: str) -> dict:
    agents = services()["agents"]
    represented = services()["organisations"].represented_by(sub)
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
    user = idp["accounts"].get(sso.sub)
    done = request.args.get("done")
    message = t(*MESSAGES[done]) if done in MESSAGES else None
    page = render_template(
        "idp/account.html", csrf=csrf_token(), user=user, phone=mask_phone(user.phone),
        identity=idp["identities"].get(sso.sub), level=t(*LEVEL_NAMES.get(user.acr, (user.acr, user.acr))),
        session_level=t(*LEVEL_NAMES.get(sso.acr, (sso.acr, sso.acr))), sso=sso, sessions=_sessions(sso),
        consents=_consents(sso.sub), links=_links(sso.sub), events=_events(sso.sub),
        orgs=_organisations(sso.sub), message=message)
    return page, 200, NO_STORE


def _end(sso, sid: str) -> None:
    """End one session of the signed-in person as /logout would: grants, session, back channel."""
    idp = services()
    ended = idp["tokens"].revoke_session_grants(sid)
    idp["accounts"].end_session(sid)
    audit("session.revoked", sub=sso.sub, sid=sid, by_sid=sso.sid)
    idp["notify_backchannel"](Session(sid, sso.sub, "", [], 0), {g.client_id for g in ended})


@bp.post("/account/sessions/end")
def account_session_end():
    sso = signed_in_account()
    if sso is None:
        return to_sign_in("/account")
    if not csrf_ok():
        return csrf_failure()
    sid = request.form.get("sid", "")
    live = {s.sid for s in services()["accounts"].sessions.active(sso.sub)}
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
    for other in services()["accounts"].sessions.active(sso.sub):
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
    revoked = services()["consents"].withdraw(sso.sub, client_id, services()["tokens"])
    if revoked is None:
        return redirect("/account#consents", code=303)
    audit("consent.withdrawn", sub=sso.sub, client_id=client_id, grants_revoked=len(revoked))
    return redirect("/account?done=consent#consents", code=303)
