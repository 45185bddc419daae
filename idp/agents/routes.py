"""Pages for agents (经办人) and acting for an organisation (idp/agents/store.py holds the rules).

- ``/account/agents`` (signed-in people; zh-CN/en; CSRF; never cached): the legal
  representative — or an agent with the ``admin`` role — sees the organisation's agents
  (pending / active / expired / declined / revoked), grants one by login name or phone (roles and
  an expiry date: valid to the end of that day, China Standard Time) and revokes; an invited
  person accepts or declines; an agent sees the organisations they act for and may give one up.
  Every change is audited (``agent.granted``, ``.accepted``, ``.declined``, ``.revoked``,
  ``.refused``) with who, the organisation's USCC, the agent's sub, roles and expiry.
- ``/authorize/organisation``: during an authorization request with scope ``org`` the person
  chooses whom to act for — every organisation they represent or are an active agent of, or
  themselves; the choice (``acting.chosen``) is bound to the code by /authorize. An organisation
  proven in this sign-in with its certificate (idp/certlogin/routes.py) or its e-business licence
  (idp/certlogin/routes.py) is marked and chosen by default, and acting for it carries ``org.acr``
  loa:4; the chooser offers both proofs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from flask import redirect, render_template, request, session

from idp.accounts.sms import SmsError
from idp.agents.store import ADMIN, ALL, CERTIFICATE, LICENCE, LICENCE_ROLE, PROOFS, Acting, AgentError, Agents
from idp.i18n import t
from idp.identity import mask_phone
from idp.oauth.consent import SCOPE_LABELS
from idp.security.bruteforce import account_key
from idp.services import services
from idp.web import (
    audit,
    csrf_failure,
    csrf_ok,
    csrf_token,
    current_session,
    error_page,
    flow_id,
    page_blueprint,
    safe_return_to,
    sign_in_ended_page,
    to_sign_in,
)
from idp.words import time_zone

bp = page_blueprint("idp_agents")

MAX_YEARS = 5
COMMON_ROLES = (
    (ALL, "全部业务", "All services"),
    ("seal_keeper", "用印（电子印章）", "Use the organisation's e-seals"),
    (LICENCE_ROLE, "单位证照（查看、下载、亮证）", "The organisation's licences (see, download, show)"),
    (ADMIN, "管理经办人", "Manage agents"),
)
SCOPE_LABELS.setdefault("org", ("代表单位（选择以哪个单位身份办理）", "Act for an organisation you choose"))
SELF = "self"


def _agents() -> Agents:
    return services().agents


# -- organisations proven in this sign-in (certificate or e-licence) ---------------------------------------
# Kept in the browser's signed flow cookie, bound to the SSO session id; any new sign-in but a step-up
# forgets them (idp/signin/routes.py begin_session). They name only public facts (USCC, certificate serial or
# the e-licence system's evidence reference).
ORG_PROOFS = "org_proofs"


def remember_org_proof(sid: str, uscc: str, method: str, reference: str) -> None:
    """``method``: one of idp.agents.store.PROOFS; ``reference``: the certificate serial or the licence
    system's evidence reference."""
    if method not in PROOFS:
        raise ValueError(f"not a way to prove an organisation: {method!r}")
    proofs = session.get(ORG_PROOFS)
    if not proofs or proofs.get("sid") != sid:
        proofs = {"sid": sid, "orgs": {}}
    proofs["orgs"][uscc] = {"method": method, "reference": reference, "at": int(datetime.now(UTC).timestamp())}
    session[ORG_PROOFS] = proofs


def prove_organisation(sso, uscc: str, method: str, reference: str, return_to: str, **fields):
    """The signed-in person proved the organisation ``uscc`` (``method``: one of PROOFS): honoured,
    and on to ``return_to``, only if they may already act for it; holding its credential grants nothing."""
    if _agents().acting_for(sso.sub, uscc) is None:
        audit("acting.refused", sub=sso.sub, uscc=uscc, method=method, reference=reference, reason="not_authorised",
              **fields)
        return error_page(t("不能代表该单位", "You cannot act for this organisation"),
                          t("单位身份已验证，但您不是该单位的法定代表人或有效的经办人。持有单位证书或营业执照不等于获得授权："
                            "请联系法定代表人在“经办人”页面为您授权。",
                            "The organisation is proven, but you are neither its legal representative nor an "
                            "active agent of it. Holding its certificate or licence grants nothing: ask the legal "
                            "representative to authorise you on the agents page."), 403)
    remember_org_proof(sso.sid, uscc, method, reference)
    audit("acting.proven", sub=sso.sub, uscc=uscc, method=method, reference=reference, **fields)
    return redirect(return_to)


def forget_org_proofs() -> None:
    """A new sign-in (not a step-up of this one): the organisations are proven again."""
    session.pop(ORG_PROOFS, None)


def acting_options(sso) -> list[Acting]:
    """Every organisation the signed-in person may act for, those proven in this sign-in marked."""
    proofs = session.get(ORG_PROOFS) or {}
    proven = proofs.get("orgs", {}) if proofs.get("sid") == sso.sid else {}
    return [replace(o, proof=proven[o.organisation.uscc]["method"]) if o.organisation.uscc in proven else o
            for o in _agents().acting_options(sso.sub)]


def _expiry(value: str) -> datetime:
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise AgentError("bad_expiry", "请输入有效期（年-月-日）", "Enter the expiry as a date (YYYY-MM-DD)") from None
    today = datetime.now(time_zone()).date()  # expiry dates are days of the deployment's time zone
    if day < today or day > today + timedelta(days=365 * MAX_YEARS + 2):
        raise AgentError("bad_expiry", f"有效期须在今天到 {MAX_YEARS} 年之内",
                         f"The expiry must be between today and {MAX_YEARS} years from now")
    return datetime.combine(day + timedelta(days=1), time(0), time_zone()).astimezone(UTC)


def _default_expiry() -> str:
    today = datetime.now(time_zone()).date()  # expiry dates are days of the deployment's time zone
    return (today + timedelta(days=365)).isoformat()


def _names(subs: set[str]) -> dict[str, str]:
    """Display names for agent subs: the verified name and login name (no ID numbers)."""
    idp = services()
    names = {}
    for sub in subs:
        user, identity = idp.accounts.get(sub), idp.identities.get(sub)
        login = (user.username or user.phone) if user else ""
        names[sub] = f"{identity.name if identity else ''} ({login})".strip()
    return names


def _page(status: int = 200, **context):
    sso = current_session()
    agents = _agents()
    options = agents.acting_options(sso.sub)
    managed = [(o, agents.of_organisation(o.organisation.uscc)) for o in options if o.may_manage]
    mine = agents.of_person(sso.sub)
    invitations = [a for a in mine if a.state == "pending"]
    orgs = {a.uscc: services().organisations.get(a.uscc) for a in mine}
    subs = {a.agent_sub for _, rows in managed for a in rows}
    user = services().accounts.get(sso.sub)
    identity = services().identities.get(sso.sub)
    return render_template(
        "idp/agents.html", csrf=session["csrf"], user=user, identity=identity, managed=managed,
        invitations=invitations, agencies=[o for o in options if o.agent_id], orgs=orgs, names=_names(subs),
        common_roles=COMMON_ROLES, default_expiry=_default_expiry(), **context,
    ), status, {"Cache-Control": "no-store"}


def _audit_agent(event: str, actor: str, agent, **extra) -> None:
    audit(event, sub=actor, uscc=agent.uscc, agent_sub=agent.agent_sub, agent_id=agent.agent_id, roles=agent.roles,
          expires_at=agent.expires_at.isoformat(), **extra)


@bp.route("/account/agents", methods=["GET", "POST"])
def agents_page():
    sso = current_session()
    if sso is None:
        return to_sign_in("/account/agents")
    csrf_token()
    if request.method != "POST":  # GET, or HEAD (Flask answers it as GET without a body)
        return _page()
    if not csrf_ok():
        return csrf_failure()
    action = request.form.get("action", "")
    agents = _agents()
    try:
        if action == "grant":
            uscc = request.form.get("uscc", "")
            roles = request.form.getlist("role") + request.form.get("other_roles", "").replace(",", " ").split()
            agent = agents.grant(actor=sso.sub, uscc=uscc, login=request.form.get("login", ""), roles=roles,
                                 expires_at=_expiry(request.form.get("expires", "")))
            _audit_agent("agent.granted", sso.sub, agent)
            _tell_invited(agent)
            return _page(message=t("已发出授权，经办人接受后生效。",
                                   "Granted; it takes effect once the agent accepts."))
        if action in ("accept", "decline"):
            agent = agents.decide(actor=sso.sub, agent_id=request.form.get("agent_id", ""),
                                  accept=action == "accept")
            _audit_agent("agent.accepted" if action == "accept" else "agent.declined", sso.sub, agent)
            done = t("已接受授权。", "Accepted.") if action == "accept" else t("已拒绝授权。", "Declined.")
            return _page(message=done)
        if action == "revoke":
            agent = agents.revoke(actor=sso.sub, agent_id=request.form.get("agent_id", ""))
            _audit_agent("agent.revoked", sso.sub, agent)
            return _page(message=t("授权已撤销，立即生效。", "Revoked, with immediate effect."))
    except AgentError as error:
        audit("agent.refused", sub=sso.sub, action=action, reason=error.code,
              uscc=request.form.get("uscc") or None, agent_id=request.form.get("agent_id") or None)
        return _page(error.status, error=t(error.zh, error.en), login=request.form.get("login", ""))
    return _page(400, error=t("未知操作", "Unknown action"))


def _tell_invited(agent) -> None:
    """An SMS to the invited person's phone, if they have one, within the per-number SMS limit (a
    representative granting and revoking in a loop cannot bomb a phone); the invitation stands either way."""
    idp = services()
    person = idp.accounts.get(agent.agent_sub)
    if person is None or not person.phone or not idp.sms_per_phone.hit(account_key(person.phone)).allowed:
        return
    try:
        idp.sms.send(person.phone, "agent-invited", None)
    except SmsError:
        return
    audit("sms.sent", sub=agent.agent_sub, purpose="agent-invited", phone=mask_phone(person.phone))


# -- acting for an organisation at /authorize (scope org) ---------------------------------------------------
@dataclass
class OrgStep:
    """What /authorize does about scope ``org``: answer with ``page``, refuse with ``error``, or
    go on (``acting`` = the organisation chosen, None = as oneself or no org scope)."""

    page: object = None
    error: object = None
    acting: Acting | None = None


def _chooser(options: list[Acting], return_to: str, client_name: str, status: int = 200, error: str | None = None):
    # Proven organisations first, so that the one just proven is the default.
    options = sorted(options, key=lambda o: o.proof is None)
    query = urlencode({"return_to": return_to})
    licence = services().connectors.business_licence is not None
    proofs = {CERTIFICATE: t("已用单位证书验证", "proven with its certificate"),
              LICENCE: t("已用电子营业执照验证", "proven with its e-business licence")}
    return render_template("idp/org_choose.html", options=options, csrf=csrf_token(), return_to=return_to,
                           client_name=client_name, error=error, proofs=proofs,
                           prove_certificate="/login/certificate?" + query,
                           prove_licence="/login/licence?" + query if licence else None), \
        status, {"Cache-Control": "no-store"}


def org_step(grant, args, sso) -> OrgStep:
    """Called by /authorize after consent. Only when the client was granted scope ``org``."""
    if "org" not in (grant.request.scope or "").split():
        return OrgStep()
    options = acting_options(sso)
    choice = session.get("org_choice", {}).get(flow_id())
    if choice == SELF:
        return OrgStep()
    if choice is not None:
        acting = next((o for o in options if o.organisation.uscc == choice), None)
        if acting is not None:
            return OrgStep(acting=acting)
        # revoked or expired between the choice and now: never fall back silently, ask again
        session.get("org_choice", {}).pop(flow_id(), None)
        session.modified = True
        return OrgStep(page=_chooser(options, request.full_path, grant.client.name, 409,
                                     t("您已不能代表所选单位，请重新选择。",
                                       "You can no longer act for that organisation; choose again.")))
    if not options:
        return OrgStep()  # nothing to choose: the person acts as themselves
    if "none" in args.get("prompt", "").split():
        from authlib.oidc.core.errors import InteractionRequiredError

        return OrgStep(error=InteractionRequiredError("choose the organisation to act for",
                                                      redirect_uri=grant.redirect_uri, redirect_fragment=False))
    return OrgStep(page=_chooser(options, request.full_path, grant.client.name))


@bp.post("/authorize/organisation")
def choose_organisation():
    return_to = safe_return_to(request.form.get("return_to"))
    sso = current_session()
    if sso is None or return_to == "/":
        return sign_in_ended_page(t("无法继续", "Cannot continue"))
    if not csrf_ok():
        return csrf_failure()
    choice = request.form.get("org", "")
    options = acting_options(sso)
    acting = next((o for o in options if o.organisation.uscc == choice), None)
    if choice != SELF and acting is None:
        return _chooser(options, return_to, "", 400, t("请选择列表中的一项。", "Choose one of the listed options."))
    audit("acting.chosen", sub=sso.sub, uscc=acting.organisation.uscc if acting else None,
          agent_id=acting.agent_id if acting else None, roles=acting.roles if acting else None,
          proof=acting.proof if acting else None)
    session["org_choice"] = {return_to: choice}
    return redirect(return_to)
