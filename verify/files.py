"""One entry point for a file of unknown kind: a PDF, an OFD, a GB/T 38540 SES_Signature or an SESeal."""

from __future__ import annotations

from datetime import datetime

from verify import report as r
from verify.licence import StatusLookup, attach, fetch_status
from verify.ofd import is_other_zip, looks_like_ofd, verify_ofd
from verify.pdf import verify_pdf
from verify.policy import DEFAULT, Policy
from verify.ses import looks_like_ses, verify_seal, verify_ses_signature


def verify_bytes(data: bytes, trust, *, name: str, policy: Policy = DEFAULT, at: datetime | None = None,
                 online: bool = False, crls=(), ocsps=(), certs=(), licence_status: StatusLookup | None = None
                 ) -> r.Report:
    """PDFs go to :func:`verify_pdf`, OFDs (zip packages) to :func:`verify_ofd`; DER seals and seal signatures
    to the GB/T 38540 checks. The format is decided by the content, never by the name.

    A PDF or OFD carrying an electronic licence gets its ``licence`` block (verify/licence.py); its current
    status comes from ``licence_status`` when given (the server: its own library, in-process), else, when
    ``online``, from the issuer's status service named in the file."""
    report = _verify(data, trust, name=name, policy=policy, at=at, online=online, crls=crls, ocsps=ocsps,
                     certs=certs)
    if licence_status is None and online:
        licence_status = fetch_status
    attach(report, data, licence_status)
    return report


def _verify(data: bytes, trust, *, name: str, policy: Policy, at: datetime | None, online: bool, crls, ocsps,
            certs) -> r.Report:
    if looks_like_ofd(data):
        return verify_ofd(data, trust, policy, at, online, name=name, crls=crls, ocsps=ocsps, certs=certs)
    if b"%PDF-" not in data[:1024]:
        kind = looks_like_ses(data)
        if kind == "signature":
            return verify_ses_signature(data, trust, at=at, online=online, name=name, policy=policy)
        if kind == "seal":
            return verify_seal(data, trust, at=at, online=online, name=name, policy=policy)
    return verify_pdf(data, trust, policy, at, online, name=name, crls=crls, ocsps=ocsps)


def document_kind(data: bytes) -> str | None:
    """"pdf", "ofd", "ses-signature", "ses-seal" from the content, or None: nothing this verifier reads."""
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if looks_like_ofd(data):
        return None if is_other_zip(data) else "ofd"
    kind = looks_like_ses(data)
    return f"ses-{kind}" if kind else None
