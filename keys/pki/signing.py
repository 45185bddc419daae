"""Signature algorithm identifiers and signature checking for X.509, CRL, OCSP and CMS.

One mapping from our key algorithms to AlgorithmIdentifiers, and one validator —
:class:`YitongSignatureValidator`, a pyhanko-certvalidator ``SignatureValidator`` — that checks
SM2-with-SM3 (with the standard ID, GM/T 0009) itself and hands everything else to
pyhanko-certvalidator's default. Pass it as ``ValidationContext(signature_validator=...)``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from asn1crypto import algos, core
from asn1crypto.keys import PublicKeyInfo
from cryptography.exceptions import InvalidSignature as CryptographyInvalidSignature
from pyhanko_certvalidator.sig_validate import (
    DEFAULT_VALIDATION_CONTEXT,
    DefaultSignatureValidator,
    SignatureValidationContext,
    SignatureValidator,
)

from keys import oids
from keys.errors import InvalidKey, InvalidSignature
from keys.sm2 import SM2PublicKey

# Key algorithm -> (signature algorithm name for asn1crypto, digest algorithm name).
SIGNATURE_ALGORITHMS = {
    "sm2": ("sm2_sm3", "sm3"),
    "p256": ("sha256_ecdsa", "sha256"),
    "rsa2048": ("sha256_rsa", "sha256"),
    "rsa3072": ("sha256_rsa", "sha256"),
}
_SM2_SIGNATURE_OIDS = {oids.SM2_WITH_SM3, oids.SM2_SIGN}


def signature_algorithm(key_algorithm: str) -> algos.SignedDigestAlgorithm:
    name, _digest = SIGNATURE_ALGORITHMS[key_algorithm]
    # RFC 5758 §3.2 / GM/T 0015: ECDSA and SM2 identifiers have absent parameters; RSA has NULL.
    value = {"algorithm": name}
    if name.endswith("_rsa"):
        value["parameters"] = core.Null()
    return algos.SignedDigestAlgorithm(value)


def digest_algorithm(key_algorithm: str) -> str:
    return SIGNATURE_ALGORITHMS[key_algorithm][1]


def is_sm2_signature(signature_algorithm: algos.SignedDigestAlgorithm) -> bool:
    return signature_algorithm["algorithm"].dotted in _SM2_SIGNATURE_OIDS


class _VerifiedSignatures:
    """Signatures that verified, by the SHA-256 of everything the verdict depends on (bounded, LRU).

    A verifier sees the same CA, CRL, OCSP and time-stamp authority signatures on every document;
    checking a signature is pure mathematics over (key, algorithm, signature, data), so a success
    stays a success. Only successes are kept (a failure is checked again, and raises again), and the
    key covers every input byte: nothing that differs in any byte can match an entry.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(signature: bytes, signed_data: bytes, public_key_info: PublicKeyInfo,
            signature_algorithm: algos.SignedDigestAlgorithm, context: SignatureValidationContext) -> bytes:
        digest = hashlib.sha256()
        for part in (public_key_info.dump(), signature_algorithm.dump(), bytes(signature),
                     repr((context.prehashed, context.contextual_md_algorithm)).encode(), bytes(signed_data)):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
        return digest.digest()

    def __contains__(self, key: bytes) -> bool:
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return True
            return False

    def add(self, key: bytes) -> None:
        with self._lock:
            self._seen[key] = None
            if len(self._seen) > self._size:
                self._seen.popitem(last=False)


_VERIFIED = _VerifiedSignatures()


class YitongSignatureValidator(SignatureValidator):
    """SM2-with-SM3 by our code, every other algorithm by pyhanko-certvalidator's default."""

    def __init__(self) -> None:
        self._default = DefaultSignatureValidator()

    def validate_signature(
        self,
        signature: bytes,
        signed_data: bytes,
        public_key_info: PublicKeyInfo,
        signature_algorithm: algos.SignedDigestAlgorithm,
        context: SignatureValidationContext = DEFAULT_VALIDATION_CONTEXT,
    ) -> None:
        key = _VERIFIED.key(signature, signed_data, public_key_info, signature_algorithm, context)
        if key in _VERIFIED:
            return
        self._validate(signature, signed_data, public_key_info, signature_algorithm, context)
        _VERIFIED.add(key)

    def _validate(self, signature, signed_data, public_key_info, signature_algorithm, context) -> None:
        if not is_sm2_signature(signature_algorithm):
            self._default.validate_signature(signature, signed_data, public_key_info, signature_algorithm, context)
            return
        if context.prehashed:
            # e = SM3(Z ‖ M) needs M: an SM2 signature cannot be checked against a bare digest.
            raise CryptographyInvalidSignature("SM2 signatures cannot be verified from a prehash")
        try:
            SM2PublicKey.from_der(public_key_info.dump()).verify(signature, signed_data)
        except (InvalidSignature, InvalidKey) as exc:
            raise CryptographyInvalidSignature(str(exc)) from exc


SIGNATURE_VALIDATOR = YitongSignatureValidator()


def verify_signature(
    public_key_info: PublicKeyInfo, algorithm: algos.SignedDigestAlgorithm, signature: bytes, data: bytes
) -> None:
    """Raise keys.InvalidSignature unless ``signature`` over ``data`` verifies (any family)."""
    try:
        SIGNATURE_VALIDATOR.validate_signature(signature, data, public_key_info, algorithm)
    except (CryptographyInvalidSignature, ValueError, TypeError) as exc:
        raise InvalidSignature(f"signature does not verify: {exc}") from exc
