"""OpenID Connect for Identity Assurance 1.0 shaped evidence of a base-library check.

Every real-name check (population library, legal-person library, bank card, carrier) is an
``electronic_record`` check: which source answered (its reference to quote in a dispute), when,
and what kind of record it looked at. Only what the verifier's answer holds goes in — never the
ID number, the card number or the phone number.
"""

from __future__ import annotations

from idp.connectors import Verdict


def electronic_record(verdict: Verdict, record_type: str, *, record: dict | None = None, **extra) -> dict:
    """``record`` adds fields to the record (e.g. a card's last four digits); ``extra`` to the evidence."""
    source = verdict.evidence
    return {"type": "electronic_record",
            "check_details": [{"check_method": "data", "organization": source.get("source"),
                               "txn": source.get("reference")}],
            "time": verdict.checked_at.isoformat(),
            "record": {"type": record_type, "source": {"name": source.get("library")}, **(record or {})},
            **extra,
            "stand_in": bool(source.get("stand_in"))}
