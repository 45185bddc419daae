"""SM2 signature values as real producers write them, and the named deviations from the standards.

GB/T 38540 and GM/T 0031 want an SM2 signature value as DER ``SEQUENCE { r INTEGER, s INTEGER }``
over SM3(Z ‖ M) with the default user ID; each check here first tries exactly that. Where it
fails, the readings found in files of the field are tried, and a value that verifies only under
one of them is reported with the :class:`Deviation` it took — never passed silently, never
failed for the encoding alone. Found in the shared corpus (README "Vendor deviations"):

- ``sm2-der-negative-integer`` — r or s written as a DER INTEGER without its leading 0x00, so
  strict DER (BouncyCastle, OpenSSL) reads it as negative: the AztSign (北京安证通) seal maker's
  signature on Seal.esl. Read as unsigned, it is a valid SM2-with-SM3 signature (default user
  ID) over DER(SES_SealInfo), exactly what GB/T 38540 asks for.
- ``sm2-raw-r-s`` — the value is the 64 bytes r ‖ s instead of DER: the tongz "oesplugin" V4
  SES_Signature and its GM/T 0010 PKCS#7 SignerInfo.
- ``v1-signature-over-datahash`` — a GM/T 0031 (V1) SES_Signature whose value verifies with
  e = dataHash (the signer pre-hashed and signed the hash as e) rather than over DER(TBS_Sign):
  iOFD (dms360.cn).
- ``check-method-sm3-with-z`` — References CheckMethod 1.2.156.10197.1.401.2 (GM/T 0006: "SM3
  with a key", elsewhere HMAC-SM3): iOFD's CheckValues are SM3(Z ‖ file), Z from the signer's SM2
  public key and the default user ID (the preprocessing of GB/T 32918.2 §6.1).

The V1 seal maker's signature is over DER ``SEQUENCE { esealInfo, cert, signatureAlgorithm }``
(GM/T 0031 SES_SignInfo), which the V1 file of the corpus confirms; that is the V1 rule, not a
deviation.
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import x509

from keys import oids
from keys.errors import InvalidKey, InvalidSignature
from keys.sm2 import DEFAULT_UID, SM2PublicKey, curve, get_backend
from keys.sm3 import sm3
from keys.verdict import CheckName, Step, failed, passed
from keys.verdict import SubIndication as Sub


@dataclass(frozen=True)
class Deviation:
    name: str
    what: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "what": self.what}


NEGATIVE_INTEGER = Deviation("sm2-der-negative-integer", "the SM2 value's r or s is a DER INTEGER without its "
                                                         "leading 0x00 (negative in strict DER); read as unsigned")
RAW_R_S = Deviation("sm2-raw-r-s", "the SM2 value is 64 bytes r ‖ s, not DER SEQUENCE{r, s}")
V1_OVER_DATAHASH = Deviation("v1-signature-over-datahash", "the V1 SES_Signature value is an SM2 signature with "
                                                           "e = dataHash, not over DER(TBS_Sign)")
SM3_WITH_Z = Deviation("check-method-sm3-with-z", "CheckMethod 1.2.156.10197.1.401.2: CheckValue = SM3(Z ‖ file) "
                                                  "with the signer's public key and the default user ID")

_SM2_ALGORITHMS = {oids.SM2_WITH_SM3, oids.SM2_SIGN}


def read_value(value: bytes) -> tuple[int, int, Deviation | None]:
    """(r, s, deviation) of an SM2 signature value: strict DER, else the readings of the field."""
    try:
        r, s = curve.decode_signature(value)
        return r, s, None
    except InvalidSignature:
        pass
    if len(value) == 64:
        return int.from_bytes(value[:32], "big"), int.from_bytes(value[32:], "big"), RAW_R_S
    # DER SEQUENCE of two INTEGERs, short lengths, read as unsigned big-endian
    if len(value) >= 8 and value[0] == 0x30 and value[1] == len(value) - 2:
        numbers, pos = [], 2
        while pos < len(value) and len(numbers) < 3:
            if value[pos] != 0x02 or pos + 2 > len(value):
                break
            length = value[pos + 1]
            body = value[pos + 2:pos + 2 + length]
            if not 0 < length <= 33 or len(body) != length:
                break
            numbers.append(int.from_bytes(body, "big"))
            pos += 2 + length
        if len(numbers) == 2 and pos == len(value):
            return numbers[0], numbers[1], NEGATIVE_INTEGER
    raise InvalidSignature("the SM2 value is neither DER SEQUENCE{r, s} nor 64 bytes r ‖ s")


def public_key(cert_der: bytes) -> SM2PublicKey:
    certificate = x509.Certificate.load(cert_der, strict=True)
    return SM2PublicKey.from_der(certificate.public_key.dump())


def z_digest(key: SM2PublicKey, data: bytes, uid: bytes = DEFAULT_UID) -> bytes:
    """SM3(Z ‖ data): the e of GB/T 32918.2 §6.1 as bytes."""
    return sm3(curve.z_value(uid, *key.point()) + data)


def verify_e(key: SM2PublicKey, r: int, s: int, e: bytes) -> bool:
    backend = get_backend("pure")
    return backend.verify_e(backend.load_public(*key.point()), int.from_bytes(e, "big"), r, s)


def _verifies(key: SM2PublicKey, r: int, s: int, data: bytes) -> bool:
    if not (1 <= r < curve.N and 1 <= s < curve.N):
        return False
    try:
        key.verify(curve.encode_signature(r, s), data)
    except InvalidSignature:
        return False
    return True


def check(name: CheckName, cert_der: bytes, algorithm: str | None, value: bytes, data: bytes, who: str, *,
          prehashed: bytes | None = None, standard: str = "") -> tuple[Step, Deviation | None]:
    """An SM2-with-SM3 value over ``data`` (or, as a named deviation, with e = ``prehashed``).

    Passes plainly when the value is strict DER and verifies over SM3(Z ‖ data); passes with a
    Deviation when it verifies only under a reading of the field; fails otherwise.
    """
    if algorithm is not None and algorithm not in _SM2_ALGORITHMS:
        return failed(name, Sub.SIG_CRYPTO_FAILURE, f"unsupported {who} signature algorithm {algorithm} "
                                                    f"(SM2-with-SM3 only)"), None
    try:
        key = public_key(cert_der)
    except (ValueError, TypeError, KeyError, InvalidKey) as exc:
        return failed(name, Sub.SIG_CRYPTO_FAILURE, f"the {who} certificate is unusable: {exc}"), None
    try:
        r, s, encoding = read_value(value)
    except InvalidSignature as exc:
        return failed(name, Sub.SIG_CRYPTO_FAILURE, f"the {who} signature value is unreadable: {exc}"), None
    over = f" over {standard}" if standard else ""
    if _verifies(key, r, s, data):
        if encoding is None:
            return passed(name, f"SM2-with-SM3 {who} signature{over} verifies with the {who} certificate's "
                                f"key"), None
        return passed(name, f"SM2-with-SM3 {who} signature{over} verifies with the {who} certificate's key, "
                            f"read under the named deviation {encoding.name}"), encoding
    if prehashed is not None and verify_e(key, r, s, prehashed):
        return passed(name, f"the {who} signature verifies with the {who} certificate's key only under the "
                            f"named deviation {V1_OVER_DATAHASH.name}"), V1_OVER_DATAHASH
    return failed(name, Sub.SIG_CRYPTO_FAILURE, f"the {who} signature{over} does not verify with the {who} "
                                                f"certificate's key"), None


__all__ = ["NEGATIVE_INTEGER", "RAW_R_S", "SM3_WITH_Z", "V1_OVER_DATAHASH", "Deviation", "check", "public_key",
           "read_value", "verify_e", "z_digest"]
