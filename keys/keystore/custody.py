"""Where private keys live: software custody (wrapped under the master key) or, later, an HSM.

``KeyCustody`` is the interface a PKCS#11/HSM backend implements; ``SoftwareCustody`` is the
one the embedded default and most deployments use. The keystore stores whatever reference the
custody returns (``private_key_ref``) and never sees a bare private key at rest.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from abc import ABC, abstractmethod
from pathlib import Path

from keys.asymmetric import PrivateKey, PublicKey, generate_private_key, load_private_key
from keys.errors import DecryptionError, KeysError
from keys.sm3 import hmac_sm3
from keys.sm4 import SM4GCM

MASTER_KEY_BYTES = 16  # an SM4 key
_WRAP_VERSION = b"\x01"


class MasterKeyError(KeysError):
    """The master key is missing, malformed, or is not the one the keystore was wrapped with."""


class MasterKey:
    """The key-encryption key (KEK). Its check value identifies it without revealing it."""

    def __init__(self, key: bytes) -> None:
        if len(key) != MASTER_KEY_BYTES:
            raise MasterKeyError(f"a master key is {MASTER_KEY_BYTES} bytes (32 hex digits); got {len(key)} bytes")
        self._key = key

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(secrets.token_bytes(MASTER_KEY_BYTES))

    @classmethod
    def from_text(cls, text: str) -> MasterKey:
        """32 hex digits, or base64 of 16 bytes (surrounding whitespace ignored)."""
        text = text.strip()
        try:
            raw = bytes.fromhex(text) if len(text) == 2 * MASTER_KEY_BYTES else base64.b64decode(text, validate=True)
        except ValueError:
            raise MasterKeyError("the master key must be 32 hex digits or base64 of 16 bytes") from None
        return cls(raw)

    @classmethod
    def from_file(cls, path: Path) -> MasterKey:
        try:
            text = path.read_text(encoding="ascii")
        except FileNotFoundError:
            raise MasterKeyError(f"master key file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise MasterKeyError(f"cannot read master key file {path}: {exc.strerror or exc}") from None
        return cls.from_text(text)

    def write_new_file(self, path: Path) -> None:
        """Create ``path`` with mode 0600; refuses to overwrite an existing file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(self._key.hex() + "\n")

    @property
    def check_value(self) -> str:
        """HMAC-SM3 of a fixed label: stored in the database to recognise the right key."""
        return hmac_sm3(self._key, b"yitong master key check value/1").hex()[:32]

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        return _WRAP_VERSION + SM4GCM(self._key).seal(plaintext, aad)

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        if wrapped[:1] != _WRAP_VERSION:
            raise DecryptionError("wrapped key has an unknown format version")
        return SM4GCM(self._key).open(wrapped[1:], aad)


def key_id(public_key: PublicKey) -> str:
    """kid: base64url of the first 128 bits of SHA-256 over the SubjectPublicKeyInfo DER."""
    digest = hashlib.sha256(public_key.public_bytes_der()).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class KeyCustody(ABC):
    """Interface of a private-key custodian.

    A PKCS#11 implementation generates keys inside the token (CKA_EXTRACTABLE false, CKA_ID =
    kid), returns the object's label as the reference, and answers ``load`` with a key object
    whose ``sign`` calls C_Sign; it refuses ``adopt`` and ``rewrap`` where the token forbids
    importing keys.
    """

    name: str

    @abstractmethod
    def create(self, algorithm: str) -> tuple[str, PublicKey, bytes]:
        """Make a new key; return (kid, public key, reference to store)."""

    @abstractmethod
    def adopt(self, private_key: PrivateKey) -> tuple[str, bytes]:
        """Take custody of an existing key; return (kid, reference to store)."""

    @abstractmethod
    def load(self, kid: str, algorithm: str, reference: bytes) -> PrivateKey:
        """A usable private key for a stored reference."""


class SoftwareCustody(KeyCustody):
    """Private keys as PKCS#8 wrapped with SM4-GCM under the master key; AAD binds kid and algorithm."""

    name = "software"

    def __init__(self, master: MasterKey) -> None:
        self.master = master

    @staticmethod
    def _aad(kid: str, algorithm: str) -> bytes:
        return f"yitong-keystore/1|{kid}|{algorithm}".encode()

    def create(self, algorithm: str) -> tuple[str, PublicKey, bytes]:
        private_key = generate_private_key(algorithm)
        kid, reference = self.adopt(private_key)
        return kid, private_key.public_key(), reference

    def adopt(self, private_key: PrivateKey) -> tuple[str, bytes]:
        kid = key_id(private_key.public_key())
        return kid, self.master.wrap(private_key.private_bytes_der(), self._aad(kid, private_key.algorithm))

    def load(self, kid: str, algorithm: str, reference: bytes) -> PrivateKey:
        der = self.master.unwrap(reference, self._aad(kid, algorithm))
        private_key = load_private_key(der)
        if private_key.algorithm != algorithm or key_id(private_key.public_key()) != kid:
            raise DecryptionError(f"key {kid} does not match its record")
        return private_key

    def rewrap(self, kid: str, algorithm: str, reference: bytes, new_master: MasterKey) -> bytes:
        der = self.master.unwrap(reference, self._aad(kid, algorithm))
        return new_master.wrap(der, self._aad(kid, algorithm))
