"""SM4 (GB/T 32907-2016) in GCM and CBC modes, through cryptography's OpenSSL binding.

``SM4GCM`` mirrors cryptography's ``AESGCM``: ``encrypt(nonce, data, aad)`` returns
ciphertext ‖ 16-byte tag, ``decrypt`` raises :class:`keys.DecryptionError` on any tampering.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from keys.errors import DecryptionError

KEY_BYTES = 16
BLOCK_BYTES = 16
GCM_NONCE_BYTES = 12
GCM_TAG_BYTES = 16


def _check_key(key: bytes) -> None:
    if len(key) != KEY_BYTES:
        raise ValueError(f"SM4 keys are {KEY_BYTES} bytes, got {len(key)}")


class SM4GCM:
    """SM4 in Galois/Counter Mode (NIST SP 800-38D with SM4 as the block cipher)."""

    def __init__(self, key: bytes) -> None:
        _check_key(key)
        self._key = key

    @staticmethod
    def generate_key() -> bytes:
        return os.urandom(KEY_BYTES)

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None = None) -> bytes:
        if len(nonce) != GCM_NONCE_BYTES:
            raise ValueError("SM4-GCM nonces are 12 bytes")
        encryptor = Cipher(algorithms.SM4(self._key), modes.GCM(nonce)).encryptor()
        if associated_data:
            encryptor.authenticate_additional_data(associated_data)
        return encryptor.update(data) + encryptor.finalize() + encryptor.tag

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None = None) -> bytes:
        if len(nonce) != GCM_NONCE_BYTES or len(data) < GCM_TAG_BYTES:
            raise DecryptionError("SM4-GCM input is too short")
        body, tag = data[:-GCM_TAG_BYTES], data[-GCM_TAG_BYTES:]
        decryptor = Cipher(algorithms.SM4(self._key), modes.GCM(nonce, tag)).decryptor()
        if associated_data:
            decryptor.authenticate_additional_data(associated_data)
        try:
            return decryptor.update(body) + decryptor.finalize()
        except InvalidTag as exc:
            raise DecryptionError("SM4-GCM authentication failed (wrong key or tampered data)") from exc

    def seal(self, data: bytes, associated_data: bytes | None = None) -> bytes:
        """Encrypt under a fresh random nonce and return nonce ‖ ciphertext ‖ tag."""
        nonce = os.urandom(GCM_NONCE_BYTES)
        return nonce + self.encrypt(nonce, data, associated_data)

    def open(self, sealed: bytes, associated_data: bytes | None = None) -> bytes:
        """Inverse of :meth:`seal`."""
        return self.decrypt(sealed[:GCM_NONCE_BYTES], sealed[GCM_NONCE_BYTES:], associated_data)


def sm4_cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """SM4-CBC with PKCS#7 padding. CBC has no integrity: prefer :class:`SM4GCM`."""
    _check_key(key)
    padder = padding.PKCS7(BLOCK_BYTES * 8).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.SM4(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def sm4_cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    _check_key(key)
    if not data or len(data) % BLOCK_BYTES:
        raise DecryptionError("SM4-CBC ciphertext is not a whole number of blocks")
    decryptor = Cipher(algorithms.SM4(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(BLOCK_BYTES * 8).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise DecryptionError("SM4-CBC padding is invalid (wrong key or corrupted data)") from exc
