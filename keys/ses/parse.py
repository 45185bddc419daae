"""Reading seals and seal signatures: DER in, typed :class:`Seal` / :class:`SealSignature` out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from asn1crypto import core

from keys.ses.asn1 import (
    CertDigestList,
    CertList,
    SESeal,
    SESealV1,
    SesError,
    SESSignature,
    SESSignatureV1,
    _sequence_children,
)


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
