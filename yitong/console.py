"""The operator console at /admin/ (issue 17 item 3): an OIDC client of this IdP (public, PKCE)
that works only through the admin APIs with the operator's own tokens.

It lives in yitong/ because it is a client of two rooms at once — the IdP's admin API
(/admin/api/v1, audience = the issuer) and seal/'s (/seal/admin, the seal audience) — and
imports neither: every read and action is an HTTP request (in process, through the same
transport the seal API uses for introspection) carrying the operator's bearer token, so the
servers' role checks are the console's. Sign-in asks for urn:yitong:loa:3 (a second factor) and
max_age. The access tokens live 5 minutes; while the operator is active the console refreshes
them with the refresh tokens it holds (sealed with a keystore key inside the session cookie, so
the cookie alone cannot be replayed at /token), until the session has been idle
``YITONG_CONSOLE_IDLE_SECONDS`` (15 min) or is ``YITONG_CONSOLE_MAX_SECONDS`` (8 h) old: then a
clear message and a new sign-in. Signing out revokes the refresh tokens at the IdP.

Sensitive actions need a recent sign-in, which the APIs enforce (401 ``insufficient_user_
authentication``, RFC 9470): the console then keeps the confirmation in the session, sends the
operator through the IdP with ``max_age=0`` and ``prompt=login``, and shows the same confirmation
again afterwards; confirming it repeats the action with the new tokens.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from urllib.parse import quote, urlencode

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Blueprint, abort, current_app, make_response, redirect, render_template, request, session, url_for
from sqlalchemy.exc import IntegrityError

from idp.oauth.clients import ClientRegistry, build_metadata
from yitong import oidc_signin

CONSOLE_CLIENT_ID = "yitong-console"
SCOPE = "openid yitong:admin"
LOA_3 = "urn:yitong:loa:3"
MAX_AGE = 900  # seconds: an operator signs in again after a quarter of an hour
ACTIONS = ("approve", "make", "suspend", "resume", "revoke")
DESTRUCTIVE = ("suspend", "revoke")
# Which buttons a seal's page offers in each status (seal/records.py TRANSITIONS; the server decides).
ALLOWED = {"applied": ("approve", "revoke"), "approved": ("make", "revoke"), "active": ("suspend", "revoke"),
           "suspended": ("resume", "revoke")}

ROLE_NAMES = {"system": ("系统管理员", "system administrator"), "security": ("安全管理员", "security administrator"),
              "audit": ("审计管理员", "audit administrator")}

bp = Blueprint("console", __name__, url_prefix="/admin")


def provision_console_client(home) -> list[str]:
    """Register the console as a public client (PKCE) of this IdP if absent (`yitong db upgrade`)."""
    clients = ClientRegistry(home.engine, home.keystore().secret("client-secret-pepper"))
    existing = clients.get(CONSOLE_CLIENT_ID)
    if existing is not None:
        grants = existing.metadata.get("grant_types", [])
        if "refresh_token" in grants:
            return []
        clients.update(CONSOLE_CLIENT_ID, None, {**existing.metadata, "grant_types": [*grants, "refresh_token"]})
        return [f"client {CONSOLE_CLIENT_ID}: refresh tokens"]  # an install from before console sessions
    metadata = build_metadata(redirect_uris=[f"{home.settings.issuer}/admin/callback"],
                              grant_types=["authorization_code", "refresh_token"], scope=SCOPE,
                              token_endpoint_auth_method=None, public=True)
    try:
        clients.create("Yitong operator console", metadata, client_id=CONSOLE_CLIENT_ID)
    except IntegrityError:
        return []
    return [f"client {CONSOLE_CLIENT_ID}"]


# -- language ------------------------------------------------------------------------------------------
def lang() -> str:
    """The console's language: the page's switch (``?lang=zh-CN|zh|en``, the IdP's own values, so its
    sign-in pages follow), else the IdP's remembered choice (cookie ``yitong_lang``), else Chinese."""
    chosen = request.args.get("lang")
    if chosen in ("zh", "zh-CN", "en"):
        session["console_lang"] = "en" if chosen == "en" else "zh"
    return session.get("console_lang") or ("en" if request.cookies.get("yitong_lang") == "en" else "zh")


def t(zh: str, en: str) -> str:
    return zh if lang() == "zh" else en


@bp.app_template_filter("console_json")
def _readable_json(value) -> str:
    """Event details as JSON that keeps Chinese readable (tojson escapes it; Jinja escapes HTML)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@bp.app_template_global("console_t")
def _template_t(zh: str, en: str) -> str:
    return t(zh, en)


# -- sign-in (authorization code + PKCE; one code per audience) ----------------------------------------
def _issuer() -> str:
    return current_app.config["YITONG_SETTINGS"].issuer


AUDIENCES = ("seal", "idp", "licences")  # one access token each, in this order at sign-in


def _audiences() -> list[str]:
    settings = current_app.config["YITONG_SETTINGS"]
    return [settings.seal_audience or f"{settings.issuer}/seal", settings.issuer, f"{settings.issuer}/licences"]


def _authorize(step: int, prompt: str | None = None, max_age: int = MAX_AGE):
    extra = {"acr_values": LOA_3, "max_age": str(max_age), "resource": _audiences()[step]}
    if prompt:
        extra["prompt"] = prompt
    return oidc_signin.start("console_flow", client_id=CONSOLE_CLIENT_ID, redirect_uri=f"{_issuer()}/admin/callback",
                             scope=SCOPE, extra=extra, remember={"step": step})


@bp.get("/login")
def login():
    lang()  # a ?lang= choice made on the way in is kept
    return _authorize(0)


@bp.get("/callback")
def callback():
    answer, flow, why = oidc_signin.finish("console_flow", client_id=CONSOLE_CLIENT_ID,
                                           redirect_uri=f"{_issuer()}/admin/callback")
    if why == "expired":
        return _message(t("登录已失效，请重新登录。", "The sign-in expired; sign in again."), 400)
    if why and why.startswith("refused:"):
        return _message(t("未能登录：", "Not signed in: ") + why.split(":", 1)[1], 403)
    if why:
        return _message(t("令牌交换失败。", "The token exchange failed."), 502)
    token = answer["access_token"]
    claims = oidc_signin.token_claims(token)
    if claims.get("acr") != LOA_3 and claims.get("acr") != "urn:yitong:loa:4":
        return _message(t("管理控制台需要 loa:3 及第二因素登录。",
                          "The console needs a loa:3 sign-in with a second factor."), 403)
    tokens = session.get("console_tokens", {}) if flow["step"] else {}
    refresh = session.get("console_refresh", {}) if flow["step"] else {}
    tokens[AUDIENCES[flow["step"]]] = token
    if answer.get("refresh_token"):
        refresh[AUDIENCES[flow["step"]]] = _seal(answer["refresh_token"])
    session["console_tokens"], session["console_refresh"] = tokens, refresh
    now = int(time.time())
    started = session.get("console_who", {}).get("started", now) if flow["step"] else now
    session["console_who"] = {"sub": claims["sub"], "role": claims.get("yitong_role"), "exp": claims["exp"],
                              "started": started, "active": now}
    if flow["step"] + 1 < len(AUDIENCES):
        return _authorize(flow["step"] + 1, prompt="none")  # the same sign-in, for the next admin API
    session["console_csrf"] = secrets.token_urlsafe(16)
    if "console_resume" in session:
        return redirect(url_for("console.resume"))
    return redirect(url_for("console.home"))


@bp.post("/logout")
def logout():
    _check_csrf()
    _end_session()
    return _message(t("您已退出管理控制台。", "You signed out of the console."), 200)


# -- the console's session: refresh while active, end when idle or too old --------------------------------
def _sealer() -> AESGCM:
    return AESGCM(current_app.extensions["yitong.home"].keystore().secret("console-refresh-tokens", 32))


def _seal(value: str) -> str:
    nonce = secrets.token_bytes(12)
    return base64.urlsafe_b64encode(nonce + _sealer().encrypt(nonce, value.encode(), b"console")).decode()


def _unseal(value: str) -> str | None:
    try:
        raw = base64.urlsafe_b64decode(value)
        return _sealer().decrypt(raw[:12], raw[12:], b"console").decode()
    except Exception:  # a cookie from another key or tampered with: no refresh token
        return None


def _end_session() -> None:
    """Forget the session and revoke its refresh tokens (and with them the grants) at the IdP."""
    for sealed in session.get("console_refresh", {}).values():
        token = _unseal(sealed)
        if token:
            form = urlencode({"token": token, "token_type_hint": "refresh_token", "client_id": CONSOLE_CLIENT_ID})
            _transport()(f"{_issuer()}/revoke", form.encode(), {"Content-Type": "application/x-www-form-urlencoded"})
    for key in ("console_tokens", "console_refresh", "console_who", "console_csrf", "console_resume"):
        session.pop(key, None)


def _refresh() -> bool:
    """New access tokens for every audience from the refresh tokens (rotated); False if any fails."""
    tokens, refresh = dict(session.get("console_tokens", {})), dict(session.get("console_refresh", {}))
    exp = None
    for audience in AUDIENCES:
        token = _unseal(refresh.get(audience, ""))
        if not token:
            return False
        form = urlencode({"grant_type": "refresh_token", "refresh_token": token, "client_id": CONSOLE_CLIENT_ID})
        status, body = _transport()(f"{_issuer()}/token", form.encode(),
                                    {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 200:
            return False
        answer = json.loads(body)
        tokens[audience] = answer["access_token"]
        refresh[audience] = _seal(answer.get("refresh_token", token))
        claims = oidc_signin.token_claims(answer["access_token"])
        exp = min(exp or claims["exp"], claims["exp"])
        session["console_who"] = {**session["console_who"], "role": claims.get("yitong_role")}
    session["console_tokens"], session["console_refresh"] = tokens, refresh
    session["console_who"] = {**session["console_who"], "exp": exp}
    return True


def _session_state() -> str:
    """``ok`` (tokens fresh, activity noted), ``none`` (never signed in), or why it ended:
    ``idle``, ``expired`` (absolute limit) or ``refused`` (the IdP would not refresh)."""
    who = session.get("console_who")
    if not who or len(session.get("console_tokens", {})) != len(AUDIENCES) or "started" not in who:
        return "none"
    settings, now = current_app.config["YITONG_SETTINGS"], time.time()
    if now - who["started"] > settings.console_max_seconds:
        return "expired"
    if now - who["active"] > settings.console_idle_seconds:
        return "idle"
    if who["exp"] <= now + 30 and not _refresh():
        return "refused"
    session["console_who"] = {**session["console_who"], "active": int(now)}
    return "ok"


# -- calls to the admin APIs with the operator's token ------------------------------------------------
def _transport():
    return oidc_signin.transport()


def _who() -> dict | None:
    who = session.get("console_who")
    signed_in = who and who["exp"] > time.time() and len(session.get("console_tokens", {})) == len(AUDIENCES)
    return who if signed_in else None


def _api(method: str, path: str, body: dict | None = None) -> tuple[int, dict | bytes]:
    audience = next((name for name in ("seal", "licences") if path.startswith(f"/{name}/")), "idp")
    headers = {"Authorization": f"Bearer {session['console_tokens'][audience]}"}
    data = None
    if method in ("POST", "DELETE"):
        headers["Content-Type"] = "application/json"
        data = json.dumps(body or {}).encode()
    status, raw = _transport()(f"{_issuer()}{path}", data, headers, method)
    try:
        return status, json.loads(raw) if raw else {}
    except ValueError:
        return status, raw


def _needs_step_up(status: int, answer) -> bool:
    """The API's RFC 9470 answer: the sign-in is too old for this action."""
    return status == 401 and isinstance(answer, dict) and str(answer.get("type", "")).endswith(
        "insufficient-user-authentication")


def _step_up(*, action_url: str, cancel_url: str, question: str, reason: str):
    """Keep the confirmation, sign the operator in again (max_age=0), then show it again (resume)."""
    session["console_resume"] = {"action_url": action_url, "cancel_url": cancel_url, "question": question,
                                 "reason": reason}
    return _authorize(0, prompt="login", max_age=0)


@bp.get("/again")
def resume():
    """After a step-up sign-in: the confirmation that asked for it, to confirm once more."""
    pending = session.pop("console_resume", None)
    if not pending:
        return redirect(url_for("console.home"))
    return _page("confirm.html", stepped_up=True, **pending)


def _confirmed_action(*, api_path: str, action_url: str, cancel_url: str, question: str, reason: str, body: dict,
                      on_problem, method: str = "POST"):
    """Send ``body`` to the API; a step-up answer sends the operator to sign in again first."""
    status, answer = _api(method, api_path, body)
    if _needs_step_up(status, answer):
        return _step_up(action_url=action_url, cancel_url=cancel_url, question=question, reason=reason)
    if status not in (200, 201, 204):
        return on_problem(answer)
    return None


def _check_csrf() -> None:
    expected = session.get("console_csrf")
    if not expected or not secrets.compare_digest(request.form.get("csrf", ""), expected):
        abort(_message(t("表单已失效，请返回重试。", "The form expired; go back and try again."), 400))


def _message(text: str, status: int):
    return make_response(render_template("console/message.html", text=text, lang=lang()), status)


def _page(template: str, **context):
    return render_template(f"console/{template}", who=_who(), csrf=session.get("console_csrf"), lang=lang(),
                           **context)


@bp.before_request
def _signed_in():
    lang()
    if request.endpoint in ("console.login", "console.callback", "console.logout"):
        return None
    state = _session_state()
    if state == "none":
        return redirect(url_for("console.login"))
    if state != "ok":
        _end_session()
        why = {"idle": t("您的会话因长时间未操作已结束。", "Your session ended after a while without activity."),
               "expired": t("您的会话已达到最长时限。", "Your session reached its time limit."),
               "refused": t("您的登录已失效。", "Your sign-in is no longer valid.")}[state]
        return _message(why + t("请重新登录。", " Sign in again."), 401)
    return None


# -- pages ----------------------------------------------------------------------------------------------
@bp.get("/")
def home():
    return _page("home.html")


@bp.get("/seals")
def seals():
    query = {k: v for k, v in (("status", request.args.get("status", "")), ("q", request.args.get("q", "")),
                                ("offset", request.args.get("offset", "0"))) if v}
    status, listing = _api("GET", "/seal/admin/seals?" + urlencode(query))
    return _page("seals.html", status=status, listing=listing if status == 200 else None, query=query,
                 problem=listing if status != 200 else None)


@bp.get("/seals/<esid>")
def seal(esid: str):
    status, record = _api("GET", f"/seal/admin/seals/{esid}")
    if status != 200:
        return _page("seals.html", status=status, listing=None, query={}, problem=record)
    return _page("seal.html", seal=record, actions=ACTIONS, allowed=ALLOWED)


@bp.get("/seals/<esid>/image.png")
def seal_image(esid: str):
    status, png = _api("GET", f"/seal/admin/seals/{esid}/image.png")
    if status != 200 or not isinstance(png, bytes):
        abort(404)
    return png, 200, {"Content-Type": "image/png", "Cache-Control": "private, max-age=60"}


@bp.post("/seals/<esid>/<action>")
def seal_action(esid: str, action: str):
    _check_csrf()
    if action not in ACTIONS:
        abort(404)
    reason = request.form.get("reason", "").strip()
    verb = {"approve": t("批准", "approve"), "make": t("制作", "make"), "resume": t("恢复", "resume"),
            "suspend": t("挂失", "suspend"), "revoke": t("撤销", "revoke")}[action]
    question = t(f"确定要对印章 {verb} {esid} 吗？", f"Really {verb} {esid}?") + (
        t("此操作会写入 CRL/OCSP。", " This goes into the CRL and OCSP.") if action in DESTRUCTIVE else "")
    where = {"action_url": f"/admin/seals/{esid}/{action}", "cancel_url": f"/admin/seals/{esid}",
             "question": question, "reason": reason}
    if action in DESTRUCTIVE and request.form.get("confirmed") != "yes":
        return _page("confirm.html", **where)
    refused = _confirmed_action(api_path=f"/seal/admin/seals/{esid}/{action}", body={"reason": reason}, **where,
                                on_problem=lambda answer: _page(
                                    "seal.html", seal=_api("GET", f"/seal/admin/seals/{esid}")[1], actions=ACTIONS,
                                    allowed=ALLOWED, problem=answer))
    return refused or redirect(url_for("console.seal", esid=esid))


@bp.get("/audit")
def audit():
    """The audit trail: the IdP's events and every seal's lifecycle events (who approved, suspended
    ... a seal), each room's chain checked now. Each list pages on its own cursor."""
    query = {k: v for k, v in (("event", request.args.get("event", "")), ("before", request.args.get("before", "")),
                                ("limit", "50")) if v}
    status, events = _api("GET", "/admin/api/v1/audit?" + urlencode(query))
    chain_status, chain = _api("GET", "/admin/api/v1/audit/verify") if status == 200 else (status, None)
    seal_query = {k: v for k, v in (("event", request.args.get("seal_event", "")),
                                    ("before", request.args.get("seal_before", "")), ("limit", "50")) if v}
    seal_status, seal_events = _api("GET", "/seal/admin/events?" + urlencode(seal_query))
    seal_chain_status, seal_chains = (_api("GET", "/seal/admin/events/verify") if seal_status == 200
                                      else (seal_status, None))
    return _page("audit.html", events=events if status == 200 else None, chain=chain if chain_status == 200 else None,
                 problem=events if status != 200 else None, query=query,
                 seal_events=seal_events if seal_status == 200 else None,
                 seal_chains=seal_chains["chains"] if seal_chain_status == 200 else None,
                 seal_problem=seal_events if seal_status != 200 and status == 200 else None,
                 seal_query={k.removeprefix("seal_"): request.args.get(k, "") for k in ("seal_event",)})


@bp.get("/users")
def users(problem: dict | None = None):
    query = {k: v for k, v in (("q", request.args.get("q", "")), ("after", request.args.get("after", ""))) if v}
    status, listing = _api("GET", "/admin/api/v1/users?" + urlencode(query))
    return _page("users.html", listing=listing if status == 200 else None,
                 problem=problem or (listing if status != 200 else None), query=query)


@bp.post("/users/<sub>/<action>")
def user_action(sub: str, action: str):
    """Lock (sign-in refused, sessions ended) or unlock an account: the security administrator's,
    always confirmed with a reason first; the IdP's admin API decides and records it."""
    _check_csrf()
    if action not in ("lock", "unlock"):
        abort(404)
    reason = request.form.get("reason", "").strip()
    if request.form.get("confirmed") != "yes" or not reason:
        question = (t(f"确定要锁定账户 {sub} 吗？其登录将被拒绝，现有会话全部结束。",
                      f"Really lock the account {sub}? Its sign-ins are refused and its sessions end.")
                    if action == "lock" else
                    t(f"确定要解锁账户 {sub} 吗？", f"Really unlock the account {sub}?"))
        return _page("confirm.html", reason=reason, action_url=f"/admin/users/{sub}/{action}",
                     cancel_url="/admin/users", question=question)
    refused = _confirmed_action(api_path=f"/admin/api/v1/users/{quote(sub, safe='')}/{action}",
                                body={"reason": reason}, action_url=f"/admin/users/{sub}/{action}",
                                cancel_url="/admin/users", reason=reason, on_problem=lambda answer: users(answer),
                                question=t(f"确定要{'锁定' if action == 'lock' else '解锁'}账户 {sub} 吗？",
                                           f"Really {action} the account {sub}?"))
    return refused or redirect(url_for("console.users", q=sub))


@bp.get("/clients")
def clients():
    status, listing = _api("GET", "/admin/api/v1/clients")
    return _page("clients.html", clients=listing if status == 200 else None,
                 problem=listing if status != 200 else None)


@bp.get("/keys")
def keys():
    status, listing = _api("GET", "/admin/api/v1/keys")
    return _page("keys.html", keys=listing if status == 200 else None, problem=listing if status != 200 else None)


@bp.get("/operators")
def operators(problem: dict | None = None):
    status, listing = _api("GET", "/admin/api/v1/operators")
    return _page("operators.html", listing=listing if status == 200 else None, roles=ROLE_NAMES,
                 problem=problem or (listing if status != 200 else None))


@bp.post("/operators/grant")
def operator_grant():
    """Give an account (by username) or an automation client (by client id) an operator role: the
    system administrator's, confirmed with a reason and a recent sign-in; never to oneself (the
    API refuses)."""
    _check_csrf()
    account = request.values.get("account", "").strip()[:64]
    role = request.values.get("role", "")
    if not account or role not in ROLE_NAMES:
        return operators({"detail": t("请填写账户并选择角色。", "Name an account and choose a role.")})
    reason = request.form.get("reason", "").strip()
    action_url = "/admin/operators/grant?" + urlencode({"account": account, "role": role})
    question = t(f"确定要授予 {account} {ROLE_NAMES[role][0]}角色吗？",
                 f"Really make {account} the {ROLE_NAMES[role][1]}?")
    if request.form.get("confirmed") != "yes" or not reason:
        return _page("confirm.html", reason=reason, action_url=action_url, cancel_url="/admin/operators",
                     question=question)
    # A person is named by username; what is no username is tried as a sub or client id.
    body = {"username": account, "role": role, "reason": reason}
    refused = _confirmed_action(api_path="/admin/api/v1/operators", body=body, action_url=action_url,
                                cancel_url="/admin/operators", question=question, reason=reason,
                                on_problem=lambda answer: _grant_by_sub(answer, account, role, reason))
    return refused or redirect(url_for("console.operators"))


def _grant_by_sub(answer: dict, account: str, role: str, reason: str):
    """No account has that username: try it as a subject identifier or client id."""
    if answer.get("status") != 404:
        return operators(answer)
    status, again = _api("POST", "/admin/api/v1/operators", {"sub": account, "role": role, "reason": reason})
    return None if status == 201 else operators(again)


@bp.post("/operators/<sub>/revoke")
def operator_revoke(sub: str):
    _check_csrf()
    reason = request.form.get("reason", "").strip()
    action_url = f"/admin/operators/{quote(sub, safe='')}/revoke"
    question = t(f"确定要撤销 {sub} 的管理员角色吗？", f"Really revoke the operator role of {sub}?")
    if request.form.get("confirmed") != "yes" or not reason:
        return _page("confirm.html", reason=reason, action_url=action_url, cancel_url="/admin/operators",
                     question=question)
    refused = _confirmed_action(api_path=f"/admin/api/v1/operators/{quote(sub, safe='')}", method="DELETE",
                                body={"reason": reason}, action_url=action_url, cancel_url="/admin/operators",
                                question=question, reason=reason, on_problem=operators)
    return refused or redirect(url_for("console.operators"))


@bp.get("/organisations")
def organisations():
    query = {k: v for k, v in (("q", request.args.get("q", "")), ("after", request.args.get("after", ""))) if v}
    status, listing = _api("GET", "/admin/api/v1/organisations?" + urlencode({**query, "limit": "25"}))
    return _page("organisations.html", listing=listing if status == 200 else None,
                 problem=listing if status != 200 else None, query=query)


@bp.get("/organisations/<uscc>")
def organisation(uscc: str, problem: dict | None = None):
    state = request.args.get("state", "")
    status, record = _api("GET", f"/admin/api/v1/organisations/{quote(uscc, safe='')}"
                          + ("?" + urlencode({"state": state}) if state else ""))
    if status != 200:
        return _page("organisations.html", listing=None, problem=record, query={})
    return _page("organisation.html", org=record, problem=problem, state=state)


@bp.post("/agents/<agent_id>/revoke")
def agent_revoke(agent_id: str):
    """Revoke an agent's mandate: confirmed, with a reason, and with a recent sign-in (the API asks)."""
    _check_csrf()
    reason = request.form.get("reason", "").strip()
    uscc = request.args.get("uscc", "").strip()[:18]
    action_url = f"/admin/agents/{quote(agent_id, safe='')}/revoke?" + urlencode({"uscc": uscc})
    cancel_url = f"/admin/organisations/{quote(uscc, safe='')}"
    question = t(f"确定要撤销经办人授权 {agent_id} 吗？其令牌立即失效。",
                 f"Really revoke the agent's mandate {agent_id}? Its tokens stop working at once.")
    if request.form.get("confirmed") != "yes" or not reason:
        return _page("confirm.html", reason=reason, action_url=action_url, cancel_url=cancel_url, question=question)
    refused = _confirmed_action(api_path=f"/admin/api/v1/agents/{quote(agent_id, safe='')}/revoke",
                                body={"reason": reason}, action_url=action_url,
                                cancel_url=cancel_url, question=question, reason=reason,
                                on_problem=lambda answer: organisation(uscc, problem=answer) if uscc
                                else _message(answer.get("detail", "?") if isinstance(answer, dict) else "?", 409))
    return refused or redirect(cancel_url)


@bp.get("/licences")
def licence_types():
    query = {"q": request.args.get("q", "")} if request.args.get("q") else {}
    status, listing = _api("GET", "/licences/admin/types?" + urlencode(query))
    return _page("licence_types.html", listing=listing if status == 200 else None,
                 problem=listing if status != 200 else None, query=query)


@bp.get("/licences/types/<code>")
def licence_type(code: str):
    status, kind = _api("GET", f"/licences/admin/types/{quote(code, safe='')}")
    if status != 200:
        return _page("licence_types.html", listing=None, problem=kind, query={})
    query = {k: v for k, v in (("status", request.args.get("status", "")), ("offset", request.args.get("offset", "")))
             if v}
    listed_status, listing = _api("GET", "/licences/admin/licences?" + urlencode({"type": code, "limit": "25",
                                                                                   **query}))
    return _page("licence_type.html", kind=kind, listing=listing if listed_status == 200 else None,
                 problem=listing if listed_status != 200 else None, query=query)


@bp.get("/licences/<licence_id>")
def licence(licence_id: str, problem: dict | None = None):
    status, record = _api("GET", f"/licences/admin/licences/{quote(licence_id, safe='')}")
    if status != 200:
        return _page("licence_types.html", listing=None, problem=record, query={})
    return _page("licence.html", licence=record, problem=problem)


@bp.post("/licences/<licence_id>/revoke")
def licence_revoke(licence_id: str):
    """Revoke a licence: confirmed, with a reason, after a recent sign-in (the licence room asks)."""
    _check_csrf()
    reason = request.form.get("reason", "").strip()
    where = {"action_url": f"/admin/licences/{quote(licence_id, safe='')}/revoke",
             "cancel_url": f"/admin/licences/{quote(licence_id, safe='')}", "reason": reason,
             "question": t(f"确定要撤销证照 {licence_id} 吗？撤销后扫码核验将显示“已撤销”。",
                           f"Really revoke the licence {licence_id}? Scanning its code shows it revoked from now on.")}
    if request.form.get("confirmed") != "yes" or not reason:
        return _page("confirm.html", **where)
    refused = _confirmed_action(api_path=f"/licences/admin/licences/{quote(licence_id, safe='')}/revoke",
                                body={"reason": reason}, **where,
                                on_problem=lambda answer: licence(licence_id, problem=answer))
    return refused or redirect(where["cancel_url"])
