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
