"""Legal persons and other organisations (法人实名): registered by their legal representative.

At ``/account/organisations`` a signed-in person whose own real name is verified (a stored
identity and level ``urn:yitong:loa:2`` or higher) enters the organisation's unified social
credit code and registered name. The USCC is checked locally (format; a GB 32100 or GB 11714
checksum failure is only a warning, shown and recorded — the library decides, since real pilot
codes fail it); then the legal-person library is asked whether the code, the name and the legal
representative — this person's VERIFIED name and ID number, never typed ones — belong together.
``match`` registers the organisation at ``urn:yitong:loa:2`` with this person as its legal
representative; ``no_match`` and ``unavailable`` register nothing. One USCC, one registration.
Attempts that reach the library are limited per account like the person check.
"""

from __future__ import annotations

from flask import render_template, request, session

from idp.acr import LOA_2, rank
from idp.connectors import Result, Verdict
from idp.i18n import t
from idp.identity import IdentifierError, Identities, Organisations, OrganisationTaken, check_uscc
from idp.realname.evidence import electronic_record
from idp.web import audit, bp, csrf_failure, csrf_ok, csrf_token, current_session, services, to_sign_in

TRUST_FRAMEWORK = "cn_legal_person_library"
MAX_NAME = 200


def evidence_from(verdict: Verdict) -> dict:
    """A check of the legal-person register, with the library's per-field results."""
    return electronic_record(verdict, "legal_person_register", checks=verdict.evidence.get("checks"))


def _page(status: int = 200, headers: dict | None = None, **context):
    """The page, never cached: it shows a person's own identity data."""
    idp = services()
    sub = current_session().sub
    user = idp["accounts"].get(sub)
    identity = idp["identities"].get(sub)
    organisations: Organisations = idp["organisations"]
    eligible = identity is not None and rank(user.acr) >= rank(LOA_2)
    return render_template("idp/realname_org.html", csrf=session["csrf"], user=user, identity=identity,
                           eligible=eligible, organisations=organisations.represented_by(sub),
                           configured=idp["connectors"].legal_person is not None,
                           **context), status, {"Cache-Control": "no-store", **(headers or {})}


@bp.route("/account/organisations", methods=["GET", "POST"])
def organisations_page():
    sso = current_session()
    if sso is None:
        return to_sign_in("/account/organisations")
    csrf_token()
    idp = services()
    library = idp["connectors"].legal_person
    if request.method != "POST":  # GET, or HEAD (Flask answers it as GET without a body)
        return _page(200 if library is not None else 503)
    if not csrf_ok():
        return csrf_failure()
    if library is None:
        return _page(503)
    identities: Identities = idp["identities"]
    identity, user = identities.get(sso.sub), idp["accounts"].get(sso.sub)
    if identity is None or rank(user.acr) < rank(LOA_2):
        return _page(403, error=t("请先完成个人实名认证，再以法定代表人身份登记单位。",
                                  "Verify your own real name first; then register an organisation as its "
                                  "legal representative."))
    name = " ".join(request.form.get("name", "").split())
    typed = request.form.get("uscc", "")
    if not name or len(name) > MAX_NAME or not name.isprintable():
        return _page(400, error=t("请输入单位的登记名称", "Enter the organisation's registered name"), uscc=typed)
    try:
        checked = check_uscc(typed)
    except IdentifierError as exc:
        return _page(400, error=t(exc.zh, exc.en), name=name, uscc=typed)
    warnings = [t(w.zh, w.en) for w in checked.warnings]
    limit = idp["organisation_limiter"].hit(sso.sub)
    if not limit.allowed:
        audit("organisation.throttled", sub=sso.sub)
        wait = limit.retry_after_seconds
        return _page(429, headers={"Retry-After": str(wait)},
                     error=t(f"尝试次数过多，请在 {wait} 秒后重试。", f"Too many attempts; try again in {wait} s."),
                     name=name, uscc=typed)
    verdict = library.verify(checked.code, name, identity.name, identities.id_number(sso.sub))
    if verdict.result is Result.UNAVAILABLE:
        audit("organisation.unavailable", sub=sso.sub, source=verdict.source, reason=verdict.reason)
        return _page(503, error=t("法人库暂时无法核验，请稍后再试。", "The legal-person library cannot answer right "
                                                                    "now; please try again later."),
                     name=name, uscc=typed, warnings=warnings)
    if verdict.result is Result.NO_MATCH:
        audit("organisation.no_match", sub=sso.sub, uscc=checked.code, reference=verdict.evidence.get("reference"))
        return _page(422, error=t("统一社会信用代码、单位名称与法定代表人（您本人）在法人库中不一致。",
                                  "The legal-person library does not list this code and name with you as the "
                                  "legal representative."), name=name, uscc=typed, warnings=warnings)
    try:
        idp["organisations"].register(uscc=checked.code, name=name, legal_representative_sub=sso.sub, acr=LOA_2,
                                      uscc_warnings=[w.code for w in checked.warnings],
                                      trust_framework=TRUST_FRAMEWORK, evidence=evidence_from(verdict),
                                      verified_at=verdict.checked_at)
    except OrganisationTaken:
        audit("organisation.refused", sub=sso.sub, uscc=checked.code, reason="already_registered")
        return _page(409, error=t("该单位已经登记。", "This organisation is already registered."))
    audit("organisation.verified", sub=sso.sub, uscc=checked.code, reference=verdict.evidence.get("reference"),
          uscc_warnings=[w.code for w in checked.warnings])
    return _page(200, registered=checked.code, warnings=warnings)
