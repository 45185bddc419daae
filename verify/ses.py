"""GB/T 38540 seals and seal signatures: the §7.3 checklist (DESIGN.md) with the trust anchors.

keys.ses parses (V4 and V1) and holds the rules that need no trust anchor (signatures, dataHash,
certList, seal validity); the SM2 values of signer and seal maker, V4 and V1, are read here through
keys/ses/readings.py, which names the vendor deviations it meets; this module adds both certificate
chains and the RFC 3161 time-stamp (verify/timestamp.py), runs them as named checks (verify/checks.py)
and reports ETSI indications.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from asn1crypto import cms, x509

from keys import ses as keys_ses
from keys.digests import digest
from keys.ses import readings
from keys.verdict import CheckName as N
from keys.verdict import SubIndication as Sub
from verify import certs as c
from verify import report as r
from verify import timestamp as ts
from verify.checks import Check, precondition, run_checks
from verify.policy import DEFAULT, Policy
from verify.trust import TrustBundle, as_trust

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




def _fresh(supplied: c.Revinfo | None) -> c.Revinfo:
    """A copy of the caller's revocation data for one path validation (validate_chain filters what it holds)."""
    revinfo = c.Revinfo()
    if supplied is not None:
        revinfo.extend(supplied)
    return revinfo


async def maker_chain_step(seal: keys_ses.Seal, trust, when: datetime, online: bool,
                           other_certs=(), supplied: c.Revinfo | None = None) -> tuple[r.Step, r.Step]:
    """(maker_certificate_chain, maker_revocation): the seal maker's path to a trust anchor when it made the seal."""
    maker = _load_cert(seal.maker_cert)
    if maker is None:
        return (r.failed(N.MAKER_CERTIFICATE_CHAIN, Sub.FORMAT_FAILURE, "the seal maker certificate does not parse"),
                r.failed(N.MAKER_REVOCATION, Sub.FORMAT_FAILURE, "not checked"))
    moment = min(when, seal.create_date) if seal.create_date else when
    outcome = await c.validate_chain(maker, trust, other_certs=other_certs, revinfo=_fresh(supplied),
                                     moment=moment, proven=False, online=online, what="maker")
    return outcome.chain, outcome.revocation


@dataclass(eq=False)
class SesContext:
    """A GB/T 38540 seal or signature being verified, and what its checks have found so far."""

    report: r.SignatureReport
    trust: TrustBundle
    online: bool
    validation_time: datetime
    seal: keys_ses.Seal
    signature: keys_ses.SealSignature | None = None
    document: bytes | None = None
    supplied: c.Revinfo | None = None  # revocation data the caller vouches for (the server's own CRLs)
    _timing: tuple[r.Step | None, datetime | None, bool] | None = field(default=None, init=False)
    _chain: c.ChainOutcome | None = field(default=None, init=False)
    _maker: tuple[r.Step, r.Step] | None = field(default=None, init=False)

    @cached_property
    def signer(self) -> x509.Certificate | None:
        return _load_cert(self.signature.signer_cert) if self.signature is not None else None

    async def timing(self) -> tuple[r.Step | None, datetime | None, bool]:
        """(timestamp step or None, signing time, proven): a seal alone is judged at the validation time;
        a signature at its time-stamp's time when that verifies, else at its timeInfo (claimed)."""
        if self._timing is None:
            if self.signature is None:
                self._timing = None, self.validation_time, True
                return self._timing
            step, when, proven = None, self.signature.time_info, False
            if self.signature.has_timestamp:
                step, stamped = await _timestamp_step(self.signature, self.trust, self.online)
                if stamped is not None:
                    when, proven = stamped, True
                    self.report.evidence.append({"type": "timestamp", "source": "SES_Signature.timeStamp",
                                                 "time": r.iso(stamped)})
            self.report.signing_time = {"time": r.iso(when),
                                        "source": "timestamp" if proven else "claimed (timeInfo, unproven)",
                                        "proven": proven}
            self._timing = step, when, proven
        return self._timing

    async def chain(self) -> c.ChainOutcome | None:
        """The signer's chain at the signing time (None: no signer certificate or no signing time)."""
        _step, when, proven = await self.timing()
        if self.signer is None or when is None:
            return None
        if self._chain is None:
            self._chain = await c.validate_chain(self.signer, self.trust, revinfo=_fresh(self.supplied),
                                                 moment=when, proven=proven, online=self.online)
        return self._chain

    async def maker(self) -> tuple[r.Step, r.Step] | None:
        _step, when, _proven = await self.timing()
        if when is None or (self.signature is not None and self.signer is None):
            return None
        if self._maker is None:
            self._maker = await maker_chain_step(self.seal, self.trust, when, self.online, supplied=self.supplied)
        return self._maker


async def _signing_time_rule(context: SesContext) -> r.Step:
    _step, when, proven = await context.timing()
    return keys_ses.seal_valid_at(context.seal, when, proven=proven)


async def _certificate_chain(context: SesContext) -> r.Step | None:
    if context.signer is None:
        return r.failed(N.CERTIFICATE_CHAIN, Sub.NO_SIGNING_CERTIFICATE_FOUND, "the signer certificate does not "
                                                                               "parse")
    outcome = await context.chain()
    return outcome.chain if outcome is not None else None


async def _revocation(context: SesContext) -> r.Step | None:
    outcome = await context.chain()
    return outcome.revocation if outcome is not None else None


async def _validity(context: SesContext) -> r.Step | None:
    if await context.chain() is None:
        return None
    _step, when, proven = await context.timing()
    return c.validity_step(context.signer, when, proven, context.validation_time)


async def _maker_step(context: SesContext, index: int) -> r.Step | None:
    steps = await context.maker()
    return steps[index] if steps is not None else None


async def _timestamp(context: SesContext) -> r.Step | None:
    return (await context.timing())[0]


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def v1_maker_bytes(seal: keys_ses.Seal) -> bytes:
    """DER SEQUENCE{esealInfo, cert, signatureAlgorithm}: what a GM/T 0031 seal maker signs (SES_SignInfo),
    sliced from the bytes received (never re-encoded)."""
    from keys.ses.asn1 import _sequence_children

    der = seal.der
    children = _sequence_children(der)
    sign_info = _sequence_children(der, children[1][1], children[1][2])
    body = der[children[0][1]:children[0][2]] + der[sign_info[0][1]:sign_info[0][2]] + \
        der[sign_info[1][1]:sign_info[1][2]]
    return b"\x30" + _der_length(len(body)) + body


def signature_step(context: SesContext) -> r.Step:
    """The signer's SM2 value over DER(TBS_Sign), V4 or V1, read as vendors write it (keys/ses/readings.py)."""
    signature = context.signature
    step, deviation = readings.check(N.SIGNATURE, signature.signer_cert, signature.signature_algorithm,
                                     signature.signature, signature.signed_bytes, "signer", standard="DER(TBS_Sign)",
                                     prehashed=signature.data_hash if signature.version == 1 else None)
    context.report.deviate(deviation, step)
    return step


def maker_signature_step(context: SesContext) -> r.Step:
    """The seal maker's SM2 value: over DER(SES_SealInfo) (V4) or SEQUENCE{esealInfo, cert, alg} (V1)."""
    seal = context.seal
    if seal.version == 4:
        data, standard = seal.signed_bytes, "DER(SES_SealInfo)"
    else:
        try:
            data = v1_maker_bytes(seal)
        except Exception as exc:
            return r.failed(N.SEAL_MAKER_SIGNATURE, Sub.FORMAT_FAILURE, f"the V1 seal cannot be sliced: {exc}")
        standard = "DER SEQUENCE{esealInfo, cert, signatureAlgorithm} (GM/T 0031 SES_SignInfo)"
    step, deviation = readings.check(N.SEAL_MAKER_SIGNATURE, seal.maker_cert, seal.signature_algorithm,
                                     seal.maker_signature, data, "seal maker", standard=standard)
    context.report.deviate(deviation, step)
    return step


MAKER_CHECKS = (
    Check(N.MAKER_CERTIFICATE_CHAIN, lambda context: _maker_step(context, 0)),
    Check(N.MAKER_REVOCATION, lambda context: _maker_step(context, 1)),
)

SES_SEAL = (
    Check(N.SEAL_MAKER_SIGNATURE, maker_signature_step),
    Check(N.SEAL_VALID_AT_SIGNING_TIME, _signing_time_rule),
    *MAKER_CHECKS,
)

SES_SIGNATURE = (
    Check(N.TIMESTAMP, _timestamp),
    Check(N.SIGNATURE, signature_step),
    Check(N.DATA_HASH, lambda context: (keys_ses.data_hash(context.signature, context.document)
                                        if context.document is not None else None)),
    Check(N.SEAL_MAKER_SIGNATURE, maker_signature_step),
    Check(N.SIGNER_IN_CERT_LIST, lambda context: keys_ses.signer_in_cert_list(context.seal,
                                                                              context.signature.signer_cert)),
    Check(N.SEAL_VALID_AT_SIGNING_TIME, _signing_time_rule),
    Check(N.CERTIFICATE_CHAIN, _certificate_chain),
    Check(N.REVOCATION, _revocation),
    Check(N.VALIDITY_AT_SIGNING_TIME, _validity),
    *MAKER_CHECKS,
)


def _verify(sig: r.SignatureReport, policy: Policy, parse, describe_structure, checks, make_context) -> bool:
    """Parse (the ses_structure precondition), then run the path's checks; every exception is a verdict.
    False when the structure could not be parsed."""
    try:
        parsed = parse()
    except keys_ses.SesError as exc:
        sig.add(r.failed(N.SES_STRUCTURE, Sub.FORMAT_FAILURE, str(exc)))
        return False
    except Exception as exc:  # every exception becomes a verdict
        sig.add(r.failed(N.SES_STRUCTURE, Sub.FORMAT_FAILURE, f"unreadable structure: {r.describe(exc)}"))
        return False
    precondition(r.passed(N.SES_STRUCTURE, describe_structure(parsed)), policy, sig.add)
    context = make_context(parsed)
    sig.seal = describe_seal(context.seal)
    if context.signer is not None:
        sig.signer = c.describe_signer(context.signer)

    async def run() -> None:
        await context.timing()  # the report states the signing time whatever the policy selects
        await run_checks(checks, context, policy, sig.add)

    try:
        c.run(run())
    except Exception as exc:  # every exception becomes a verdict
        sig.add(r.failed(N.INTERNAL, Sub.GENERIC, f"verification stopped: {type(exc).__name__}: {exc}"))
    return True


def verify_seal(der: bytes, trust, *, at: datetime | None = None, online: bool = False, name: str = "seal",
                policy: Policy = DEFAULT) -> r.Report:
    """A GB/T 38540 SESeal on its own: structure, maker signature, maker chain, validity at ``at``."""
    trust = as_trust(trust)
    when = at or c.utcnow()
    report = r.Report.start(der, name=name, policy=policy, validation_time=when, trust=trust, online=online,
                            format="ses-seal")
    sig = r.SignatureReport("ses-seal", name)
    report.signatures.append(sig)
    _verify(sig, policy, lambda: keys_ses.parse_seal(der),
            lambda seal: (f"GB/T 38540 SESeal V{seal.version}" if seal.version == 4
                          else f"GM/T 0031-2014 SESeal V{seal.version}"),
            SES_SEAL, lambda seal: SesContext(sig, trust, online, when, seal))
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
    parsed = _verify(sig, policy, lambda: keys_ses.parse_signature(der),
            lambda signature: ("GB/T 38540-2020 SES_Signature V4" if signature.version == 4
                               else f"GM/T 0031-2014 SES_Signature V{signature.version}"),
            SES_SIGNATURE,
            lambda signature: SesContext(sig, trust, online, validation_time, signature.seal, signature, document))
    if document is None and parsed:
        sig.warnings.append("no document given: dataHash not checked")
    return report


async def _timestamp_step(signature: keys_ses.SealSignature, trust, online: bool) -> tuple[r.Step, datetime | None]:
    """The RFC 3161 token over the signature value (GB/T 38540 §7.3): imprint, TSA signature, TSA chain."""
    def expected(algorithm: str) -> bytes:
        return digest(algorithm, signature.signature)

    try:
        token = cms.ContentInfo.load(signature.timestamp)
        async with c.validation_session(trust, online=online) as context:
            status = await ts.validate_token(token["content"], context, expected)
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
