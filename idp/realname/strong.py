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

from idp.acr import LOA_2, LOA_3
from idp.connectors import Result, Verdict
from idp.realname.evidence import electronic_record
from idp.services import services
from idp.web import audit

ATTEMPTS = 5  # bank or carrier checks per account ...
WINDOW = 3600  # ... per hour
METHODS = ("bank", "carrier")
CARD_NUMBER = re.compile(r"^\d{12,19}$")
PATH = "/account/realname/strong"


def evidence_from(verdict: Verdict, method: str, card_last4: str | None = None) -> dict:
    """A check of a bank account or a mobile subscription. Only the card's last four digits are kept."""
    return electronic_record(verdict, "bank_account" if method == "bank" else "mobile_subscription",
                             record={"personal_number": f"****{card_last4}"} if card_last4 else None)


def recheck_after_phone_change(sub: str, new_phone: str) -> str | None:
    """A person's loa:3 that rests only on a carrier check of their old number is re-checked with
    the new one (issue 5: "mobile-number change ... with real-name re-check where the level depends
    on it"). Match: new evidence, level kept. No match or no answer: the level drops to loa:2 — the
    old proof no longer holds — and the person may prove again (bank card or the new number).

    Returns None when nothing depended on the number, else "kept" or "lowered".
    """
    idp = services()
    user, identity = idp.accounts.get(sub), idp.identities.get(sub)
    if user is None or identity is None or user.acr != LOA_3:
        return None
    steps = identity.evidence if isinstance(identity.evidence, list) else [identity.evidence]
    kinds = {(step or {}).get("record", {}).get("type") for step in steps}
    if "mobile_subscription" not in kinds or "bank_account" in kinds:
        return None  # loa:3 rests on a bank check (or was set otherwise): the number does not matter
    connector = idp.connectors.carrier_3_factor
    verdict = None
    if connector is not None:
        verdict = connector.verify(identity.name, idp.identities.id_number(sub), new_phone)
    if verdict is not None and verdict.result is Result.MATCH:
        idp.identities.add_evidence(sub, evidence_from(verdict, "carrier"))
        audit("strong_realname.verified", sub=sub, method="carrier", source=verdict.source,
              reference=verdict.evidence.get("reference"), acr_before=LOA_3, acr=LOA_3, reason="phone changed")
        return "kept"
    idp.accounts.set_level(sub, LOA_2)
    audit("strong_realname.lowered", sub=sub, method="carrier", acr_before=LOA_3, acr=LOA_2,
          reason="phone changed; " + ("no carrier connector" if verdict is None else verdict.result.value))
    return "lowered"
