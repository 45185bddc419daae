"""The one RFC 3161 time-stamp check: for PDF signature time-stamps, document time-stamps and SES signatures.

A token proves a time when three things hold: its imprint is over the stamped bytes, the TSA's
signature verifies, and the TSA chains to a trust anchor. A PDF document time-stamp reports the
three as its own steps (:func:`aspects`); a signature time-stamp reports them as one ``timestamp``
step, the first that fails (:func:`timestamp_step`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from asn1crypto import cms
from pyhanko.sign.validation import generic_cms
from pyhanko.sign.validation.status import TimestampSignatureStatus

from keys.verdict import CheckName as N
from keys.verdict import Step, failed, passed
from keys.verdict import SubIndication as Sub
from verify import report as r


async def validate_token(signed_data: cms.SignedData, context, imprint: Callable[[str], bytes]) \
        -> TimestampSignatureStatus:
    """pyhanko's validation of a token's SignedData against ``imprint(algorithm)``; raises if unreadable."""
    return TimestampSignatureStatus(**await generic_cms.validate_tst_signed_data(signed_data, context, imprint))


def tsa_name(status: TimestampSignatureStatus) -> str:
    return status.signing_cert.subject.human_friendly if status.signing_cert is not None else "unknown TSA"


def aspects(status: TimestampSignatureStatus, over: str) -> tuple[Step, Step, Step]:
    """Imprint, TSA signature and TSA chain, named as the steps of a document time-stamp."""
    tsa, when = tsa_name(status), r.iso(status.timestamp)
    return (
        passed(N.MESSAGE_DIGEST, f"the time-stamp imprint matches {over}") if status.intact
        else failed(N.MESSAGE_DIGEST, Sub.HASH_FAILURE, f"the time-stamp by \"{tsa}\" is not over {over}"),
        passed(N.SIGNATURE_VALUE, "the TSA signature verifies") if status.valid
        else failed(N.SIGNATURE_VALUE, Sub.SIG_CRYPTO_FAILURE, f"the time-stamp signature of \"{tsa}\" does not "
                                                               f"verify"),
        passed(N.CERTIFICATE_CHAIN, "the TSA chains to a trust anchor")
        if status.trust_problem_indic is None and status.validation_path is not None
        else failed(N.CERTIFICATE_CHAIN, Sub.NO_CERTIFICATE_CHAIN_FOUND,
                    f"the time-stamp by \"{tsa}\" at {when} verifies but its TSA does not chain to a trust anchor"),
    )


def timestamp_step(status: TimestampSignatureStatus, over: str) -> tuple[Step, datetime | None]:
    """The ``timestamp`` step and the time it proves (None unless every aspect holds)."""
    for step in aspects(status, over):
        if not step.passed:
            return step.renamed(N.TIMESTAMP), None
    return passed(N.TIMESTAMP, f"time-stamp by \"{tsa_name(status)}\" at {r.iso(status.timestamp)} verifies and "
                               f"is trusted"), status.timestamp


def unreadable(exc: BaseException, name: N = N.TIMESTAMP, what: str = "time-stamp token") -> Step:
    return failed(name, Sub.FORMAT_FAILURE, f"unreadable {what}: {r.describe(exc)}")


__all__ = ["aspects", "timestamp_step", "tsa_name", "unreadable", "validate_token"]
