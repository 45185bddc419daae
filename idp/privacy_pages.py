"""My data (issue 5, PIPL arts. 45 and 47): ``/account/data`` shows what we hold and offers the
JSON export (``/account/data/export``) and account deletion (``POST /account/delete``, with the
password again and an explicit confirmation). idp/lifecycle.py does the work."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from flask import current_app, redirect, render_template, request, session

from idp.i18n import t
from idp.registration_pages import mask_phone, reauthenticate
from idp.web import SSO_COOKIE, audit, bp, csrf_failure, csrf_ok, csrf_token, current_session, services


def _page(status: int = 200, **context):
    sso = current_session()
    user = services()["accounts"].get(sso.sub)
    context.setdefault("error", None)
    identity = services()["identities"].get(sso.sub)
    return render_template("idp/account_data.html", csrf=csrf_token(), user=user, phone=mask_phone(user.phone),
                           identity=identity, **context), status, {"Cache-Control": "no-store"}


@bp.get("/account/data")
def account_data():
    if current_session() is None:
        return redirect("/login?" + urlencode({"return_to": "/account/data"}))
    return _page()


@bp.get("/account/data/export")
def account_data_export():
    sso = current_session()
    if sso is None:
        return redirect("/login?" + urlencode({"return_to": "/account/data"}))
    data = services()["lifecycle"].export(sso.sub)
    audit("user.data_exported", sub=sso.sub)
    body = json.dumps(data, ensure_ascii=False, indent=2)
    return current_app.response_class(body, mimetype="application/json", headers={
        "Content-Disposition": 'attachment; filename="yitong-my-data.json"', "Cache-Control": "no-store"})


@bp.post("/account/delete")
def account_delete():
    sso = current_session()
    if sso is None:
        return redirect("/login?" + urlencode({"return_to": "/account/data"}))
    if not csrf_ok():
        return csrf_failure()
    if request.form.get("confirm") != "delete":
        return _page(400, error=t("请勾选确认注销", "Tick the box to confirm the deletion"))
    refused = reauthenticate(sso.sub, "idp/account_data.html", user=services()["accounts"].get(sso.sub),
                             phone="", identity=None)
    if refused is not None:
        return refused
    ended = services()["lifecycle"].delete(sso.sub)
    audit("user.deleted", sub=sso.sub, sessions_ended=ended)
    session.clear()
    response = current_app.make_response(render_template("idp/account_deleted.html"))
    response.delete_cookie(SSO_COOKIE, path="/")
    return response
