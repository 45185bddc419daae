"""One PDF signature or document time-stamp: its CMS, byte range, coverage, integrity, time-stamp,
certificate (chain, validity, revocation, key usage) and GB/T 38540 seal, as named checks.

Each check reads a :class:`SignatureContext`, which works out what several checks share (the
digest verdicts, the signing time, the chain outcome) once, when the first check asks for it.
"""

from __future__ import annotations

import binascii
import re
from datetime import UTC, datetime

from asn1crypto import x509
from pyhanko.pdf_utils import generic
from pyhanko.sign.general import SignedDataCerts
from pyhanko.sign.validation import generic_cms
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel, TimestampSignatureStatus

from keys import oids
from keys import ses as keys_ses
from keys.cms import seseal_from_signer_info
from keys.der import signed_bytes
from keys.verdict import CheckName as N
from keys.verdict import SubIndication as Sub
from verify import certs as c
from verify import report as r
from verify import timestamp as ts
from verify.checks import Check
from verify.pdf.dss import cms_revinfo
from verify.pdf.modifications import modifications_step
from verify.ses import describe_seal, maker_chain_step

_SUBFILTERS = {"/adbe.pkcs7.detached", "/ETSI.CAdES.detached"}
_TS_SUBFILTERS = {"/ETSI.RFC3161"}
_UNSET = object()


class SignatureContext:
    """One signature of a :class:`verify.pdf.PdfJob` and what its checks have found so far."""

    def __init__(self, job, sig: EmbeddedPdfSignature, report: r.SignatureReport) -> None:
        self.job = job
        self.sig = sig
        self.report = report
        self.certs_info: SignedDataCerts | None = None
        self._coverage = _UNSET
        self.coverage_error: Exception | None = None
        self._revinfo: c.Revinfo | None = None
        self._integrity: tuple[r.Step, r.Step] | None = None
        self._timestamp: tuple[r.Step, datetime | None] | None = None
        self._signing: tuple[datetime, bool] | None = None
        self._chain: c.ChainOutcome | None = None
        self._token: TimestampSignatureStatus | Exception | None = None

    @property
    def signer_cert(self) -> x509.Certificate:
        return self.certs_info.signer_cert

    def coverage(self) -> SignatureCoverageLevel | None:
        if self._coverage is _UNSET:
            try:
                self._coverage = self.sig.evaluate_signature_coverage()
            except Exception as exc:
                self._coverage, self.coverage_error = None, exc
        return self._coverage

    def integrity(self) -> tuple[r.Step, r.Step]:
        """(message_digest, signature_value) of a PDF signature, worked out together."""
        if self._integrity is None:
            self._integrity = _integrity_steps(self.sig, self.signer_cert)
        return self._integrity

    async def timestamp(self) -> tuple[r.Step, datetime | None]:
        """The signature time-stamp step and the time it proves (None: unproven or absent)."""
        if self._timestamp is None:
            self._timestamp = await self._judge_timestamp()
        return self._timestamp

    async def _judge_timestamp(self) -> tuple[r.Step, datetime | None]:
        sig = self.sig
        unsigned = sig.signer_info["unsigned_attrs"]
        tokens = [] if not unsigned else [a for a in unsigned if a["type"].native == "signature_time_stamp_token"]
        if not tokens:
            return r.passed(N.TIMESTAMP, "no signature time-stamp: the signing time is the signer's claim"), None
        try:
            async with c.validation_session(self.job.trust, online=self.job.online,
                                            moment=self.job.validation_time) as context:
                timing = await generic_cms.collect_timing_info(sig.signer_info, context,
                                                               raw_digest=sig.compute_digest)
        except Exception as exc:
            return ts.unreadable(exc), None
        status = timing.get("timestamp_validity")
        if status is None:
            return r.failed(N.TIMESTAMP, Sub.FORMAT_FAILURE, "the time-stamp token cannot be read"), None
        step, stamped = ts.timestamp_step(status, "this signature value")
        if stamped is not None:
            self.report.evidence.append({"type": "timestamp", "source": "signature-time-stamp-token",
                                         "tsa": ts.tsa_name(status), "time": r.iso(status.timestamp),
                                         "trusted": status.trusted})
        return step, stamped

    async def signing(self) -> tuple[datetime, bool]:
        """(signing time, proven): the trusted time-stamp's, else the claim, else the validation time."""
        if self._signing is None:
            claimed = _claimed_time(self.sig)
            signing_time, proven, source = claimed, False, "claimed (signingTime / /M, unproven)"
            _step, stamped = await self.timestamp()
            if stamped is not None:
                signing_time, proven, source = stamped, True, "timestamp"
            if signing_time is None:
                signing_time, source = self.job.validation_time, "none claimed: the validation time is used"
            self.report.signing_time = {"time": r.iso(signing_time), "source": source, "proven": proven,
                                        "claimed": r.iso(claimed)}
            self._signing = signing_time, proven
        return self._signing

    def revinfo(self) -> c.Revinfo:
        """Revocation evidence: the CMS's (adbe-revinfo, SignedData crls), the /DSS and the caller's."""
        if self._revinfo is None:
            self._revinfo = cms_revinfo(self.sig)
            self._revinfo.extend(self.job.dss())
            self._revinfo.extend(self.job.supplied)
        return self._revinfo

    async def chain(self) -> c.ChainOutcome:
        """The signer's path to a trust anchor at the signing time, with revocation."""
        if self._chain is None:
            signing_time, proven = await self.signing()
            revinfo = self.revinfo()
            outcome = await c.validate_chain(self.signer_cert, self.job.trust,
                                             other_certs=list(self.certs_info.other_certs), revinfo=revinfo,
                                             moment=signing_time, proven=proven, online=self.job.online)
            self.report.warnings.extend(outcome.ignored)
            if not proven:
                self.job.pending.append((self.sig.signed_revision, self.report, self.signer_cert, outcome.path,
                                         revinfo))
            self.report.evidence.extend(revinfo.evidence())
            self._chain = outcome
        return self._chain

    @property
    def token_unreadable(self) -> bool:
        return isinstance(self._token, Exception)

    async def token(self) -> TimestampSignatureStatus | Exception:
        """A document time-stamp's token, validated over the signed bytes (an exception: unreadable)."""
        if self._token is None:
            job = self.job
            try:
                async with c.validation_session(job.trust, online=job.online,
                                                moment=job.validation_time) as context:
                    status = await ts.validate_token(self.sig.signed_data, context, self.sig.compute_digest)
            except Exception as exc:
                self._token = exc
                return exc
            self._token = status
            self.report.signing_time = {"time": r.iso(status.timestamp), "source": "timestamp", "proven": True,
                                        "claimed": None}
            if status.signing_cert is not None:
                self.report.signer = c.describe_signer(status.signing_cert)
        return self._token


# -- preconditions ------------------------------------------------------------------------------------
def cms_structure(context: SignatureContext) -> r.Step:
    """/Type, /SubFilter, one SignerInfo, detached content; a PDF signature's certificate is in the CMS."""
    step = _structure_step(context.sig, context.report.kind)
    if step.passed and context.report.kind == "pdf-signature":
        try:
            context.certs_info = generic_cms.extract_certs_for_validation(context.sig.signed_data)
        except Exception as exc:
            return r.failed(N.CMS_STRUCTURE, Sub.NO_SIGNING_CERTIFICATE_FOUND,
                            f"the signer certificate is not in the signature: {r.describe(exc)}")
        context.report.signer = c.describe_signer(context.certs_info.signer_cert)
    return step


def _structure_step(sig: EmbeddedPdfSignature, kind: str) -> r.Step:
    name = N.CMS_STRUCTURE
    obj = sig.sig_object
    subfilter = obj.get("/SubFilter")
    allowed = _TS_SUBFILTERS if kind == "document-timestamp" else _SUBFILTERS
    if sig.sig_object_type not in ("/Sig", "/DocTimeStamp"):
        return r.failed(name, Sub.FORMAT_FAILURE, f"signature dictionary /Type {sig.sig_object_type}")
    if subfilter not in allowed:
        return r.failed(name, Sub.FORMAT_FAILURE, f"/SubFilter {subfilter} is not one of {', '.join(sorted(allowed))}")
    signed_data = sig.signed_data
    if len(signed_data["signer_infos"]) != 1:
        return r.failed(name, Sub.FORMAT_FAILURE, f"{len(signed_data['signer_infos'])} SignerInfos (exactly one "
                                                  f"expected)")
    content_type = signed_data["encap_content_info"]["content_type"].native
    expected = "tst_info" if kind == "document-timestamp" else "data"
    if content_type != expected:
        return r.failed(name, Sub.FORMAT_FAILURE, f"encapsulated content type {content_type}, expected {expected}")
    if kind == "pdf-signature" and signed_data["encap_content_info"]["content"].native is not None:
        return r.failed(name, Sub.FORMAT_FAILURE, "the signature is not detached (it encapsulates content)")
    return r.passed(name, f"{subfilter[1:]} SignedData with one SignerInfo "
                          f"({sig.signer_info['digest_algorithm']['algorithm'].native}, "
                          f"{sig.signer_info['signature_algorithm']['algorithm'].native})")


# -- checks -------------------------------------------------------------------------------------------
def byte_range(context: SignatureContext) -> r.Step:
    name = N.BYTE_RANGE
    sig, data = context.sig, context.job.data
    raw = sig.byte_range
    values = list(raw) if isinstance(raw, generic.ArrayObject | list) else None
    if values is None or len(values) != 4 or not all(isinstance(v, int) and not isinstance(v, bool)
                                                      for v in values):
        return r.failed(name, Sub.FORMAT_FAILURE, f"/ByteRange must be four integers, not {raw!r}"[:300])
    start, a, b, length = (int(v) for v in values)
    size = len(data)
    if start != 0:
        return r.failed(name, Sub.FORMAT_FAILURE, f"/ByteRange must start at 0, not {start}")
    if a <= 0 or length < 0 or b <= a + 1:
        return r.failed(name, Sub.FORMAT_FAILURE, f"/ByteRange [0 {a} {b} {length}] is not a valid shape")
    if b + length > size:
        return r.failed(name, Sub.FORMAT_FAILURE, f"/ByteRange [0 {a} {b} {length}] reaches past the end of the "
                                                  f"file ({size} bytes)")
    gap = data[a:b]
    if gap[:1] != b"<" or gap[-1:] != b">":
        return r.failed(name, Sub.FORMAT_FAILURE, "the gap of /ByteRange is not a hex string <...>")
    body = gap[1:-1]
    if re.search(rb"[^0-9A-Fa-f]", body):
        return r.failed(name, Sub.FORMAT_FAILURE, "the gap of /ByteRange holds other than hexadecimal digits")
    try:
        decoded = binascii.unhexlify(body if len(body) % 2 == 0 else body + b"0")
    except binascii.Error:
        return r.failed(name, Sub.FORMAT_FAILURE, "the gap of /ByteRange is not valid hex")
    contents = sig.pkcs7_content
    if decoded.rstrip(b"\x00") != contents.rstrip(b"\x00") or len(decoded) < len(contents):
        return r.failed(name, Sub.FORMAT_FAILURE, "the gap of /ByteRange is not this signature's /Contents")
    return r.passed(name, f"[0 {a} {b} {length}]: everything but this signature's /Contents, inside the file")


def coverage(context: SignatureContext) -> r.Step:
    name = N.COVERAGE
    level = context.coverage()
    if level is None:
        return r.failed(name, Sub.FORMAT_FAILURE, f"coverage cannot be evaluated: "
                                                  f"{r.describe(context.coverage_error)}")
    if level == SignatureCoverageLevel.ENTIRE_FILE:
        return r.passed(name, "the signature covers the whole file")
    if level == SignatureCoverageLevel.ENTIRE_REVISION:
        return r.passed(name, f"the signature covers revision {context.sig.signed_revision + 1} entirely (later "
                              f"revisions are judged under modifications)")
    return r.failed(name, Sub.FORMAT_FAILURE, f"coverage {level.name}: the signed bytes do not include the signed "
                                              f"revision's cross-reference section, trailer and %%EOF")


def _integrity_steps(sig: EmbeddedPdfSignature, signer_cert: x509.Certificate) -> tuple[r.Step, r.Step]:
    try:
        digest = sig.compute_digest()
    except Exception as exc:
        return (r.failed(N.MESSAGE_DIGEST, Sub.FORMAT_FAILURE, f"the signed bytes cannot be digested: "
                                                               f"{r.describe(exc)}"),
                r.failed(N.SIGNATURE_VALUE, Sub.FORMAT_FAILURE, "not checked"))
    try:
        intact, valid = generic_cms.validate_sig_integrity(sig.signer_info, signer_cert, "data", digest,
                                                           sig_validator=c.VALIDATOR)
    except Exception as exc:
        return (r.failed(N.MESSAGE_DIGEST, Sub.FORMAT_FAILURE, f"the signed attributes are malformed: "
                                                               f"{r.describe(exc)}"),
                r.failed(N.SIGNATURE_VALUE, Sub.FORMAT_FAILURE, "not checked"))
    algorithm = sig.md_algorithm
    digest_step = (r.passed(N.MESSAGE_DIGEST, f"messageDigest equals the {algorithm} of the signed byte ranges")
                   if intact else r.failed(N.MESSAGE_DIGEST, Sub.HASH_FAILURE,
                                           f"messageDigest differs from the {algorithm} of the signed byte ranges: "
                                           f"the signed bytes were changed"))
    mechanism = sig.signer_info["signature_algorithm"]["algorithm"]
    label = "SM2-with-SM3" if mechanism.dotted in (oids.SM2_WITH_SM3, oids.SM2_SIGN) else mechanism.native
    value_step = (r.passed(N.SIGNATURE_VALUE, f"{label} signature over the signed attributes verifies")
                  if valid else r.failed(N.SIGNATURE_VALUE, Sub.SIG_CRYPTO_FAILURE,
                                         f"the {label} signature does not verify with the signer certificate's key"))
    return digest_step, value_step


def _claimed_time(sig: EmbeddedPdfSignature) -> datetime | None:
    try:
        moment = sig.self_reported_timestamp
    except Exception:
        return None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


async def timestamp(context: SignatureContext) -> r.Step:
    return (await context.timestamp())[0]


async def certificate_chain(context: SignatureContext) -> r.Step:
    return (await context.chain()).chain


async def validity_at_signing_time(context: SignatureContext) -> r.Step:
    signing_time, proven = await context.signing()
    return c.validity_step(context.signer_cert, signing_time, proven, context.job.validation_time)


async def revocation(context: SignatureContext) -> r.Step:
    return (await context.chain()).revocation


async def seal(context: SignatureContext) -> r.Step:
    """The GB/T 38540 SESeal in the CMS: maker signature, certList, validity and maker chain (keys.ses rules)."""
    name = N.SEAL
    job, report = context.job, context.report
    try:
        der = seseal_from_signer_info(context.sig.signer_info)
    except ValueError as exc:
        return r.failed(name, Sub.FORMAT_FAILURE, str(exc))
    if der is None:
        if job.policy.require_seal:
            return r.failed(name, Sub.SIG_CONSTRAINTS_FAILURE, "the signature carries no GB/T 38540 seal")
        return r.passed(name, "no GB/T 38540 seal attribute: an ordinary PDF signature")
    try:
        found = keys_ses.parse_seal(der)
    except keys_ses.SesError as exc:
        return r.failed(name, Sub.FORMAT_FAILURE, f"the SESeal attribute is malformed: {exc}")
    report.seal = describe_seal(found)
    when, proven = await context.signing()
    for rule in (keys_ses.maker_signature(found),
                 keys_ses.signer_in_cert_list(found, signed_bytes(context.signer_cert)),
                 keys_ses.seal_valid_at(found, when, proven=proven)):
        if not rule.passed:
            return rule.renamed(name, f"seal {found.es_id}: {rule.reason}")
    other_certs = [*context.certs_info.other_certs, *context.revinfo().certs]
    for step in await maker_chain_step(found, job.trust, when, job.online, other_certs):
        if not step.passed:
            return step.renamed(name, f"seal {found.es_id} maker: {step.reason}")
    return r.passed(name, f"seal {found.es_id} \"{found.name}\": maker signature valid, maker certificate "
                          f"trusted, signer certificate in its certList, valid at the signing time")


def modifications(context: SignatureContext) -> r.Step | None:
    if context.token_unreadable:
        return None  # an unreadable token already failed; nothing to judge changes against
    return modifications_step(context.job.reader, context.sig, context.coverage(), context.job.policy)


# -- a document time-stamp's own checks (its token's imprint, TSA signature and TSA chain) ------------
async def _token_aspect(context: SignatureContext, index: int) -> r.Step | None:
    status = await context.token()
    if isinstance(status, Exception):
        return ts.unreadable(status, N.MESSAGE_DIGEST, "document time-stamp") if index == 0 else None
    return ts.aspects(status, "the signed bytes")[index]


async def token_imprint(context: SignatureContext) -> r.Step | None:
    return await _token_aspect(context, 0)


async def token_signature(context: SignatureContext) -> r.Step | None:
    return await _token_aspect(context, 1)


async def token_chain(context: SignatureContext) -> r.Step | None:
    return await _token_aspect(context, 2)


PDF_SIGNATURE = (
    Check(N.BYTE_RANGE, byte_range),
    Check(N.COVERAGE, coverage),
    Check(N.MESSAGE_DIGEST, lambda context: context.integrity()[0]),
    Check(N.SIGNATURE_VALUE, lambda context: context.integrity()[1]),
    Check(N.TIMESTAMP, timestamp),
    Check(N.CERTIFICATE_CHAIN, certificate_chain),
    Check(N.VALIDITY_AT_SIGNING_TIME, validity_at_signing_time),
    Check(N.REVOCATION, revocation),
    Check(N.KEY_USAGE, lambda context: c.key_usage_step(context.signer_cert)),
    Check(N.SEAL, seal),
    Check(N.MODIFICATIONS, modifications),
)

DOCUMENT_TIMESTAMP = (
    Check(N.BYTE_RANGE, byte_range),
    Check(N.COVERAGE, coverage),
    Check(N.MESSAGE_DIGEST, token_imprint),
    Check(N.SIGNATURE_VALUE, token_signature),
    Check(N.CERTIFICATE_CHAIN, token_chain),
    Check(N.MODIFICATIONS, modifications),
)
