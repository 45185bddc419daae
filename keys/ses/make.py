"""Making a V4 SESeal signed by the seal-making authority."""

from __future__ import annotations

from datetime import UTC, datetime

from asn1crypto import core

from keys import oids
from keys.ses.asn1 import CertList, SESeal, SesError, SESSealInfo
from keys.ses.parse import _aware


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


# -- signing -------------------------------------------------------------------------------------
def _der(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes((tag, length)) + content
    size = (length.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + length.to_bytes(size, "big") + content


_VERSION_4 = _der(0x02, b"\x04")
_SM2_WITH_SM3 = core.ObjectIdentifier(oids.SM2_WITH_SM3).dump()


def make_signature(
    *,
    seal_der: bytes,
    data_hash: bytes,
    signer_key,
    signer_cert: bytes,
    property_info: str,
    time_info: datetime | None = None,
    time_stamp=None,
) -> bytes:
    """A GB/T 38540 V4 ``SES_Signature`` (DER) by the seal's SM2 key.

    ``data_hash`` is the SM3 of the signed data (for OFD: the bytes of Signature.xml, GB/T 33190
    §18); ``property_info`` names it (ofdrw and we put the Signature.xml path there).
    ``time_stamp``, if given, is called with the signature value and returns a DER RFC 3161
    TimeStampToken over it, stored in ``timeStamp``. The TBS_Sign is assembled from the received
    SESeal bytes as they are (no re-encoding), so the embedded seal's maker signature still holds.
    """
    if getattr(signer_key, "algorithm", None) != "sm2":
        raise SesError("a GB/T 38540 seal signature is made with an SM2 key (SM2-with-SM3)")
    if len(data_hash) != 32:
        raise SesError("dataHash must be an SM3 digest (32 bytes)")
    moment = time_info or datetime.now(UTC)
    tbs = _der(0x30, _VERSION_4 + seal_der + _generalized(moment).dump() + _der(0x03, b"\x00" + data_hash)
               + core.IA5String(property_info).dump())
    signature = signer_key.sign(tbs)
    tail = b""
    if time_stamp is not None:
        tail = _der(0xA0, _der(0x03, b"\x00" + time_stamp(signature)))
    return _der(0x30, tbs + _der(0x04, signer_cert) + _SM2_WITH_SM3 + _der(0x03, b"\x00" + signature) + tail)
