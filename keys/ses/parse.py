"""GB/T 38540-2020 (V4) and GM/T 0031-2014 (V1) electronic seals and seal signatures.

Bytes in, typed objects out::

    seal = parse_seal(der)                       # SESeal -> Seal
    result = verify_maker_signature(seal)        # SM2-SM3 over DER(SES_SealInfo), maker certificate
    signature = parse_signature(der)             # SES_Signature -> SealSignature (with .seal)
    result = verify_signature(signature, data)   # GB/T 38540 §7.3 checks that need no trust anchors

Each check is also a rule of its own that returns a :class:`keys.verdict.Step` (name, pass/fail,
reason, ETSI sub-indication), the one verify/ reports: ``signer_signature``, ``data_hash``,
``maker_signature``, ``signer_in_cert_list`` and ``seal_valid_at``.

V4 ASN.1 (GB/T 38540-2020, as in ofdrw; see DESIGN.md)::

    SESeal        ::= SEQUENCE { eSealInfo SES_SealInfo, cert OCTET STRING, signAlgID OID, signedValue BIT STRING }
    SES_Signature ::= SEQUENCE { toSign TBS_Sign, cert OCTET STRING, signatureAlgID OID, signature BIT STRING,
                                 timeStamp [0] EXPLICIT BIT STRING OPTIONAL }
    TBS_Sign      ::= SEQUENCE { version INTEGER (4), eseal SESeal, timeInfo GeneralizedTime, dataHash BIT STRING,
                                 propertyInfo IA5String, extDatas [0] EXPLICIT ExtensionDatas OPTIONAL }

V1 (GM/T 0031-2014) as found in the corpus file ``ses/n/SignedValue.dat`` with ``openssl asn1parse``::

    SES_Signature ::= SEQUENCE { toSign TBS_Sign, signature BIT STRING }              -- 2 elements
    TBS_Sign      ::= SEQUENCE { version INTEGER (1), eseal SESeal, timeInfo BIT STRING, dataHash BIT STRING,
                                 propertyInfo IA5String, cert OCTET STRING, signatureAlgorithm OID }
    SESeal        ::= SEQUENCE { esealInfo SES_SealInfo, signInfo SES_SignInfo }      -- 2 elements
    SES_SignInfo  ::= SEQUENCE { cert OCTET STRING, signatureAlgorithm OID, signData BIT STRING }
    SES_SealInfo  ::= as V4 (header version 1)
    SES_ESPropertyInfo ::= SEQUENCE { type INTEGER, name UTF8String, certList SEQUENCE OF ...,
                                      createDate UTCTime, validStart UTCTime, validEnd UTCTime }

Observed in that V1 file: there is no certListType; ``timeInfo`` is a BIT STRING whose bytes are
ASCII text (``2020-01-25T07:31:56.377Z``); the certList holds one IA5String ``"1"`` instead of
certificates (so V1 entries are read as ANY and only OCTET STRINGs count as certificates).

``SES_CertList`` is a CHOICE of two SEQUENCE OFs with the same tag, which asn1crypto's Choice
cannot tell apart: it is read as ANY and decoded according to ``certListType`` (1 certs, 2 digests).

Signed structures (SES_SealInfo, TBS_Sign) are verified over the exact bytes received, sliced from
the input by a small DER walker — never over asn1crypto's re-encoding.

Not checked here (left to verify/, which holds the trust anchors): certificate chains, revocation
and the RFC 3161 timestamp; results list them in ``unchecked``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from asn1crypto import core, x509

from keys import oids
from keys.digests import digest
from keys.errors import InvalidKey, InvalidSignature, KeysError
from keys.sm2 import SM2PublicKey
from keys.sm3 import sm3
from keys.verdict import CheckName, Step, failed, passed
from keys.verdict import SubIndication as Sub


class SesError(KeysError):
    """A seal or seal signature that cannot be parsed (malformed DER, wrong shape, bad values)."""


# -- ASN.1: shared pieces ----------------------------------------------------------------------------
class SESHeader(core.Sequence):
    _fields = [("id", core.IA5String), ("version", core.Integer), ("vid", core.IA5String)]


class CertDigestObj(core.Sequence):
    _fields = [("type", core.PrintableString), ("value", core.OctetString)]


class CertDigestList(core.SequenceOf):
    _child_spec = CertDigestObj


class CertList(core.SequenceOf):
    _child_spec = core.OctetString


class SESESPictrueInfo(core.Sequence):  # sic: "Pictrue" is the standard's spelling
    _fields = [("type", core.IA5String), ("data", core.OctetString), ("width", core.Integer), ("height", core.Integer)]


class ExtData(core.Sequence):
    _fields = [
        ("extn_id", core.ObjectIdentifier),
        ("critical", core.Boolean, {"default": False}),
        ("extn_value", core.OctetString),
    ]


class ExtensionDatas(core.SequenceOf):
    _child_spec = ExtData


# -- ASN.1: V4 (GB/T 38540-2020) ------------------------------------------------------------------
class SESESPropertyInfo(core.Sequence):
    _fields = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("cert_list_type", core.Integer),
        ("cert_list", core.Any),  # SES_CertList CHOICE; see module docstring
        ("create_date", core.GeneralizedTime),
        ("valid_start", core.GeneralizedTime),
        ("valid_end", core.GeneralizedTime),
    ]


class SESSealInfo(core.Sequence):
    _fields = [
        ("header", SESHeader),
        ("es_id", core.IA5String),
        ("property", SESESPropertyInfo),
        ("picture", SESESPictrueInfo),
        ("ext_datas", ExtensionDatas, {"optional": True}),
    ]


class SESeal(core.Sequence):
    _fields = [
        ("e_seal_info", SESSealInfo),
        ("cert", core.OctetString),
        ("sign_alg_id", core.ObjectIdentifier),
        ("signed_value", core.BitString),
    ]


class TBSSign(core.Sequence):
    _fields = [
        ("version", core.Integer),
        ("eseal", SESeal),
        ("time_info", core.GeneralizedTime),
        ("data_hash", core.BitString),
        ("property_info", core.IA5String),
        ("ext_datas", ExtensionDatas, {"explicit": 0, "optional": True}),
    ]


class SESSignature(core.Sequence):
    _fields = [
        ("to_sign", TBSSign),
        ("cert", core.OctetString),
        ("signature_alg_id", core.ObjectIdentifier),
        ("signature", core.BitString),
        ("time_stamp", core.BitString, {"explicit": 0, "optional": True}),
    ]


# -- ASN.1: V1 (GM/T 0031-2014), as observed -------------------------------------------------------
class AnyList(core.SequenceOf):
    _child_spec = core.Any


class SESESPropertyInfoV1(core.Sequence):
    _fields = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("cert_list", AnyList),
        ("create_date", core.UTCTime),
        ("valid_start", core.UTCTime),
        ("valid_end", core.UTCTime),
    ]


class SESSealInfoV1(core.Sequence):
    _fields = [
        ("header", SESHeader),
        ("es_id", core.IA5String),
        ("property", SESESPropertyInfoV1),
        ("picture", SESESPictrueInfo),
        ("ext_datas", ExtensionDatas, {"optional": True}),
    ]


class SESSignInfoV1(core.Sequence):
    _fields = [
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
        ("sign_data", core.BitString),
    ]


class SESealV1(core.Sequence):
    _fields = [("eseal_info", SESSealInfoV1), ("sign_info", SESSignInfoV1)]


class TBSSignV1(core.Sequence):
    _fields = [
        ("version", core.Integer),
        ("eseal", SESealV1),
        ("time_info", core.BitString),
        ("data_hash", core.BitString),
        ("property_info", core.IA5String),
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
    ]


class SESSignatureV1(core.Sequence):
    _fields = [("to_sign", TBSSignV1), ("signature", core.BitString)]


# -- a minimal DER walker, to slice signed structures out of the received bytes --------------------
def _tlv(der: bytes, offset: int, end: int) -> tuple[int, int, int]:
    """(tag byte, content start, content end) of the TLV at ``offset``; definite lengths only."""
    if offset + 2 > end:
        raise SesError(f"truncated DER at offset {offset}")
    tag = der[offset]
    if tag & 0x1F == 0x1F:
        raise SesError(f"unexpected high tag number at offset {offset}")
    first = der[offset + 1]
    pos = offset + 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise SesError(f"indefinite length at offset {offset} is not DER")
    else:
        count = first & 0x7F
        if count > 4 or pos + count > end:
            raise SesError(f"bad length at offset {offset}")
        length = int.from_bytes(der[pos:pos + count], "big")
        pos += count
    if pos + length > end:
        raise SesError(f"truncated DER: element at offset {offset} needs {length} bytes, {end - pos} remain")
    return tag, pos, pos + length


def _sequence_children(der: bytes, start: int = 0, end: int | None = None) -> list[tuple[int, int, int]]:
    """[(tag, element start, element end)] of the SEQUENCE at ``start`` (which must fill up to ``end``)."""
    end = len(der) if end is None else end
    tag, pos, content_end = _tlv(der, start, end)
    if tag != 0x30:
        raise SesError(f"expected a SEQUENCE at offset {start}, found tag 0x{tag:02x}")
    if start == 0 and content_end != end:
        raise SesError(f"{end - content_end} bytes of trailing data after the DER structure")
    children = []
    while pos < content_end:
        child_tag, _content_start, child_end = _tlv(der, pos, content_end)
        children.append((child_tag, pos, child_end))
        pos = child_end
    return children


# -- typed results -------------------------------------------------------------------------------
@dataclass(frozen=True)
class CertDigest:
    algorithm: str  # as written in CertDigestObj.type, e.g. "sm3"
    value: bytes


@dataclass(frozen=True)
class Seal:
    version: int  # 1 (GM/T 0031-2014) or 4 (GB/T 38540-2020)
    header_id: str
    header_version: int
    vendor_id: str
    es_id: str
    type: int  # business-defined in V4; any integer is accepted
    name: str
    cert_list_type: int | None  # 1 certificates, 2 digests; None in V1
    certs: tuple[bytes, ...]  # DER certificates of the seal holder(s)
    cert_digests: tuple[CertDigest, ...]
    create_date: datetime
    valid_start: datetime
    valid_end: datetime
    picture_type: str
    picture_data: bytes = field(repr=False)
    picture_width_mm: int
    picture_height_mm: int
    extensions: tuple[tuple[str, bool, bytes], ...]  # (OID, critical, value)
    maker_cert: bytes = field(repr=False)  # DER of the seal maker's certificate
    signature_algorithm: str  # dotted OID
    maker_signature: bytes = field(repr=False)  # DER SEQUENCE{r, s}
    signed_bytes: bytes = field(repr=False)  # DER(SES_SealInfo) exactly as received
    der: bytes = field(repr=False)


@dataclass(frozen=True)
class SealSignature:
    version: int
    seal: Seal
    time_info: datetime | None  # None only when a V1 timeInfo text cannot be read as a time
    time_info_raw: bytes
    data_hash: bytes
    property_info: str
    signer_cert: bytes = field(repr=False)
    signature_algorithm: str
    signature: bytes = field(repr=False)
    has_timestamp: bool
    timestamp: bytes | None = field(repr=False)
    extensions: tuple[tuple[str, bool, bytes], ...]
    signed_bytes: bytes = field(repr=False)  # DER(TBS_Sign) exactly as received
    der: bytes = field(repr=False)


# -- parsing -------------------------------------------------------------------------------------
_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError)


def _load(spec: type[core.Asn1Value], der: bytes, what: str):
    try:
        value = spec.load(der, strict=True)
        value.native  # noqa: B018  (parse every field now, so errors surface here)
    except _PARSE_ERRORS as exc:
        raise SesError(f"malformed {what}: {exc}") from None
    return value


def _aware(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise SesError(f"{what} is not a time")
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _bits(value: core.BitString, what: str) -> bytes:
    unused = value.contents[0] if value.contents else None
    if unused != 0:
        raise SesError(f"{what} is not a whole number of bytes")
    return bytes(value.contents[1:])


def _extensions(value) -> tuple[tuple[str, bool, bytes], ...]:
    if value is None or isinstance(value, core.Void):
        return ()
    return tuple((ext["extn_id"].dotted, bool(ext["critical"].native), ext["extn_value"].native) for ext in value)


def _seal_version(der: bytes) -> int:
    count = len(_sequence_children(der))
    if count == 4:
        return 4
    if count == 2:
        return 1
    raise SesError(f"an SESeal has 4 elements (V4) or 2 (V1), not {count}")


def parse_seal(der: bytes) -> Seal:
    """Parse a DER SESeal of either version; raise :class:`SesError` if it is malformed."""
    der = bytes(der)
    version = _seal_version(der)
    children = _sequence_children(der)
    _tag, start, end = children[0]
    signed_bytes = der[start:end]
    if version == 4:
        seal = _load(SESeal, der, "SESeal (V4)")
        info = seal["e_seal_info"]
        maker_cert = seal["cert"].native
        algorithm = seal["sign_alg_id"].dotted
        maker_signature = _bits(seal["signed_value"], "SESeal.signedValue")
    else:
        seal = _load(SESealV1, der, "SESeal (V1)")
        info = seal["eseal_info"]
        sign_info = seal["sign_info"]
        maker_cert = sign_info["cert"].native
        algorithm = sign_info["signature_algorithm"].dotted
        maker_signature = _bits(sign_info["sign_data"], "SES_SignInfo.signData")
    header = info["header"]
    if header["id"].native != "ES":
        raise SesError(f"SES_Header.id must be 'ES', not {header['id'].native!r}")
    if header["version"].native != version:
        raise SesError(f"SES_Header.version {header['version'].native} does not match a V{version} SESeal")
    prop = info["property"]
    certs: tuple[bytes, ...] = ()
    digests: tuple[CertDigest, ...] = ()
    if version == 4:
        cert_list_type = prop["cert_list_type"].native
        raw_list = prop["cert_list"].dump()
        if cert_list_type == 1:
            certs = tuple(item.native for item in _load(CertList, raw_list, "SES_CertList certs"))
        elif cert_list_type == 2:
            parsed = _load(CertDigestList, raw_list, "SES_CertList certDigestList")
            digests = tuple(CertDigest(item["type"].native, item["value"].native) for item in parsed)
        else:
            raise SesError(f"certListType must be 1 (certificates) or 2 (digests), not {cert_list_type}")
    else:
        cert_list_type = None
        # GM/T 0031-2014 says SEQUENCE OF OCTET STRING; real V1 seals carry other things (see docstring).
        entries = [item.parsed for item in prop["cert_list"]]
        certs = tuple(entry.native for entry in entries if entry.class_ == 0 and entry.tag == 4)
    picture = info["picture"]
    return Seal(
        version=version,
        header_id=header["id"].native,
        header_version=header["version"].native,
        vendor_id=header["vid"].native,
        es_id=info["es_id"].native,
        type=prop["type"].native,
        name=prop["name"].native,
        cert_list_type=cert_list_type,
        certs=certs,
        cert_digests=digests,
        create_date=_aware(prop["create_date"].native, "createDate"),
        valid_start=_aware(prop["valid_start"].native, "validStart"),
        valid_end=_aware(prop["valid_end"].native, "validEnd"),
        picture_type=picture["type"].native,
        picture_data=picture["data"].native,
        picture_width_mm=picture["width"].native,
        picture_height_mm=picture["height"].native,
        extensions=_extensions(info["ext_datas"]),
        maker_cert=maker_cert,
        signature_algorithm=algorithm,
        maker_signature=maker_signature,
        signed_bytes=signed_bytes,
        der=der,
    )


def _v1_time(raw: bytes) -> datetime | None:
    """A V1 timeInfo: ASCII text in a BIT STRING (ISO 8601 seen; also GeneralizedTime digits)."""
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    for parse in (lambda t: datetime.fromisoformat(t.replace("Z", "+00:00")),
                  lambda t: datetime.strptime(t, "%Y%m%d%H%M%SZ")):
        try:
            return _aware(parse(text), "timeInfo")
        except ValueError:
            continue
    return None


def parse_signature(der: bytes) -> SealSignature:
    """Parse a DER SES_Signature of either version (with its embedded seal); raise :class:`SesError`."""
    der = bytes(der)
    children = _sequence_children(der)
    if len(children) in (4, 5):
        version = 4
    elif len(children) == 2:
        version = 1
    else:
        raise SesError(f"an SES_Signature has 4-5 elements (V4) or 2 (V1), not {len(children)}")
    _tag, tbs_start, tbs_end = children[0]
    signed_bytes = der[tbs_start:tbs_end]
    tbs_children = _sequence_children(der, tbs_start, tbs_end)
    if len(tbs_children) < 2:
        raise SesError("TBS_Sign has no embedded SESeal")
    _tag, seal_start, seal_end = tbs_children[1]
    seal = parse_seal(der[seal_start:seal_end])
    if version == 4:
        value = _load(SESSignature, der, "SES_Signature (V4)")
        tbs = value["to_sign"]
        time_info = _aware(tbs["time_info"].native, "timeInfo")
        time_info_raw = tbs["time_info"].contents
        signer_cert = value["cert"].native
        algorithm = value["signature_alg_id"].dotted
        signature = _bits(value["signature"], "SES_Signature.signature")
        stamp = value["time_stamp"]
        timestamp = None if isinstance(stamp, core.Void) else _bits(stamp, "SES_Signature.timeStamp")
        extensions = _extensions(tbs["ext_datas"])
    else:
        value = _load(SESSignatureV1, der, "SES_Signature (V1)")
        tbs = value["to_sign"]
        time_info_raw = _bits(tbs["time_info"], "TBS_Sign.timeInfo")
        time_info = _v1_time(time_info_raw)
        signer_cert = tbs["cert"].native
        algorithm = tbs["signature_algorithm"].dotted
        signature = _bits(value["signature"], "SES_Signature.signature")
        timestamp = None
        extensions = ()
    if tbs["version"].native != version:
        raise SesError(f"TBS_Sign.version {tbs['version'].native} does not match a V{version} SES_Signature")
    if seal.version != version:
        raise SesError(f"a V{version} SES_Signature embeds a V{seal.version} SESeal")
    return SealSignature(
        version=version,
        seal=seal,
        time_info=time_info,
        time_info_raw=time_info_raw,
        data_hash=_bits(tbs["data_hash"], "TBS_Sign.dataHash"),
        property_info=tbs["property_info"].native,
        signer_cert=signer_cert,
        signature_algorithm=algorithm,
        signature=signature,
        has_timestamp=timestamp is not None,
        timestamp=timestamp,
        extensions=extensions,
        signed_bytes=signed_bytes,
        der=der,
    )


# -- verification results (every check named; nothing passes by accident) ------------------------
@dataclass(frozen=True)
class VerificationResult:
    checks: tuple[Step, ...]
    unchecked: tuple[str, ...] = ()  # what this function did not look at (for the caller to do)

    @property
    def passed(self) -> bool:
        """True only if there is at least one check and every check passed."""
        return bool(self.checks) and all(check.passed for check in self.checks)

    @property
    def failures(self) -> tuple[Step, ...]:
        return tuple(check for check in self.checks if not check.passed)

    def check(self, name: str) -> Step:
        for item in self.checks:
            if item.name == name:
                return item
        raise KeyError(name)

    def __bool__(self) -> bool:
        return self.passed


_SM2_ALGORITHMS = {oids.SM2_WITH_SM3, oids.SM2_SIGN}
_NOT_CHECKED_HERE = ("certificate chains", "revocation")


def _sm2_check(name: CheckName, cert_der: bytes, algorithm: str, signature: bytes, data: bytes, who: str) -> Step:
    if algorithm not in _SM2_ALGORITHMS:
        return failed(name, Sub.SIG_CRYPTO_FAILURE,
                      f"unsupported {who} signature algorithm {algorithm} (SM2-with-SM3 only)")
    try:
        certificate = x509.Certificate.load(cert_der, strict=True)
        public_key = SM2PublicKey.from_der(certificate.public_key.dump())
    except (*_PARSE_ERRORS, InvalidKey) as exc:
        return failed(name, Sub.SIG_CRYPTO_FAILURE, f"the {who} certificate is unusable: {exc}")
    try:
        public_key.verify(signature, data)
    except InvalidSignature as exc:
        return failed(name, Sub.SIG_CRYPTO_FAILURE, f"the {who} signature does not verify: {exc}")
    return passed(name, f"SM2-with-SM3 {who} signature verifies with the {who} certificate's key")


def maker_signature(seal: Seal) -> Step:
    """The maker's SM2-SM3 signature over DER(SES_SealInfo); V1 seals are parsed, not verified (GENERIC)."""
    name = CheckName.SEAL_MAKER_SIGNATURE
    if seal.version != 4:
        return failed(name, Sub.GENERIC, f"maker signatures of V{seal.version} seals are not verified")
    return _sm2_check(name, seal.maker_cert, seal.signature_algorithm, seal.maker_signature, seal.signed_bytes,
                      "seal maker")


def signer_signature(signature: SealSignature) -> Step:
    """The signer's SM2-SM3 signature over DER(TBS_Sign); V1 signatures are parsed, not verified (GENERIC)."""
    name = CheckName.SIGNATURE
    if signature.version != 4:
        return failed(name, Sub.GENERIC, f"V{signature.version} signatures are parsed, not verified")
    return _sm2_check(name, signature.signer_cert, signature.signature_algorithm, signature.signature,
                      signature.signed_bytes, "signer")


def verify_maker_signature(seal: Seal) -> VerificationResult:
    """The maker's SM2-SM3 signature over DER(SES_SealInfo) (V4), with the maker certificate's key."""
    return VerificationResult((maker_signature(seal),), _NOT_CHECKED_HERE)


_CERT_LIST_DIGESTS = ("sm3", "sha1", "sha256")


def signer_in_cert_list(seal: Seal, cert_der: bytes) -> Step:
    """The signer certificate is in the seal's certList: by digest (certListType 2), else by value."""
    name = CheckName.SIGNER_IN_CERT_LIST
    if seal.cert_list_type == 2 or seal.cert_digests:
        for entry in seal.cert_digests:
            algorithm = entry.algorithm.strip().lower().replace("-", "")
            if algorithm in _CERT_LIST_DIGESTS and digest(algorithm, cert_der) == entry.value:
                return passed(name, f"the signer certificate's {entry.algorithm} digest is in the seal's certList")
        return failed(name, Sub.SIG_CONSTRAINTS_FAILURE, "no digest in the seal's certList matches the signer "
                                                         "certificate")
    if not seal.certs:
        return failed(name, Sub.SIG_CONSTRAINTS_FAILURE, "the seal's certList holds no certificates")
    if cert_der in seal.certs:
        return passed(name, "the signer certificate is in the seal's certList")
    return failed(name, Sub.SIG_CONSTRAINTS_FAILURE, "the signer certificate is not in the seal's certList")


def seal_valid_at(seal: Seal, when: datetime | None, *, proven: bool = False) -> Step:
    """The seal's validStart..validEnd holds the signing time (``proven`` by a time-stamp, else claimed)."""
    name = CheckName.SEAL_VALID_AT_SIGNING_TIME
    label = "proven" if proven else "claimed"
    if when is None:
        return failed(name, Sub.FORMAT_FAILURE, "the signing time cannot be read")
    if when < seal.valid_start:
        return failed(name, Sub.NOT_YET_VALID, f"the seal is valid from {seal.valid_start.isoformat()}, after the "
                                               f"{label} signing time {when.isoformat()}")
    if when > seal.valid_end:
        return failed(name, Sub.EXPIRED, f"the seal expired {seal.valid_end.isoformat()}, before the {label} "
                                         f"signing time {when.isoformat()}")
    return passed(name, f"the seal ({seal.valid_start.date()}..{seal.valid_end.date()}) was valid at the {label} "
                        f"signing time {when.isoformat()}")


def data_hash(signature: SealSignature, data: bytes) -> Step:
    name = CheckName.DATA_HASH
    if sm3(data) == signature.data_hash:
        return passed(name, "SM3 of the document equals dataHash")
    return failed(name, Sub.HASH_FAILURE, "SM3 of the document differs from dataHash")


def verify_signature(signature: SealSignature, data: bytes | None) -> VerificationResult:
    """GB/T 38540 §7.3 checks that need no trust anchors.

    The signer's SM2-SM3 signature over DER(TBS_Sign); dataHash == SM3(data) when ``data`` is given
    (otherwise "data hash" is listed as unchecked); the embedded seal's maker signature; the signer
    certificate in the seal's certList (certificates or digests); the seal valid at timeInfo.
    """
    checks = [signer_signature(signature)]
    unchecked = list(_NOT_CHECKED_HERE)
    if data is None:
        unchecked.append("data hash (no document given)")
    else:
        checks.append(data_hash(signature, data))
    checks.append(maker_signature(signature.seal))
    checks.append(signer_in_cert_list(signature.seal, signature.signer_cert))
    checks.append(seal_valid_at(signature.seal, signature.time_info))
    if signature.has_timestamp:
        unchecked.append("timestamp (present, not verified here)")
    return VerificationResult(tuple(checks), tuple(unchecked))


__all__ = [
    "CertDigest",
    "Seal",
    "SealSignature",
    "SesError",
    "VerificationResult",
    "data_hash",
    "maker_signature",
    "parse_seal",
    "parse_signature",
    "seal_valid_at",
    "signer_in_cert_list",
    "signer_signature",
    "verify_maker_signature",
    "verify_signature",
]


# -- making --------------------------------------------------------------------------------------
def _generalized(moment: datetime) -> core.GeneralizedTime:
    return core.GeneralizedTime(_aware(moment, "time").astimezone(UTC).replace(microsecond=0))


def make_seal(
    *,
    es_id: str,
    seal_type: int,
    name: str,
    certs: list[bytes],
    picture_type: str,
    picture: bytes,
    width_mm: int,
    height_mm: int,
    valid_start: datetime,
    valid_end: datetime,
    maker_key,
    maker_cert: bytes,
    created: datetime | None = None,
    vendor_id: str = "yitong",
) -> bytes:
    """A GB/T 38540 V4 ``SESeal`` (DER) whose SES_SealInfo the maker's SM2 key signs (SM2-with-SM3).

    ``certs`` are the DER certificates of the seal's signer(s) (certListType 1); ``maker_key`` is
    a :mod:`keys.asymmetric` SM2 private key matching ``maker_cert``. The result parses back with
    :func:`parse_seal` and its maker signature verifies with :func:`verify_maker_signature`.
    """
    if getattr(maker_key, "algorithm", None) != "sm2":
        raise SesError("the seal maker signs with SM2 (GB/T 38540 §6)")
    if not certs:
        raise SesError("a seal needs at least one signer certificate in its certList")
    if valid_end <= valid_start:
        raise SesError("the seal's validEnd must be after its validStart")
    created = created or datetime.now(UTC)
    info = SESSealInfo({
        "header": {"id": "ES", "version": 4, "vid": vendor_id},
        "es_id": es_id,
        "property": {
            "type": seal_type,
            "name": name,
            "cert_list_type": 1,
            "cert_list": core.Any.load(CertList(list(certs)).dump()),
            "create_date": _generalized(created),
            "valid_start": _generalized(valid_start),
            "valid_end": _generalized(valid_end),
        },
        "picture": {"type": picture_type, "data": picture, "width": width_mm, "height": height_mm},
    })
    info_der = info.dump()
    seal = SESeal({
        "e_seal_info": SESSealInfo.load(info_der),
        "cert": maker_cert,
        "sign_alg_id": oids.SM2_WITH_SM3,
        "signed_value": _bit_string(maker_key.sign(info_der)),
    })
    return seal.dump()


def _bit_string(data: bytes) -> core.BitString:
    """A BIT STRING of whole bytes (0 unused bits), as signature values are encoded."""
    return core.BitString.load(core.OctetBitString(data).dump())
