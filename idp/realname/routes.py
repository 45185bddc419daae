"""Real-name pages: natural persons at /account/realname (rules: persons.py), organisations at
/account/organisations (organisations.py), strong real name at /account/realname/strong (strong.py)."""

from __future__ import annotations

import re

from flask import render_template, request, session

from idp.acr import LOA_2, LOA_3, rank
from idp.connectors import Result
from idp.i18n import t
from idp.identity import (
    IdentifierError,
    Identities,
    IdentityTaken,
    Organisations,
    OrganisationTaken,
    check_mobile,
    check_resident_id,
    check_uscc,
    mask_phone,
)
from idp.realname import organisations, persons, strong
from idp.services import services
from idp.web import (
    audit,
    csrf_failure,
    csrf_ok,
    csrf_token,
    current_session,
    has_second_factor,
    page_blueprint,
    to_sign_in,
)

bp = page_blueprint("idp_realname")


# -- natural persons: /account/realname ------------------------------------------------------------------
def _person_page(status: int = 200, headers: dict | None = None, **context):
    """The page, never cached: it shows a person's own identity data."""
    idp = services()
    user = idp.accounts.get(current_session().sub)
    identities: Identities = idp.identities
    return render_template("idp/realname.html", csrf=session["csrf"], user=user,
                           identity=identities.get(user.sub), configured=idp.connectors.population is not None,
                           **context), status, {"Cache-Control": "no-store", **(headers or {})}


@bp.route("/account/realname", methods=["GET", "POST"])
def realname():
    sso = current_session()
    if sso is None:
        return to_sign_in("/account/realname")
    csrf_token()
    idp = services()
    population = idp.connectors.population
    identities: Identities = idp.identities
    if request.method != "POST":  # GET, or HEAD (Flask answers it as GET without a body)
        return _person_page(200 if population is not None else 503)
    if not csrf_ok():
        return csrf_failure()
    if identities.get(sso.sub) is not None:
        return _person_page(409, error=t("您已完成实名认证。", "Your real name is already verified."))
    if population is None:
        return _person_page(503)
    name = " ".join(request.form.get("name", "").split())
    typed = request.form.get("id_number", "")
    if not name or len(name) > persons.MAX_NAME or not name.isprintable():
        return _person_page(400, error=t("请输入身份证上的姓名", "Enter your name as it is on your ID card"), name=name,
                     id_number=typed)
    try:
        checked = check_resident_id(typed)
    except IdentifierError as exc:
        return _person_page(400, error=t(exc.zh, exc.en), name=name, id_number=typed)
    limit = idp.realname_limiter.hit(sso.sub)
    if not limit.allowed:
        audit("realname.throttled", sub=sso.sub)
        wait = limit.retry_after_seconds
        return _person_page(429, headers={"Retry-After": str(wait)},
                     error=t(f"尝试次数过多，请在 {wait} 秒后重试。", f"Too many attempts; try again in {wait} s."),
                     name=name)
    verdict = population.verify(name, checked.number)
    if verdict.result is Result.UNAVAILABLE:
        audit("realname.unavailable", sub=sso.sub, source=verdict.source, reason=verdict.reason)
        return _person_page(503, error=t("人口库暂时无法核验，请稍后再试。您的认证等级没有改变。",
                                  "The population library cannot answer right now; please try again later. "
                                  "Your level has not changed."), name=name, id_number=typed)
    if verdict.result is Result.NO_MATCH:
        audit("realname.no_match", sub=sso.sub, source=verdict.source,
              reference=verdict.evidence.get("reference"))
        return _person_page(422, error=t("姓名与身份证号码不一致，或该号码不在人口库中。请核对后重试。",
                                  "The name and ID number do not match the population library. "
                                  "Check them and try again."), name=name)
    try:
        identities.bind(sso.sub, id_type=checked.kind, name=name, id_number=checked.number,
                        trust_framework=persons.TRUST_FRAMEWORK, evidence=persons.evidence_from(verdict),
                        verified_at=verdict.checked_at)
    except IdentityTaken:
        if identities.get(sso.sub) is not None:  # a concurrent submission of this account won
            return _person_page(409, error=t("您已完成实名认证。", "Your real name is already verified."))
        audit("realname.refused", sub=sso.sub, reason="id_number_bound_to_another_account")
        return _person_page(409, error=t("该身份证号码已绑定其他账号。如有疑问请联系客服。",
                                  "This ID number already belongs to another account. "
                                  "Contact the help desk if this is wrong."))
    accounts = idp.accounts
    before = accounts.get(sso.sub).acr
    accounts.raise_level(sso.sub, LOA_2)  # never lowers a higher level, even one set concurrently
    after = accounts.get(sso.sub).acr
    audit("realname.verified", sub=sso.sub, source=verdict.source, reference=verdict.evidence.get("reference"),
          acr_before=before, acr=after, id_type=checked.kind)
    return _person_page(200, verified_now=True)


# -- organisations: /account/organisations ---------------------------------------------------------------
def _organisation_page(status: int = 200, headers: dict | None = None, **context):
    """The page, never cached: it shows a person's own identity data."""
    idp = services()
    sub = current_session().sub
    user = idp.accounts.get(sub)
    identity = idp.identities.get(sub)
    registry: Organisations = idp.organisations
    eligible = identity is not None and rank(user.acr) >= rank(LOA_2)
    return render_template("idp/realname_org.html", csrf=session["csrf"], user=user, identity=identity,
                           eligible=eligible, organisations=registry.represented_by(sub),
                           configured=idp.connectors.legal_person is not None,
                           **context), status, {"Cache-Control": "no-store", **(headers or {})}


@bp.route("/account/organisations", methods=["GET", "POST"])
def organisations_page():
    sso = current_session()
    if sso is None:
        return to_sign_in("/account/organisations")
    csrf_token()
    idp = services()
    library = idp.connectors.legal_person
    if request.method != "POST":  # GET, or HEAD (Flask answers it as GET without a body)
        return _organisation_page(200 if library is not None else 503)
    if not csrf_ok():
        return csrf_failure()
    if library is None:
        return _organisation_page(503)
    identities: Identities = idp.identities
    identity, user = identities.get(sso.sub), idp.accounts.get(sso.sub)
    if identity is None or rank(user.acr) < rank(LOA_2):
        return _organisation_page(403, error=t("请先完成个人实名认证，再以法定代表人身份登记单位。",
                                  "Verify your own real name first; then register an organisation as its "
                                  "legal representative."))
    name = " ".join(request.form.get("name", "").split())
    typed = request.form.get("uscc", "")
    if not name or len(name) > organisations.MAX_NAME or not name.isprintable():
        return _organisation_page(400, error=t("请输入单位的登记名称", "Enter the organisation's registered name"),
                                  uscc=typed)
    try:
        checked = check_uscc(typed)
    except IdentifierError as exc:
        return _organisation_page(400, error=t(exc.zh, exc.en), name=name, uscc=typed)
    warnings = [t(w.zh, w.en) for w in checked.warnings]
    limit = idp.organisation_limiter.hit(sso.sub)
    if not limit.allowed:
        audit("organisation.throttled", sub=sso.sub)
        wait = limit.retry_after_seconds
        return _organisation_page(429, headers={"Retry-After": str(wait)},
                     error=t(f"尝试次数过多，请在 {wait} 秒后重试。", f"Too many attempts; try again in {wait} s."),
                     name=name, uscc=typed)
    verdict = library.verify(checked.code, name, identity.name, identities.id_number(sso.sub))
    if verdict.result is Result.UNAVAILABLE:
        audit("organisation.unavailable", sub=sso.sub, source=verdict.source, reason=verdict.reason)
        return _organisation_page(503, error=t("法人库暂时无法核验，请稍后再试。",
                                               "The legal-person library cannot answer right now; "
                                               "please try again later."),
                                  name=name, uscc=typed, warnings=warnings)
    if verdict.result is Result.NO_MATCH:
        audit("organisation.no_match", sub=sso.sub, uscc=checked.code, reference=verdict.evidence.get("reference"))
        return _organisation_page(422, error=t("统一社会信用代码、单位名称与法定代表人（您本人）在法人库中不一致。",
                                  "The legal-person library does not list this code and name with you as the "
                                  "legal representative."), name=name, uscc=typed, warnings=warnings)
    try:
        idp.organisations.register(uscc=checked.code, name=name, legal_representative_sub=sso.sub, acr=LOA_2,
                                      uscc_warnings=[w.code for w in checked.warnings],
                                      trust_framework=organisations.TRUST_FRAMEWORK,
                                      evidence=organisations.evidence_from(verdict),
                                      verified_at=verdict.checked_at)
    except OrganisationTaken:
        audit("organisation.refused", sub=sso.sub, uscc=checked.code, reason="already_registered")
        return _organisation_page(409, error=t("该单位已经登记。", "This organisation is already registered."))
    audit("organisation.verified", sub=sso.sub, uscc=checked.code, reference=verdict.evidence.get("reference"),
          uscc_warnings=[w.code for w in checked.warnings])
    return _organisation_page(200, registered=checked.code, warnings=warnings)


# -- strong real name (loa:3): /account/realname/strong --------------------------------------------------
def _strong_state(user, identity) -> str:
    if rank(user.acr) >= rank(LOA_3):
        return "done"
    if identity is None or rank(user.acr) < 2:
        return "needs_realname"
    if not has_second_factor(user):
        return "needs_mfa"
    return "ready"


def _strong_page(user, status: int = 200, headers: dict | None = None, **context):
    """The page, never cached: it shows a person's own identity data."""
    idp = services()
    identity = idp.identities.get(user.sub)
    connectors = idp.connectors
    return render_template("idp/realname_strong.html", csrf=session["csrf"], user=user, identity=identity,
                           state=_strong_state(user, identity), phone_masked=mask_phone(user.phone),
                           bank=connectors.bank_4_factor is not None,
                           carrier=connectors.carrier_3_factor is not None and bool(user.phone),
                           **context), status, {"Cache-Control": "no-store", **(headers or {})}


@bp.route(strong.PATH, methods=["GET", "POST"])
def strong_realname():
    sso = current_session()
    if sso is None:
        return to_sign_in(strong.PATH)
    csrf_token()
    idp = services()
    user = idp.accounts.get(sso.sub)
    connectors = idp.connectors
    configured = connectors.bank_4_factor is not None or connectors.carrier_3_factor is not None
    if request.method != "POST":  # GET, or HEAD (Flask answers it as GET without a body)
        return _strong_page(user, 200 if configured else 503)
    if not csrf_ok():
        return csrf_failure()
    identities: Identities = idp.identities
    identity = identities.get(user.sub)
    state = _strong_state(user, identity)
    if state != "ready":
        audit("strong_realname.refused", sub=user.sub, reason=state)
        return _strong_page(user, 409)
    method = request.form.get("method", "")
    if method not in strong.METHODS:
        return _strong_page(user, 400, error=t("请选择核验方式", "Choose how to verify"))
    connector = connectors.bank_4_factor if method == "bank" else connectors.carrier_3_factor
    if connector is None:
        return _strong_page(user, 503)
    card = phone = None
    if method == "bank":
        card = re.sub(r"[\s-]", "", request.form.get("card_number", ""))
        if not strong.CARD_NUMBER.match(card):
            return _strong_page(user, 400, method=method,
                         error=t("请输入12至19位银行卡号", "Enter the 12-19 digit card number"))
        try:
            phone = check_mobile(request.form.get("phone", ""))
        except IdentifierError as exc:
            return _strong_page(user, 400, method=method, error=t(exc.zh, exc.en))
    else:
        phone = user.phone
        if not phone:
            return _strong_page(user, 400, method=method,
                         error=t("您的账号没有绑定手机号码，请使用银行卡核验。",
                                 "Your account has no mobile number; verify with a bank card instead."))
    limit = idp.strong_realname_limiter.hit(user.sub)
    if not limit.allowed:
        audit("strong_realname.throttled", sub=user.sub, method=method)
        wait = limit.retry_after_seconds
        return _strong_page(user, 429, headers={"Retry-After": str(wait)}, method=method,
                     error=t(f"尝试次数过多，请在 {wait} 秒后重试。", f"Too many attempts; try again in {wait} s."))
    id_number = identities.id_number(user.sub)
    if method == "bank":
        verdict = connector.verify(identity.name, id_number, card, phone)
    else:
        verdict = connector.verify(identity.name, id_number, phone)
    if verdict.result is Result.UNAVAILABLE:
        audit("strong_realname.unavailable", sub=user.sub, method=method, source=verdict.source,
              reason=verdict.reason)
        return _strong_page(user, 503, method=method,
                     error=t("核验服务暂时无法应答，请稍后再试。您的认证等级没有改变。",
                             "The check cannot be made right now; please try again later. "
                             "Your level has not changed."))
    if verdict.result is Result.NO_MATCH:
        audit("strong_realname.no_match", sub=user.sub, method=method, source=verdict.source,
              reference=verdict.evidence.get("reference"))
        return _strong_page(user, 422, method=method,
                     error=t("银行卡号、预留手机号与您的实名信息不一致，请核对后重试。" if method == "bank" else
                             "该手机号码不是以您的实名登记的有效号码。",
                             "The card, the phone number reserved with the bank and your verified identity "
                             "do not match. Check them and try again." if method == "bank" else
                             "Your mobile number is not a live line registered to your verified identity."))
    identities.add_evidence(user.sub, strong.evidence_from(verdict, method, card[-4:] if card else None))
    before = user.acr
    idp.accounts.raise_level(user.sub, LOA_3)  # never lowers a higher level, even one set concurrently
    after = idp.accounts.get(user.sub)
    audit("strong_realname.verified", sub=user.sub, method=method, source=verdict.source,
          reference=verdict.evidence.get("reference"), acr_before=before, acr=after.acr)
    return _strong_page(after, 200, verified_now=True, method=method)
