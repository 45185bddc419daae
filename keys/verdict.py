"""Verdicts of named checks: check names, ETSI EN 319 102-1 indications, and the Step a check returns.

Defined here, below verify/, because keys.ses judges what needs no trust anchor (signatures,
dataHash, certList, seal validity) and must speak the same language as verify/'s reports
without importing verify/. Every name is declared once; a Step with an undeclared name or
sub-indication is refused when it is made. The enums are ``str`` valued, so they serialise to
the same JSON strings as before (``yitong-verify-report/1``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Indication(StrEnum):
    TOTAL_PASSED = "TOTAL_PASSED"
    INDETERMINATE = "INDETERMINATE"
    TOTAL_FAILED = "TOTAL_FAILED"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Indication.TOTAL_PASSED: 0, Indication.INDETERMINATE: 1, Indication.TOTAL_FAILED: 2}


class SubIndication(StrEnum):
    """ETSI EN 319 102-1 §5.1.3 sub-indications used here; each implies its indication."""

    # TOTAL_FAILED
    FORMAT_FAILURE = "FORMAT_FAILURE"
    HASH_FAILURE = "HASH_FAILURE"
    SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    # INDETERMINATE
    SIG_CONSTRAINTS_FAILURE = "SIG_CONSTRAINTS_FAILURE"
    CHAIN_CONSTRAINTS_FAILURE = "CHAIN_CONSTRAINTS_FAILURE"
    CERTIFICATE_CHAIN_GENERAL_FAILURE = "CERTIFICATE_CHAIN_GENERAL_FAILURE"
    CRYPTO_CONSTRAINTS_FAILURE_NO_POE = "CRYPTO_CONSTRAINTS_FAILURE_NO_POE"
    NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
    NO_SIGNING_CERTIFICATE_FOUND = "NO_SIGNING_CERTIFICATE_FOUND"
    REVOKED_NO_POE = "REVOKED_NO_POE"
    OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"
    TRY_LATER = "TRY_LATER"
    POLICY_PROCESSING_ERROR = "POLICY_PROCESSING_ERROR"
    TIMESTAMP_ORDER_FAILURE = "TIMESTAMP_ORDER_FAILURE"
    GENERIC = "GENERIC"

    @property
    def indication(self) -> Indication:
        return Indication.TOTAL_FAILED if self in _FAILED else Indication.INDETERMINATE


_FAILED = frozenset({SubIndication.FORMAT_FAILURE, SubIndication.HASH_FAILURE, SubIndication.SIG_CRYPTO_FAILURE,
                     SubIndication.REVOKED, SubIndication.EXPIRED, SubIndication.NOT_YET_VALID})


class CheckName(StrEnum):
    """Every step name a report may hold, whatever the path (PDF, GB/T 38540 SES, OFD)."""

    # the verifier itself
    POLICY = "policy"                      # the policy selects nothing: POLICY_PROCESSING_ERROR
    INTERNAL = "internal"                  # verification stopped on an unexpected error
    TIME_BUDGET = "time_budget"            # the document took longer than the policy's limit
    # a PDF document (once per file)
    PARSE = "parse"                        # the PDF opens within the limits; every revision is parsed
    TRAILING_BYTES = "trailing_bytes"      # nothing after the last revision's %%EOF but whitespace
    SIGNATURES_PRESENT = "signatures_present"      # at least one signature ("no signature" fails)
    SIGNATURE_REFERENCES = "signature_references"  # no signature dictionary referenced by two fields
    BYTE_RANGES_DISJOINT = "byte_ranges_disjoint"  # no two signatures' ByteRanges overlap
    # a PDF signature or document time-stamp
    CMS_STRUCTURE = "cms_structure"        # /Type /Sig, SubFilter, SignedData with one SignerInfo and its certificate
    BYTE_RANGE = "byte_range"              # exactly [0 a b c], the gap exactly this /Contents, inside the file
    COVERAGE = "coverage"                  # the signed revision's xref, trailer and %%EOF are signed
    MESSAGE_DIGEST = "message_digest"      # messageDigest (or a time-stamp imprint) equals the signed bytes' digest
    SIGNATURE_VALUE = "signature_value"    # the CMS (or TSA) signature over the signed attributes
    TIMESTAMP = "timestamp"                # the RFC 3161 signature time-stamp token, if there is one
    CERTIFICATE_CHAIN = "certificate_chain"        # a path to one of the trust anchors
    VALIDITY_AT_SIGNING_TIME = "validity_at_signing_time"  # every certificate valid at the signing time
    REVOCATION = "revocation"              # embedded DSS / CMS revocation info (fetched only when online)
    KEY_USAGE = "key_usage"                # digitalSignature or nonRepudiation; not TSA/OCSP-only
    SEAL = "seal"                          # the GB/T 38540 SESeal carried in the signature
    MODIFICATIONS = "modifications"        # what changed after the signed revision
    # a GB/T 38540 SES_Signature / SESeal (§7.3)
    SES_STRUCTURE = "ses_structure"
    SIGNATURE = "signature"                # the SES signer's SM2 signature over TBS_Sign
    DATA_HASH = "data_hash"
    SEAL_MAKER_SIGNATURE = "seal_maker_signature"
    SIGNER_IN_CERT_LIST = "signer_in_cert_list"
    SEAL_VALID_AT_SIGNING_TIME = "seal_valid_at_signing_time"
    MAKER_CERTIFICATE_CHAIN = "maker_certificate_chain"
    MAKER_REVOCATION = "maker_revocation"
    # an OFD document (GB/T 33190) and its signatures (§18, GB/T 38540)
    OFD_PACKAGE = "ofd_package"            # the zip opens safely within the limits; OFD.xml, DocRoot and pages parse
    SIGNATURE_FILE = "signature_file"      # Signature.xml parses and names its SignedValue (and Seal) in the package
    REFERENCES = "references"              # every Reference's CheckValue equals the digest of the file it names
    UNPROTECTED_CONTENT = "unprotected_content"  # no page, template, annotation, resource or Document.xml unprotected
    LATER_SIGNATURES = "later_signatures"  # signatures listed after this one protect at least what it protects
    SEAL_FILE = "seal_file"                # Seal.esl is the seal embedded in SignedValue.dat
    STAMP_ANNOT = "stamp_annot"            # every StampAnnot stands on a page of the document, inside it

    # an electronic licence (GB/T 36903 metadata in a PDF or OFD) on top of its seal signature
    LICENCE_IDENTIFIER = "licence_identifier"  # GB/T 36904 layout and ISO 7064 MOD 37,36 check character
    LICENCE_METADATA = "licence_metadata"      # the licence metadata is the same in every PDF revision
    LICENCE_STATUS = "licence_status"          # the issuer's current status (online / our own page): valid


@dataclass(frozen=True)
class Step:
    """One named check: passed, or failed with the sub-indication (and so the indication) it implies."""

    name: CheckName
    passed: bool
    reason: str
    sub_indication: SubIndication | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", CheckName(self.name))
        if self.sub_indication is not None:
            object.__setattr__(self, "sub_indication", SubIndication(self.sub_indication))

    @property
    def indication(self) -> Indication:
        if self.passed:
            return Indication.TOTAL_PASSED
        return (self.sub_indication or SubIndication.GENERIC).indication

    def renamed(self, name: CheckName, reason: str | None = None) -> Step:
        """The same verdict under another name (a sub-check reported as part of a bigger one)."""
        return Step(name, self.passed, self.reason if reason is None else reason, self.sub_indication)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name.value, "passed": self.passed, "reason": self.reason}
        if not self.passed:
            out["indication"] = self.indication.value
            out["sub_indication"] = (self.sub_indication or SubIndication.GENERIC).value
        return out


def passed(name: CheckName, reason: str) -> Step:
    return Step(name, True, reason)


def failed(name: CheckName, sub_indication: SubIndication, reason: str) -> Step:
    return Step(name, False, reason, sub_indication)


__all__ = ["CheckName", "Indication", "Step", "SubIndication", "failed", "passed"]
