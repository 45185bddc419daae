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

from idp.connectors import Verdict
from idp.realname.evidence import electronic_record

TRUST_FRAMEWORK = "cn_legal_person_library"
MAX_NAME = 200


def evidence_from(verdict: Verdict) -> dict:
    """A check of the legal-person register, with the library's per-field results."""
    return electronic_record(verdict, "legal_person_register", checks=verdict.evidence.get("checks"))


