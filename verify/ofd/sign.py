"""Type="Sign" signatures of an OFD: GM/T 0010 PKCS#7 SignedData and bare SM2 values over Signature.xml.

GM/T 0010 names its SignedData 1.2.156.10197.6.1.4.2.2 (data 1.2.156.10197.6.1.4.2.1); the corpus
file's SignerInfo has no signed attributes, its eContent is SM3(Signature.xml) and the SM2 value is
over that eContent. With signed attributes the value is over their DER SET and messageDigest must be
SM3(Signature.xml) (RFC 5652 §5.4). A bare SM2 value carries no certificate: it is checked against
the certificates of the trust bundle, and without one that verifies it is INDETERMINATE.
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import cms, core, x509

from keys import ses as keys_ses
from keys.der import signed_bytes as der_as_read
from keys.ses import readings
from keys.sm3 import sm3
from keys.verdict import CheckName as N
from keys.verdict import SubIndication as Sub
from verify import certs as c
from verify import report as r
from verify.checks import precondition

GM_SIGNED_DATA = "1.2.156.10197.6.1.4.2.2"
PKCS7_SIGNED_DATA = "1.2.840.113549.1.7.2"
FORMAT_NAMES = {"ses": "SES_Signature", "pkcs7": "PKCS#7 SignedData (GM/T 0010)", "sm2": "SM2 signature value",
                None: "unreadable value"}


class _ContentInfo(core.Sequence):
    """ContentInfo whose content is SignedData whatever the OID says (GM/T 0010 uses its own)."""

    _fields = [("content_type", core.ObjectIdentifier), ("content", cms.SignedData, {"explicit": 0})]


def value_format(value: bytes) -> str | None:
    """"ses", "pkcs7", "sm2" or None, from the bytes of SignedValue.dat."""
    if len(value) == 64:
        return "sm2"
    if value[:1] != b"\x30":
        return None
    try:
        keys_ses.parse_signature(value)
        return "ses"
    except Exception:  # noqa: S110 - not an SES_Signature; try the other forms
        pass
    try:
        info = _ContentInfo.load(value)
        if info["content_type"].dotted in (GM_SIGNED_DATA, PKCS7_SIGNED_DATA):
            return "pkcs7"
    except Exception:  # noqa: S110
        pass
    try:
        readings.read_value(value)
        return "sm2"
    except Exception:
        return None


@dataclass(frozen=True)
class Pkcs7:
    signed_data: cms.SignedData
    signer_info: cms.SignerInfo
    signer_cert: bytes | None
    certificates: tuple[x509.Certificate, ...]
    content: bytes | None  # the eContent's bytes (None: detached)


def parse_pkcs7(value: bytes) -> Pkcs7 | None:
    try:
        info = _ContentInfo.load(value, strict=True)
        signed = info["content"]
        signer_infos = signed["signer_infos"]
        if len(signer_infos) != 1:
            return None
        signer_info = signer_infos[0]
        certificates = tuple(choice.chosen for choice in signed["certificates"]
                             if isinstance(choice.chosen, x509.Certificate)) if signed["certificates"] else ()
        sid = signer_info["sid"]
        cert = None
        for candidate in certificates:
            if sid.name == "issuer_and_serial_number":
                wanted = sid.chosen
                # names compared as DER: real GM certificates carry attributes asn1crypto cannot turn native
                if candidate["tbs_certificate"]["serial_number"].dump() == wanted["serial_number"].dump() and \
                        candidate["tbs_certificate"]["issuer"].dump() == wanted["issuer"].dump():
                    cert = candidate
            elif candidate.key_identifier == sid.chosen.native:  # subjectKeyIdentifier
                cert = candidate
        content = signed["encap_content_info"]["content"]
        raw = None
        if content is not None and not isinstance(content, core.Void):
            raw = content.contents if not isinstance(content, core.OctetString) else content.native
            if isinstance(content, core.Any):
                parsed = content.parsed
                raw = parsed.native if isinstance(parsed, core.OctetString) else parsed.contents
        return Pkcs7(signed, signer_info, der_as_read(cert) if cert is not None else None, certificates, raw)
    except Exception:
        return None


async def run(context) -> None:
    """The value checks of a Type="Sign" signature (context: verify.ofd.checks.SignatureContext)."""
    report, policy = context.report, context.policy
    claimed = context.signature.claimed_time
    report.signing_time = {"time": r.iso(claimed), "source": "claimed (SignatureDateTime, unproven)",
                           "proven": False}
    report.warnings.append("no time-stamp: the signing time is the SignatureDateTime written by the signer, not "
                           "proven")
    xml = context.signature.raw
    if context.value_format == "pkcs7":
        await _pkcs7(context, xml, claimed)
    else:
        await _bare(context, xml, claimed)
    del policy


async def _chain(context, cert_der: bytes, when) -> None:
    report, policy = context.report, context.policy
    moment = when or context.job.validation_time
    try:
        certificate = x509.Certificate.load(cert_der, strict=True)
        certificate.native  # noqa: B018 - every field, as the chain validator will read them
        report.signer = c.describe_signer(certificate)
        revinfo = c.Revinfo()
        if context.job.supplied is not None:
            revinfo.extend(context.job.supplied)
        outcome = await c.validate_chain(certificate, context.job.trust, revinfo=revinfo, moment=moment,
                                         proven=False, online=context.job.online)
    except Exception as exc:
        if policy.runs(N.CERTIFICATE_CHAIN):
            report.add(r.failed(N.CERTIFICATE_CHAIN, Sub.NO_SIGNING_CERTIFICATE_FOUND,
                                f"the signer certificate cannot be read for path validation: {r.describe(exc)}"))
        return
    for step in (outcome.chain, outcome.revocation,
                 c.validity_step(certificate, moment, False, context.job.validation_time)):
        if policy.runs(step.name):
            report.add(step)


async def _pkcs7(context, xml: bytes, when) -> None:
    report, policy = context.report, context.policy
    parsed = parse_pkcs7(context.value)
    if parsed is None or parsed.signer_cert is None:
        precondition(r.failed(N.CMS_STRUCTURE, Sub.FORMAT_FAILURE, "the PKCS#7 SignedData has no single SignerInfo "
                                                                   "with its certificate"), policy, report.add)
        return
    precondition(r.passed(N.CMS_STRUCTURE, f"GM/T 0010 SignedData ({parsed.signed_data['version'].native}) with "
                                           f"one SignerInfo and its certificate"), policy, report.add)
    signer_info = parsed.signer_info
    expected = sm3(xml)
    attrs = signer_info["signed_attrs"]
    if attrs is not None and not isinstance(attrs, core.Void) and len(attrs):
        digest = next((a["values"][0].native for a in attrs if a["type"].native == "message_digest"), None)
        signed_bytes = b"\x31" + der_as_read(attrs)[1:]  # the [0] IMPLICIT SET is signed as a SET (RFC 5652 §5.4)
        over = "its signed attributes"
    else:
        digest = parsed.content
        signed_bytes = parsed.content
        over = "its eContent"
    if policy.runs(N.DATA_HASH):
        report.add(r.passed(N.DATA_HASH, "the signed digest equals SM3(Signature.xml)") if digest == expected
                   else r.failed(N.DATA_HASH, Sub.HASH_FAILURE, "the PKCS#7 signature is not over this "
                                                                "Signature.xml (its digest differs)"))
    if policy.runs(N.SIGNATURE):
        if signed_bytes is None:
            report.add(r.failed(N.SIGNATURE, Sub.FORMAT_FAILURE, "detached SignedData without signed attributes"))
        else:
            step, deviation = readings.check(N.SIGNATURE, parsed.signer_cert,
                                             signer_info["signature_algorithm"]["algorithm"].dotted,
                                             signer_info["signature"].native, signed_bytes, "signer", standard=over)
            report.deviate(deviation, step)
            report.add(step)
    await _chain(context, parsed.signer_cert, when)


async def _bare(context, xml: bytes, when) -> None:
    report, policy = context.report, context.policy
    precondition(r.passed(N.CMS_STRUCTURE, "a bare SM2 signature value (no certificate in the document)"), policy,
                 report.add)
    candidates = [cert for cert in context.job.trust.certificates
                  if cert.public_key.algorithm == "ec"]
    for cert in candidates:
        step, deviation = readings.check(N.SIGNATURE, der_as_read(cert), None, context.value, xml, "signer",
                                         standard="Signature.xml")
        if step.passed:
            if policy.runs(N.SIGNATURE):
                report.add(r.passed(N.SIGNATURE, f"the SM2 value over Signature.xml verifies with the key of the "
                                                 f"supplied certificate \"{cert.subject.human_friendly}\""))
                report.deviate(deviation, step)
            await _chain(context, der_as_read(cert), when)
            return
    if policy.runs(N.SIGNATURE):
        report.add(r.failed(N.SIGNATURE, Sub.NO_SIGNING_CERTIFICATE_FOUND,
                            "a bare SM2 value names no signer: none of the trust bundle's certificates verifies it "
                            "(give the signer's certificate with --trust to check it)"))


__all__ = ["FORMAT_NAMES", "GM_SIGNED_DATA", "Pkcs7", "parse_pkcs7", "run", "value_format"]
