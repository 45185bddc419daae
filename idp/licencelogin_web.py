"""Proving an organisation with its electronic business licence (电子营业执照登录), through the
e-licence system's connector (idp/connectors; the reference stand-in is baselib/licence.py).

Like an organisation's certificate (idp/certlogin.py), the licence signs nobody in: the person
signs in as themselves first, then

- ``GET /login/licence?return_to=...`` starts a presentation at the e-licence system and shows its
  QR code (and link) for the holder's e-licence app;
- ``POST /login/licence`` (the person says they confirmed on the phone) reads the result once. It
  is honoured only if the holder the e-licence system names is this signed-in person (their
  verified ID number, compared by keyed hash) and the person may already act for the organisation
  (idp/agents_web.py ``prove_organisation``); the organisation is then proven (``licence``) for the
  rest of this sign-in and tokens acting for it say ``org.acr`` loa:4.

The system unavailable is "try later", never a proof; a declined, expired or already-read
presentation starts again.
"""

from __future__ import annotations

import time

import segno
from flask import render_template, request, session
from markupsafe import Markup

from idp.agents import LICENCE
from idp.agents_web import prove_organisation
from idp.i18n import t
from idp.web import (
    audit,
    bp,
    csrf_failure,
    csrf_ok,
    csrf_token,
    current_session,
    error_page,
    safe_return_to,
    services,
    to_sign_in,
)

PENDING = "licence_pending"
RETURN = "licence_return_to"


def _system():
    return services()["connectors"].business_licence


def _unavailable():
    return error_page(t("电子营业执照系统暂不可用", "The e-business-licence system is unavailable"),
                      t("请稍后再试，或用单位数字证书验证。", "Try again later, or prove the organisation with its "
                                                          "certificate."), 503)


def _page(pending: dict, notice: str | None = None, status: int = 200):
    qr = Markup(segno.make(pending["scan_url"], error="m").svg_inline(scale=5, title="QR"))  # noqa: S704 (our own SVG)
    return render_template("idp/licencelogin.html", qr=qr, scan_url=pending["scan_url"], csrf=csrf_token(),
                           notice=notice, minutes=max(1, int(pending["expires"] - time.time()) // 60)), \
        status, {"Cache-Control": "no-store"}


@bp.get("/login/licence")
def login_licence():
    if "return_to" in request.args:
        return_to = safe_return_to(request.args.get("return_to"))
    else:  # back from signing in
        return_to = safe_return_to(session.pop(RETURN, None))
    sso = current_session()
    if sso is None:
        session[RETURN] = return_to
        return to_sign_in("/login/licence")
    system = _system()
    if system is None:
        return error_page(t("未接入电子营业执照系统", "No e-business-licence system is set up"),
                          t("本平台未配置电子营业执照系统。", "This service is not connected to an e-licence system."),
                          404)
    presentation = system.start_presentation(f"一通 Yitong ({services()['issuer']})")
    if presentation is None:
        audit("licence.unavailable", sub=sso.sub)
        return _unavailable()
    pending = {"id": presentation.presentation_id, "scan_url": presentation.scan_url, "sid": sso.sid,
               "expires": presentation.expires_at.timestamp(), "return_to": return_to}
    session[PENDING] = pending
    return _page(pending)


@bp.post("/login/licence")
def login_licence_result():
    if not csrf_ok():
        return csrf_failure()
    sso, pending = current_session(), session.get(PENDING)
    if sso is None or not pending or pending["sid"] != sso.sid or time.time() > pending["expires"]:
        session.pop(PENDING, None)
        return error_page(t("营业执照出示已失效", "The licence presentation has expired"),
                          t("请重新开始。", "Start again."), 400)
    decision = services()["licence_limiter"].hit(request.remote_addr or "unknown")
    if not decision.allowed:
        return _page(pending, t("操作过于频繁，请稍后再试。", "Too many attempts; wait a moment."), 429)
    presented = _system().presentation(pending["id"])
    if presented is None:
        audit("licence.unavailable", sub=sso.sub)
        return _page(pending, t("电子营业执照系统暂不可用，请稍后再点继续。",
                                "The e-licence system is unavailable; press continue again later."), 503)
    if presented.status == "pending":
        return _page(pending, t("尚未在电子营业执照应用中确认。", "Not confirmed in the e-licence app yet."))
    session.pop(PENDING, None)
    if presented.status != "confirmed":
        return error_page(t("营业执照未出示", "The licence was not presented"),
                          t("出示已被拒绝或已失效，请重新开始。", "The presentation was declined or has expired; "
                                                            "start again."), 400)
    reference = str(presented.evidence.get("reference", ""))[:64]
    holder_sub = services()["identities"].sub_for_id_number(presented.holder_id_number)
    if holder_sub != sso.sub:
        audit("acting.refused", sub=sso.sub, uscc=presented.uscc, method=LICENCE, reference=reference,
              reason="holder_is_someone_else")
        return error_page(t("持照人不是您本人", "The licence was presented by someone else"),
                          t("营业执照的出示人与当前登录的账号不是同一人。请持照人本人登录后再出示。",
                            "The person who presented the licence is not the one signed in here. The holder "
                            "signs in as themselves and presents it."), 403)
    if services()["organisations"].get(presented.uscc) is None:
        audit("acting.refused", sub=sso.sub, uscc=presented.uscc, method=LICENCE, reference=reference,
              reason="organisation_not_registered")
        return error_page(t("单位未登记", "The organisation is not registered"),
                          t("该单位未在本平台登记，请法定代表人先在“我的单位”中登记。",
                            "This organisation is not registered here: its legal representative registers it "
                            "first."), 403)
    return prove_organisation(sso, presented.uscc, LICENCE, reference, safe_return_to(pending["return_to"]))
