"""Strong real name (强实名): a real-name person (loa:2) proves a bank-card 4-factor or a carrier
3-factor match → ``urn:yitong:loa:3`` (DESIGN.md: "bank 4-factor or carrier 3-factor + a second factor
at login").

The page at ``/account/realname/strong`` (signed-in people; zh-CN/en; CSRF; works on a phone) follows
/account/realname (persons.py):

1. it needs the person's verified identity (loa:2): the name and ID number sent to the bank or the
   carrier are the verified ones, never typed again;
2. it needs TOTP enrolled (/account/mfa) first, because loa:3 is only reached by a sign-in with a
   second factor (idp/acr.py ``sign_in_level``): an account raised without one could never use it;
3. bank: the card number and the phone number reserved with the bank are typed (format checked
   locally: a typo costs no attempt); carrier: the account's own (SMS-verified) mobile number is used —
   another number cannot be typed;
4. checks that reach a connector are limited per account (``ATTEMPTS`` per ``WINDOW``);
5. ``match`` adds OIDC4IA evidence to the verified identity (type, time, the source's reference and —
   for a card — only its last four digits) and raises the account to loa:3 (``Accounts.raise_level``,
   never lowering a higher level); ``no_match`` says so; ``unavailable`` says "try later"; neither
   changes anything.

The card number is never stored, logged or put in an audit event; nor are the ID number or the name.
Audit events: ``strong_realname.verified``, ``.no_match``, ``.unavailable``, ``.throttled``, ``.refused``.
"""

from __future__ import annotations

import re

from flask import render_template, request, session

from idp.acr import LOA_2, LOA_3, rank
from idp.connectors import Result, Verdict
from idp.i18n import t
from idp.identity import IdentifierError, Identities, check_mobile, mask_phone
from idp.realname.evidence import electronic_record
from idp.web import audit, bp, csrf_failure, csrf_ok, csrf_token, current_session, services, to_sign_in

ATTEMPTS = 5  # bank or carrier checks per account ...
WINDOW = 3600  # ... per hour
METHODS = ("bank", "carrier")
_CARD = re.compile(r"^\d{12,19}$")
PATH = "/account/realname/strong"


def evidence_from(verdict: Verdict, method: str, card_last4: str | None = None) -> dict:
    """A check of a bank account or a mobile subscription. Only the card's last four digits are kept."""
    return electronic_record(verdict, "bank_account" if method == "bank" else "mobile_subscription",
                             record={"personal_number": f"****{card_last4}"} if card_last4 else None)


def _state(user, identity) -> str:
    if rank(user.acr) >= rank(LOA_3):
        return "done"
    if identity is None or rank(user.acr) < 2:
        return "needs_realname"
    if not user.has_totp:
        return "needs_mfa"
    return "ready"


def _page(user, status: int = 200, headers: dict | None = None, **context):
    """The page, never cached: it shows a person's own identity data."""
    idp = services()
    identity = idp["identities"].get(user.sub)
    connectors = idp["connectors"]
    return render_template("idp/realname_strong.html", csrf=session["csrf"], user=user, identity=identity,
                           state=_state(user, identity), phone_masked=mask_phone(user.phone),
                           bank=connectors.bank_4_factor is not None,
                           carrier=connectors.carrier_3_factor is not None and bool(user.phone),
                           **context), status, {"Cache-Control": "no-store", **(headers or {})}


@bp.route(PATH, methods=["GET", "POST"])
def strong_realname():
    sso = current_session()
    if sso is None:
        return to_sign_in(PATH)
    csrf_token()
    idp = services()
    user = idp["accounts"].get(sso.sub)
    connectors = idp["connectors"]
    configured = connectors.bank_4_factor is not None or connectors.carrier_3_factor is not None
    if request.method != "POST":  # GET, or HEAD (Flask answers it as GET without a body)
        return _page(user, 200 if configured else 503)
    if not csrf_ok():
        return csrf_failure()
    identities: Identities = idp["identities"]
    identity = identities.get(user.sub)
    state = _state(user, identity)
    if state != "ready":
        audit("strong_realname.refused", sub=user.sub, reason=state)
        return _page(user, 409)
    method = request.form.get("method", "")
    if method not in METHODS:
        return _page(user, 400, error=t("请选择核验方式", "Choose how to verify"))
    connector = connectors.bank_4_factor if method == "bank" else connectors.carrier_3_factor
    if connector is None:
        return _page(user, 503)
    card = phone = None
    if method == "bank":
        card = re.sub(r"[\s-]", "", request.form.get("card_number", ""))
        if not _CARD.match(card):
            return _page(user, 400, method=method,
                         error=t("请输入12至19位银行卡号", "Enter the 12-19 digit card number"))
        try:
            phone = check_mobile(request.form.get("phone", ""))
        except IdentifierError as exc:
            return _page(user, 400, method=method, error=t(exc.zh, exc.en))
    else:
        phone = user.phone
        if not phone:
            return _page(user, 400, method=method,
                         error=t("您的账号没有绑定手机号码，请使用银行卡核验。",
                                 "Your account has no mobile number; verify with a bank card instead."))
    limit = idp["strong_realname_limiter"].hit(user.sub)
    if not limit.allowed:
        audit("strong_realname.throttled", sub=user.sub, method=method)
        wait = limit.retry_after_seconds
        return _page(user, 429, headers={"Retry-After": str(wait)}, method=method,
                     error=t(f"尝试次数过多，请在 {wait} 秒后重试。", f"Too many attempts; try again in {wait} s."))
    id_number = identities.id_number(user.sub)
    if method == "bank":
        verdict = connector.verify(identity.name, id_number, card, phone)
    else:
        verdict = connector.verify(identity.name, id_number, phone)
    if verdict.result is Result.UNAVAILABLE:
        audit("strong_realname.unavailable", sub=user.sub, method=method, source=verdict.source,
              reason=verdict.reason)
        return _page(user, 503, method=method,
                     error=t("核验服务暂时无法应答，请稍后再试。您的认证等级没有改变。",
                             "The check cannot be made right now; please try again later. "
                             "Your level has not changed."))
    if verdict.result is Result.NO_MATCH:
        audit("strong_realname.no_match", sub=user.sub, method=method, source=verdict.source,
              reference=verdict.evidence.get("reference"))
        return _page(user, 422, method=method,
                     error=t("银行卡号、预留手机号与您的实名信息不一致，请核对后重试。" if method == "bank" else
                             "该手机号码不是以您的实名登记的有效号码。",
                             "The card, the phone number reserved with the bank and your verified identity "
                             "do not match. Check them and try again." if method == "bank" else
                             "Your mobile number is not a live line registered to your verified identity."))
    identities.add_evidence(user.sub, evidence_from(verdict, method, card[-4:] if card else None))
    before = user.acr
    idp["accounts"].raise_level(user.sub, LOA_3)  # never lowers a higher level, even one set concurrently
    after = idp["accounts"].get(user.sub)
    audit("strong_realname.verified", sub=user.sub, method=method, source=verdict.source,
          reference=verdict.evidence.get("reference"), acr_before=before, acr=after.acr)
    return _page(after, 200, verified_now=True, method=method)



def recheck_after_phone_change(sub: str, new_phone: str) -> str | None:
    """A person's loa:3 that rests only on a carrier check of their old number is re-checked with
    the new one (issue 5: "mobile-number change ... with real-name re-check where the level depends
    on it"). Match: new evidence, level kept. No match or no answer: the level drops to loa:2 — the
    old proof no longer holds — and the person may prove again (bank card or the new number).

    Returns None when nothing depended on the number, else "kept" or "lowered".
    """
    idp = services()
    user, identity = idp["accounts"].get(sub), idp["identities"].get(sub)
    if user is None or identity is None or user.acr != LOA_3:
        return None
    steps = identity.evidence if isinstance(identity.evidence, list) else [identity.evidence]
    kinds = {(step or {}).get("record", {}).get("type") for step in steps}
    if "mobile_subscription" not in kinds or "bank_account" in kinds:
        return None  # loa:3 rests on a bank check (or was set otherwise): the number does not matter
    connector = idp["connectors"].carrier_3_factor
    verdict = None
    if connector is not None:
        verdict = connector.verify(identity.name, idp["identities"].id_number(sub), new_phone)
    if verdict is not None and verdict.result is Result.MATCH:
        idp["identities"].add_evidence(sub, evidence_from(verdict, "carrier"))
        audit("strong_realname.verified", sub=sub, method="carrier", source=verdict.source,
              reference=verdict.evidence.get("reference"), acr_before=LOA_3, acr=LOA_3, reason="phone changed")
        return "kept"
    idp["accounts"].set_level(sub, LOA_2)
    audit("strong_realname.lowered", sub=sub, method="carrier", acr_before=LOA_3, acr=LOA_2,
          reason="phone changed; " + ("no carrier connector" if verdict is None else verdict.result.value))
    return "lowered"
