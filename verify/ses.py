"""GB/T 38540 seals and seal signatures: the §7.3 checklist (DESIGN.md) with the trust anchors.

keys.ses parses (V4 and V1) and holds the rules that need no trust anchor (signatures, dataHash,
certList, seal validity), each returning the Step reported here; this module adds both certificate
chains and the RFC 3161 time-stamp (verify/timestamp.py) and turns everything into a report with ETSI indications.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from asn1crypto import cms, x509

from keys import ses as keys_ses
from keys.sm3 import sm3
from keys.verdict import CheckName as N
from keys.verdict import SubIndication as Sub
from verify import certs as c
from verify import report as r
from verify import timestamp as ts
from verify.policy import DEFAULT, Policy
from verify.trust import as_trust

SEAL_TYPES = {1: "法定名称章", 2: "财务专用章", 3: "发票专用章", 4: "合同专用章", 5: "法定代表人名章", 6: "公章",
              7: "内设机构章", 8: "分支机构章", 99: "其他"}

def describe_seal(seal: keys_ses.Seal) -> dict:
    return {
        "version": seal.version,
        "es_id": seal.es_id,
        "name": seal.name,
        "type": seal.type,
        "type_name": SEAL_TYPES.get(seal.type),
        "vendor_id": seal.vendor_id,
        "valid_start": r.iso(seal.valid_start),
        "valid_end": r.iso(seal.valid_end),
        "created": r.iso(seal.create_date),
        "picture": {"type": seal.picture_type, "width_mm": seal.picture_width_mm,
                    "height_mm": seal.picture_height_mm,
                    "data_uri": r.picture_data_uri(seal.picture_type, seal.picture_data)},
        "maker": _subject_of(seal.maker_cert),
        "cert_list_type": seal.cert_list_type,
        "sha256": hashlib.sha256(seal.der).hexdigest(),
    }


def _subject_of(der: bytes) -> str | None:
    try:
        return x509.Certificate.load(der).subject.human_friendly
    except (ValueError, TypeError):
        return None


def _load_cert(der: bytes) -> x509.Certificate | None:
    try:
        cert = x509.Certificate.load(der, strict=True)
        cert.native  # noqa: B018
        return cert
    except (ValueError, TypeError, KeyError):
        return None


async def maker_chain_step(seal: keys_ses.Seal, trust, when: datetime, online: bool,
                           other_certs=()) -> tuple[r.Step, r.Step]:
    maker = _load_cert(seal.maker_cert)
    if maker is None:
        return (r.failed(N.MAKER_CERTIFICATE_CHAIN, Sub.FORMAT_FAILURE, "the seal maker certificate does not parse"),
                r.failed(N.MAKER_REVOCATION, Sub.FORMAT_FAILURE, "not checked"))
    moment = min(when, seal.create_date) if seal.create_date else when
    outcome = await c.validate_chain(maker, trust, other_certs=other_certs, revinfo=c.Revinfo(), moment=moment,
                                     proven=False, online=online, what="maker")
    return outcome.chain, outcome.revocation


def verify_seal(der: bytes, trust, *, at: datetime | None = None, online: bool = False, name: str = "seal",
                policy: Policy = DEFAULT) -> r.Report:
    """A GB/T 38540 SESeal on its own: structure, maker signature, maker chain, validity at ``at``."""
    trust = as_trust(trust)
    when = at or c.utcnow()
    report = r.Report.start(der, name=name, policy=policy, validation_time=when, trust=trust, online=online,
                            format="ses-seal")
    sig = r.SignatureReport("ses-seal", name)
    report.signatures.append(sig)
    try:
        seal = keys_ses.parse_seal(der)
    except keys_ses.SesError as exc:
        sig.add(r.failed("ses_structure", Sub.FORMAT_FAILURE, str(exc)))
        return report
    except Exception as exc:  # every exception becomes a verdict
        sig.add(r.failed("ses_structure", Sub.FORMAT_FAILURE, f"unreadable seal: {type(exc).__name__}: {exc}"))
        return report
    sig.add(r.passed("ses_structure", f"GB/T 38540 SESeal V{seal.version}" if seal.version == 4
                     else f"GM/T 0031-2014 SESeal V{seal.version}"))
    sig.seal = describe_seal(seal)
    sig.add(keys_ses.maker_signature(seal))
    sig.add(keys_ses.seal_valid_at(seal, when, proven=True))
    chain, revocation = c.run(maker_chain_step(seal, trust, when, online))
    sig.add(chain)
    sig.add(revocation)
    return report


def verify_ses_signature(der: bytes, trust, document: bytes | None = None, *, at: datetime | None = None,
                         online: bool = False, name: str = "SignedValue.dat", policy: Policy = DEFAULT) -> r.Report:
    """A GB/T 38540 SES_Signature (V4 verified, V1 parsed and reported), optionally over ``document``."""
    trust = as_trust(trust)
    validation_time = at or c.utcnow()
    report = r.Report.start(der, name=name, policy=policy, validation_time=validation_time, trust=trust,
                            online=online, format="ses-signature")
    sig = r.SignatureReport("ses-signature", name)
    report.signatures.append(sig)
    try:
        c.run(_verify_ses_signature(sig, der, trust, document, validation_time, online))
    except Exception as exc:  # every exception becomes a verdict
        sig.add(r.failed("internal", Sub.GENERIC, f"verification stopped: {type(exc).__name__}: {exc}"))
    return report


async def _verify_ses_signature(sig: r.SignatureReport, der: bytes, trust, document: bytes | None,
                                validation_time: datetime, online: bool) -> None:
    try:
        signature = keys_ses.parse_signature(der)
    except keys_ses.SesError as exc:
        sig.add(r.failed("ses_structure", Sub.FORMAT_FAILURE, str(exc)))
        return
    version_text = ("GB/T 38540-2020 SES_Signature V4" if signature.version == 4
                    else f"GM/T 0031-2014 SES_Signature V{signature.version} (parsed; its signatures are not "
                         f"verified)")
    sig.add(r.passed("ses_structure", version_text))
    sig.seal = describe_seal(signature.seal)
    signer = _load_cert(signature.signer_cert)
    if signer is not None:
        sig.signer = c.describe_signer(signer)
    # Signing time: the time-stamp when it verifies, else timeInfo (claimed).
    when, proven = signature.time_info, False
    if signature.has_timestamp:
        step, stamped = await _timestamp_step(signature, trust, online)
        sig.add(step)
        if stamped is not None:
            when, proven = stamped, True
            sig.evidence.append({"type": "timestamp", "source": "SES_Signature.timeStamp", "time": r.iso(stamped)})
    sig.signing_time = {"time": r.iso(when), "source": "timestamp" if proven else "claimed (timeInfo, unproven)",
                        "proven": proven}
    result = keys_ses.verify_signature(signature, document)
    for check in result.checks:  # keys.ses judged the seal's validity at timeInfo; judge it at the signing time
        if check.name == N.SEAL_VALID_AT_SIGNING_TIME:
            check = keys_ses.seal_valid_at(signature.seal, when, proven=proven)
        sig.add(check)
    if document is None:
        sig.warnings.append("no document given: dataHash not checked")
    if signer is None:
        sig.add(r.failed(N.CERTIFICATE_CHAIN, Sub.NO_SIGNING_CERTIFICATE_FOUND,
                         "the signer certificate does not parse"))
    elif when is not None:
        outcome = await c.validate_chain(signer, trust, revinfo=c.Revinfo(), moment=when, proven=proven,
                                         online=online)
        sig.add(outcome.chain)
        sig.add(outcome.revocation)
        sig.add(c.validity_step(signer, when, proven, validation_time))
        chain, revocation = await maker_chain_step(signature.seal, trust, when, online)
        sig.add(chain)
        sig.add(revocation)


async def _timestamp_step(signature: keys_ses.SealSignature, trust, online: bool) -> tuple[r.Step, datetime | None]:
    """The RFC 3161 token over the signature value (GB/T 38540 §7.3): imprint, TSA signature, TSA chain."""
    def expected(algorithm: str) -> bytes:
        if algorithm == "sm3":
            return sm3(signature.signature)
        return hashlib.new(algorithm, signature.signature).digest()

    try:
        token = cms.ContentInfo.load(signature.timestamp)
        status = await ts.validate_token(token["content"], c.validation_context(trust, online=online), expected)
    except Exception as exc:
        return ts.unreadable(exc), None
    return ts.timestamp_step(status, "this signature value")


def looks_like_ses(data: bytes) -> str | None:
    """"signature" or "seal" when ``data`` parses as a GB/T 38540 structure, else None."""
    if not data[:1] == b"\x30":
        return None
    try:
        keys_ses.parse_signature(data)
        return "signature"
    except Exception:  # noqa: S110 - not a signature; maybe a seal
        pass
    try:
        keys_ses.parse_seal(data)
        return "seal"
    except Exception:
        return None
