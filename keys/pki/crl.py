"""Full CRLs (RFC 5280 §5): building, and reading one back for checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from asn1crypto import crl as asn1_crl
from asn1crypto import x509

from keys.pki.certificates import Issuer
from keys.pki.signing import signature_algorithm

# RFC 5280 §5.3.1 reason codes, in the spelling the CLI accepts -> asn1crypto's names.
REASONS = {
    "unspecified": "unspecified",
    "keyCompromise": "key_compromise",
    "cACompromise": "ca_compromise",
    "affiliationChanged": "affiliation_changed",
    "superseded": "superseded",
    "cessationOfOperation": "cessation_of_operation",
    "certificateHold": "certificate_hold",
    "privilegeWithdrawn": "privilege_withdrawn",
    "aACompromise": "aa_compromise",
}
REMOVE_FROM_CRL = "removeFromCRL"  # lifts a certificateHold (§5.3.1); never stored as a reason


@dataclass(frozen=True)
class RevokedEntry:
    serial: int
    revoked_at: datetime
    reason: str  # asn1crypto name, e.g. key_compromise


def _time(moment: datetime) -> x509.Time:
    return x509.Time({"utc_time": moment} if moment.year < 2050 else {"general_time": moment})


def build_crl(
    issuer: Issuer, *, number: int, this_update: datetime, next_update: datetime, revoked: list[RevokedEntry]
) -> bytes:
    """A v2 CRL signed by ``issuer`` with CRL number, AKI and a reason code on every entry."""
    algorithm = signature_algorithm(issuer.key.algorithm)
    entries = [
        {
            "user_certificate": entry.serial,
            "revocation_date": _time(entry.revoked_at),
            "crl_entry_extensions": [{"extn_id": "crl_reason", "critical": False, "extn_value": entry.reason}],
        }
        for entry in sorted(revoked, key=lambda e: e.serial)
    ]
    tbs = asn1_crl.TbsCertList({
        "version": "v2",
        "signature": algorithm,
        "issuer": issuer.name,
        "this_update": _time(this_update),
        "next_update": _time(next_update),
        "revoked_certificates": entries or None,
        "crl_extensions": [
            {"extn_id": "crl_number", "critical": False, "extn_value": number},
            {"extn_id": "authority_key_identifier", "critical": False,
             "extn_value": {"key_identifier": issuer.key_identifier}},
        ],
    })
    return asn1_crl.CertificateList({
        "tbs_cert_list": tbs,
        "signature_algorithm": algorithm,
        "signature": issuer.key.sign(tbs.dump()),
    }).dump()
