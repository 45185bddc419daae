"""GM/T (Chinese national cryptography) object identifiers, registered with asn1crypto.

asn1crypto 1.5 knows none of them. This module is the only place that teaches it, and
importing it more than once is harmless (``register()`` is idempotent). Source of the arcs:
GM/T 0006-2012 (cryptographic application identifiers) and GB/T 35275-2017 (SM2 CMS).
"""

from __future__ import annotations

from asn1crypto import algos, cms, core
from asn1crypto import keys as asn1_keys

SM2_CURVE = "1.2.156.10197.1.301"  # also "SM2-1 signature" in older documents: 1.2.156.10197.1.301.1
SM2_SIGN = "1.2.156.10197.1.301.1"
SM2_ENCRYPT = "1.2.156.10197.1.301.3"
SM3 = "1.2.156.10197.1.401"
HMAC_SM3 = "1.2.156.10197.1.401.2"
SM2_WITH_SM3 = "1.2.156.10197.1.501"
RSA_WITH_SM3 = "1.2.156.10197.1.504"
SM4 = "1.2.156.10197.1.104"
SM4_CBC = "1.2.156.10197.1.104.2"
SM4_GCM = "1.2.156.10197.1.104.8"
# GB/T 35275 CMS content types (data, signedData, envelopedData, ...).
GM_CMS_DATA = "1.2.156.10197.6.1.4.2.1"
GM_CMS_SIGNED_DATA = "1.2.156.10197.6.1.4.2.2"
GM_CMS_ENVELOPED_DATA = "1.2.156.10197.6.1.4.2.3"
GM_CMS_SIGNED_AND_ENVELOPED_DATA = "1.2.156.10197.6.1.4.2.4"
GM_CMS_ENCRYPTED_DATA = "1.2.156.10197.6.1.4.2.5"
GM_CMS_KEY_AGREEMENT_INFO = "1.2.156.10197.6.1.4.2.6"
# Yitong's CMS signed attribute carrying the DER GB/T 38540 SESeal used for a PDF signature
# (DESIGN.md "Seals inside PDFs"). A UUID-derived OID under 2.25 (ITU-T X.667 §6.3), from a
# random (version 4) UUID generated once for this purpose; value: SET OF OCTET STRING (the DER
# SESeal). Verifiers that do not know it ignore it.
YITONG_SESEAL_ATTRIBUTE = "2.25.266631009035368847780142038199518915015"

_NAMES = {
    # (asn1crypto ObjectIdentifier class, oid, name)
    "digest": [(SM3, "sm3")],
    "signed_digest": [(SM2_WITH_SM3, "sm2_sm3"), (RSA_WITH_SM3, "sm3_rsa")],
    "signature": [(SM2_WITH_SM3, "sm2_sm3"), (SM2_SIGN, "sm2"), (RSA_WITH_SM3, "sm3_rsa")],
    "hmac": [(HMAC_SM3, "sm3")],
    "encryption": [(SM4_CBC, "sm4_cbc"), (SM4_GCM, "sm4_gcm")],
    "cms_attribute": [(YITONG_SESEAL_ATTRIBUTE, "yitong_seseal")],
    "content_type": [
        (GM_CMS_DATA, "gm_data"),
        (GM_CMS_SIGNED_DATA, "gm_signed_data"),
        (GM_CMS_ENVELOPED_DATA, "gm_enveloped_data"),
        (GM_CMS_SIGNED_AND_ENVELOPED_DATA, "gm_signed_and_enveloped_data"),
        (GM_CMS_ENCRYPTED_DATA, "gm_encrypted_data"),
        (GM_CMS_KEY_AGREEMENT_INFO, "gm_key_agreement_info"),
    ],
}

_TARGETS = {
    "digest": [algos.DigestAlgorithmId],
    "signed_digest": [algos.SignedDigestAlgorithmId],
    "signature": [algos.SignedDigestAlgorithmId],
    "hmac": [algos.HmacAlgorithmId],
    "encryption": [algos.EncryptionAlgorithmId],
    "content_type": [cms.ContentType],
    "cms_attribute": [cms.CMSAttributeType],
}


def _add(cls: type, oid: str, name: str) -> None:
    existing = cls._map.get(oid)
    if existing is not None and existing != name:
        return  # another name already claimed it; keep asn1crypto's own
    cls._map[oid] = name
    if cls._reverse_map is not None:
        cls._reverse_map.setdefault(name, oid)


def register() -> None:
    """Teach asn1crypto the GM OIDs (both ``_map`` and ``_reverse_map``); idempotent."""
    for kind, entries in _NAMES.items():
        for cls in _TARGETS[kind]:
            for oid, name in entries:
                _add(cls, oid, name)
    # SM4-CBC carries its IV as an OCTET STRING parameter, as AES-CBC does (RFC 3565).
    algos.EncryptionAlgorithm._oid_specs.setdefault("sm4_cbc", core.OctetString)
    cms.CMSAttribute._oid_specs.setdefault("yitong_seseal", cms.SetOfOctetString)
    if SM2_CURVE not in asn1_keys.NamedCurve._map:
        asn1_keys.NamedCurve.register("sm2p256v1", SM2_CURVE, 32)


register()
