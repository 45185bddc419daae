"""The GB/T 38540 §7.3 checks that need no trust anchors, each returning a named :class:`Step`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from asn1crypto import x509

from keys import oids
from keys.digests import digest
from keys.errors import InvalidKey, InvalidSignature
from keys.ses.parse import _PARSE_ERRORS, Seal, SealSignature
from keys.sm2 import SM2PublicKey
from keys.sm3 import sm3
from keys.verdict import CheckName, Step, failed, passed
from keys.verdict import SubIndication as Sub


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
