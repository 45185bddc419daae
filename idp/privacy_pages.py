"""My data (issue 5, PIPL arts. 45 and 47): ``/account/data`` shows what we hold and offers the
JSON export (``/account/data/export``) and account deletion (``POST /account/delete``, with the
password again and an explicit confirmation). idp/lifecycle.py does the work."""

from __future__ import annotations

import json

from flask import current_app, render_template, request, session

from idp.i18n import t
from idp.identity import mask_phone
from idp.registration_pages import reauthenticate
from idp.web import (
    SSO_COOKIE,
    audit,
    bp,
    csrf_failure,
    csrf_ok,
    csrf_token,
    current_session,
    services,
    signed_in_account,
    to_sign_in,
)


def _what_we_show(sub: str) -> dict:
    user = services()["accounts"].get(sub)
    return {"user": user, "phone": mask_phone(user.phone), "identity": services()["identities"].get(sub)}


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
    data = services()["lifecycle"].export(sso.sub)
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
    ended = services()["lifecycle"].delete(sso.sub)
    audit("user.deleted", sub=sso.sub, sessions_ended=ended)
    session.clear()
    response = current_app.make_response(render_template("idp/account_deleted.html"))
    response.delete_cookie(SSO_COOKIE, path="/")
    return response
