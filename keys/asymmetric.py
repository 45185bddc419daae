"""One sign/verify interface over SM2, ECDSA P-256 and RSA, so callers need not care which.

Every private key here has ``algorithm``, ``sign(data) -> bytes``, ``public_key()``,
``private_bytes_der()`` and ``private_bytes_pem(password=None)``; every public key has
``verify(signature, data)`` raising :class:`keys.InvalidSignature`, ``public_bytes_der()`` and
``public_bytes_pem()``. Signatures: SM2 → DER SEQUENCE{r, s} over SM3(Z ‖ M) (default ID);
P-256 → DER ECDSA with SHA-256; RSA → PKCS#1 v1.5 with SHA-256 (what X.509 and JWS RS256 use).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature as _CryptographyInvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from keys.errors import InvalidKey, InvalidSignature
from keys.sm2 import SM2PrivateKey, SM2PublicKey, encoding

ALGORITHMS = ("sm2", "p256", "rsa2048", "rsa3072")


@runtime_checkable
class PublicKey(Protocol):
    algorithm: str

    def verify(self, signature: bytes, data: bytes) -> None: ...
    def public_bytes_der(self) -> bytes: ...
    def public_bytes_pem(self) -> bytes: ...


@runtime_checkable
class PrivateKey(Protocol):
    algorithm: str

    def sign(self, data: bytes) -> bytes: ...
    def public_key(self) -> PublicKey: ...
    def private_bytes_der(self) -> bytes: ...
    def private_bytes_pem(self, password: bytes | None = None) -> bytes: ...


class _CryptographyPublic:
    """A cryptography public key (P-256 or RSA) behind the common interface."""

    def __init__(self, key, algorithm: str) -> None:
        self._key = key
        self.algorithm = algorithm

    @property
    def cryptography_key(self):
        return self._key

    def verify(self, signature: bytes, data: bytes) -> None:
        try:
            if self.algorithm == "p256":
                self._key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
            else:
                self._key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        except (_CryptographyInvalidSignature, ValueError) as exc:
            raise InvalidSignature(f"{self.algorithm} signature does not verify") from exc

    def public_bytes_der(self) -> bytes:
        return self._key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    def public_bytes_pem(self) -> bytes:
        return self._key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _CryptographyPublic) and other.public_bytes_der() == self.public_bytes_der()

    def __hash__(self) -> int:
        return hash(self.public_bytes_der())


class _CryptographyPrivate:
    def __init__(self, key, algorithm: str) -> None:
        self._key = key
        self.algorithm = algorithm
        self._public = _CryptographyPublic(key.public_key(), algorithm)

    @property
    def cryptography_key(self):
        return self._key

    def sign(self, data: bytes) -> bytes:
        if self.algorithm == "p256":
            return self._key.sign(data, ec.ECDSA(hashes.SHA256()))
        return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def public_key(self) -> _CryptographyPublic:
        return self._public

    def private_bytes_der(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def private_bytes_pem(self, password: bytes | None = None) -> bytes:
        encryption = (
            serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
        )
        return self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def _classify(key) -> str:
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        if not isinstance(key.curve, ec.SECP256R1):
            raise InvalidKey(f"unsupported EC curve {key.curve.name} (P-256 and SM2 only)")
        return "p256"
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        if key.key_size not in (2048, 3072):
            raise InvalidKey(f"unsupported RSA size {key.key_size} (2048 or 3072 only)")
        return f"rsa{key.key_size}"
    raise InvalidKey(f"unsupported key type {type(key).__name__}")


def generate_private_key(algorithm: str) -> PrivateKey:
    """A new key of ``algorithm`` (one of :data:`ALGORITHMS`)."""
    if algorithm == "sm2":
        return SM2PrivateKey.generate()
    if algorithm == "p256":
        return _CryptographyPrivate(ec.generate_private_key(ec.SECP256R1()), "p256")
    if algorithm in ("rsa2048", "rsa3072"):
        return _CryptographyPrivate(rsa.generate_private_key(65537, int(algorithm[3:])), algorithm)
    raise ValueError(f"unknown key algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")


def _is_sm2(der_or_pem: bytes, public: bool) -> bool:
    try:
        if public:
            encoding.public_from_pem(der_or_pem)
        else:
            label, der = encoding.unarmor(der_or_pem)
            if label == "ENCRYPTED PRIVATE KEY":
                return False  # decided after decryption by load_private_key
            encoding.private_from_der(der)
    except InvalidKey:
        return False
    return True


def load_private_key(data: bytes, password: bytes | None = None) -> PrivateKey:
    """A private key from PEM or DER (PKCS#8, SEC1 or PKCS#1), SM2 or otherwise."""
    label, der = encoding.unarmor(data)
    if label == "ENCRYPTED PRIVATE KEY":
        if not password:
            raise InvalidKey("the private key is encrypted: a password is needed")
        from keys.pkcs8 import decrypt_pkcs8

        der, label = decrypt_pkcs8(der, password), "PRIVATE KEY"
    if _is_sm2(der, public=False):
        return SM2PrivateKey.from_der(der)
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError) as exc:
        raise InvalidKey("not a private key this system supports (SM2, P-256, RSA 2048/3072)") from exc
    return _CryptographyPrivate(key, _classify(key))


def load_public_key(data: bytes) -> PublicKey:
    """A public key from a PEM or DER SubjectPublicKeyInfo."""
    if _is_sm2(data, public=True):
        return SM2PublicKey.from_pem(data)
    _label, der = encoding.unarmor(data)
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError) as exc:
        raise InvalidKey("not a public key this system supports (SM2, P-256, RSA 2048/3072)") from exc
    return _CryptographyPublic(key, _classify(key))
