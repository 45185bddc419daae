"""GB/T 38540 (V4) and GM/T 0031 (V1) ASN.1 structures, and the DER walker that slices signed bytes."""

from __future__ import annotations

from asn1crypto import core

from keys.errors import KeysError


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
