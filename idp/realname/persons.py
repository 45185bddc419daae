"""Real name for natural persons (实名认证): name + resident ID number → ``urn:yitong:loa:2``.

The page at ``/account/realname`` (signed-in people; zh-CN/en; CSRF like the other pages):

1. the ID number is checked locally first (idp/identity/numbers.py: checksum, birth date,
   address code) — a typo costs no library call and no attempt;
2. attempts that reach the library are limited per account (``ATTEMPTS`` per ``WINDOW``);
3. the population-library connector decides: ``match`` stores the verified identity (ID number
   encrypted, evidence kept) and raises the level to loa:2 (``Accounts.raise_level``: one
   conditional UPDATE, never lowering a higher level);
   ``no_match`` says so and changes nothing; ``unavailable`` (timeout, outage, open circuit)
   says "try later" and changes nothing: a person never gets a wrong level;
4. one ID number belongs to one account: a match for a number bound elsewhere is refused (only
   someone who knows the matching name and number learns that it is taken).

The level applies from the next sign-in (``Accounts.set_level``): tokens of the running session
keep the level the session started with. Audit events carry no name and no ID number.
"""

from __future__ import annotations

from flask import render_template, request, session

from idp.acr import LOA_2
from idp.connectors import Result, Verdict
from idp.i18n import t
from idp.identity import IdentifierError, Identities, IdentityTaken, check_resident_id
from idp.realname.evidence import electronic_record
from idp.web import audit, bp, csrf_failure, csrf_ok, csrf_token, current_session, services, to_sign_in

TRUST_FRAMEWORK = "cn_population_library"
ATTEMPTS = 5  # library checks per account ...
WINDOW = 3600  # ... per hour
MAX_NAME = 64


def evidence_from(verdict: Verdict) -> dict:
    """A check of the population register."""
    return electronic_record(verdict, "population_register")


def _page(status: int = 200, headers: dict | None = None, **context):
    """The page, never cached: it shows a person's own identity data."""
    idp = services()
    user = idp["accounts"].get(current_session().sub)
    identities: Identities = idp["identities"]
    return render_template("idp/realname.html", csrf=session["csrf"], user=user,
                           identity=identities.get(user.sub), configured=idp["connectors"].population is not None,
                           **context), status, {"Cache-Control": "no-store", **(headers or {})}


@bp.route("/account/realname", methods=["GET", "POST"])
def realname():
    sso = current_session()
    if sso is None:
        return to_sign_in("/account/realname")
    csrf_token()
    idp = services()
    population = idp["connectors"].population
    identities: Identities = idp["identities"]
    if request.method != "POST":  # GET, or HEAD (Flask answers it as GET without a body)
        return _page(200 if population is not None else 503)
    if not csrf_ok():
        return csrf_failure()
    if identities.get(sso.sub) is not None:
        return _page(409, error=t("您已完成实名认证。", "Your real name is already verified."))
    if population is None:
        return _page(503)
    name = " ".join(request.form.get("name", "").split())
    typed = request.form.get("id_number", "")
    if not name or len(name) > MAX_NAME or not name.isprintable():
        return _page(400, error=t("请输入身份证上的姓名", "Enter your name as it is on your ID card"), name=name,
                     id_number=typed)
    try:
        checked = check_resident_id(typed)
    except IdentifierError as exc:
        return _page(400, error=t(exc.zh, exc.en), name=name, id_number=typed)
    limit = idp["realname_limiter"].hit(sso.sub)
    if not limit.allowed:
        audit("realname.throttled", sub=sso.sub)
        wait = limit.retry_after_seconds
        return _page(429, headers={"Retry-After": str(wait)},
                     error=t(f"尝试次数过多，请在 {wait} 秒后重试。", f"Too many attempts; try again in {wait} s."),
                     name=name)
    verdict = population.verify(name, checked.number)
    if verdict.result is Result.UNAVAILABLE:
        audit("realname.unavailable", sub=sso.sub, source=verdict.source, reason=verdict.reason)
        return _page(503, error=t("人口库暂时无法核验，请稍后再试。您的认证等级没有改变。",
                                  "The population library cannot answer right now; please try again later. "
                                  "Your level has not changed."), name=name, id_number=typed)
    if verdict.result is Result.NO_MATCH:
        audit("realname.no_match", sub=sso.sub, source=verdict.source,
              reference=verdict.evidence.get("reference"))
        return _page(422, error=t("姓名与身份证号码不一致，或该号码不在人口库中。请核对后重试。",
                                  "The name and ID number do not match the population library. "
                                  "Check them and try again."), name=name)
    try:
        identities.bind(sso.sub, id_type=checked.kind, name=name, id_number=checked.number,
                        trust_framework=TRUST_FRAMEWORK, evidence=evidence_from(verdict),
                        verified_at=verdict.checked_at)
    except IdentityTaken:
        if identities.get(sso.sub) is not None:  # a concurrent submission of this account won
            return _page(409, error=t("您已完成实名认证。", "Your real name is already verified."))
        audit("realname.refused", sub=sso.sub, reason="id_number_bound_to_another_account")
        return _page(409, error=t("该身份证号码已绑定其他账号。如有疑问请联系客服。",
                                  "This ID number already belongs to another account. "
                                  "Contact the help desk if this is wrong."))
    accounts = idp["accounts"]
    before = accounts.get(sso.sub).acr
    accounts.raise_level(sso.sub, LOA_2)  # never lowers a higher level, even one set concurrently
    after = accounts.get(sso.sub).acr
    audit("realname.verified", sub=sso.sub, source=verdict.source, reference=verdict.evidence.get("reference"),
          acr_before=before, acr=after, id_type=checked.kind)
    return _page(200, verified_now=True)
