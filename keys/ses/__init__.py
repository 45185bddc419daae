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

The package by job: ``asn1`` (structures, DER walker, :class:`SesError`), ``parse``, ``checks``
(the rules and :class:`VerificationResult`), ``make`` (:func:`make_seal`, :func:`make_signature`).

Not checked here (left to verify/, which holds the trust anchors): certificate chains, revocation
and the RFC 3161 timestamp; results list them in ``unchecked``.
"""


from __future__ import annotations

from keys.ses.asn1 import (
    AnyList,
    CertDigestList,
    CertDigestObj,
    CertList,
    ExtData,
    ExtensionDatas,
    SESeal,
    SESealV1,
    SesError,
    SESESPictrueInfo,
    SESESPropertyInfo,
    SESESPropertyInfoV1,
    SESHeader,
    SESSealInfo,
    SESSealInfoV1,
    SESSignature,
    SESSignatureV1,
    SESSignInfoV1,
    TBSSign,
    TBSSignV1,
)
from keys.ses.checks import (
    VerificationResult,
    data_hash,
    maker_signature,
    seal_valid_at,
    signer_in_cert_list,
    signer_signature,
    verify_maker_signature,
    verify_signature,
)
from keys.ses.make import (
    make_seal,
    make_signature,
)
from keys.ses.parse import (
    CertDigest,
    Seal,
    SealSignature,
    parse_seal,
    parse_signature,
)

__all__ = [
    "AnyList",
    "CertDigest",
    "CertDigestList",
    "CertDigestObj",
    "CertList",
    "ExtData",
    "ExtensionDatas",
    "SESESPictrueInfo",
    "SESESPropertyInfo",
    "SESESPropertyInfoV1",
    "SESHeader",
    "SESSealInfo",
    "SESSealInfoV1",
    "SESSignInfoV1",
    "SESSignature",
    "SESSignatureV1",
    "SESeal",
    "SESealV1",
    "Seal",
    "SealSignature",
    "SesError",
    "TBSSign",
    "TBSSignV1",
    "VerificationResult",
    "data_hash",
    "make_seal",
    "make_signature",
    "maker_signature",
    "parse_seal",
    "parse_signature",
    "seal_valid_at",
    "signer_in_cert_list",
    "signer_signature",
    "verify_maker_signature",
    "verify_signature",
]
