"""Password-protected PKCS#8 (RFC 5958 EncryptedPrivateKeyInfo with PBES2, RFC 8018).

cryptography can encrypt only keys it knows, and it knows no SM2 key; this module wraps any
PKCS#8 DER. We write what ``openssl pkcs8 -topk8 -v2 aes-256-cbc`` writes (PBKDF2 with
HMAC-SHA256, AES-256-CBC) so OpenSSL reads our files, and read that plus SM4-CBC and the
other PBKDF2 PRFs OpenSSL may emit.
"""

from __future__ import annotations

import os

from asn1crypto import keys as asn1_keys
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from keys import oids as _oids  # noqa: F401  (registers sm4_cbc and the sm3 PRF)
from keys.errors import InvalidKey

PBKDF2_ITERATIONS = 600_000  # OWASP 2023 figure for PBKDF2-HMAC-SHA256

_PRFS = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "sm3": hashes.SM3,
}
_CIPHERS = {
    "aes128_cbc": (algorithms.AES, 16),
    "aes192_cbc": (algorithms.AES, 24),
    "aes256_cbc": (algorithms.AES, 32),
    "sm4_cbc": (algorithms.SM4, 16),
}


def _pbkdf2(password: bytes, salt: bytes, iterations: int, prf: str, length: int) -> bytes:
    return PBKDF2HMAC(_PRFS[prf](), length, salt, iterations).derive(password)


def encrypt_pkcs8(pkcs8_der: bytes, password: bytes, iterations: int = PBKDF2_ITERATIONS) -> bytes:
    """DER EncryptedPrivateKeyInfo: PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC."""
    if not password:
        raise ValueError("an empty password does not protect a key")
    salt, iv = os.urandom(16), os.urandom(16)
    key = _pbkdf2(password, salt, iterations, "sha256", 32)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(pkcs8_der) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    info = asn1_keys.EncryptedPrivateKeyInfo(
        {
            "encryption_algorithm": {
                "algorithm": "pbes2",
                "parameters": {
                    "key_derivation_func": {
                        "algorithm": "pbkdf2",
                        "parameters": {
                            "salt": ("specified", salt),
                            "iteration_count": iterations,
                            "prf": {"algorithm": "sha256"},
                        },
                    },
                    "encryption_scheme": {"algorithm": "aes256_cbc", "parameters": iv},
                },
            },
            "encrypted_data": ciphertext,
        }
    )
    return info.dump()


def decrypt_pkcs8(der: bytes, password: bytes) -> bytes:
    """The inner PKCS#8 DER; raises InvalidKey for a wrong password or an unsupported scheme."""
    try:
        info = asn1_keys.EncryptedPrivateKeyInfo.load(der)
        algorithm = info["encryption_algorithm"]
        if algorithm["algorithm"].native != "pbes2":
            raise InvalidKey(f"unsupported key encryption {algorithm['algorithm'].native!r} (want PBES2)")
        params = algorithm["parameters"]
        kdf = params["key_derivation_func"]
        if kdf["algorithm"].native != "pbkdf2":
            raise InvalidKey(f"unsupported key derivation {kdf['algorithm'].native!r} (want PBKDF2)")
        kdf_params = kdf["parameters"]
        prf = kdf_params["prf"]["algorithm"].native
        scheme = params["encryption_scheme"]
        cipher_name = scheme["algorithm"].native
        if prf not in _PRFS or cipher_name not in _CIPHERS:
            raise InvalidKey(f"unsupported PBES2 parameters ({prf}, {cipher_name})")
        cipher_cls, key_len = _CIPHERS[cipher_name]
        iv = scheme["parameters"].native
        salt = kdf_params["salt"].native
        iterations = kdf_params["iteration_count"].native
        ciphertext = info["encrypted_data"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidKey("not a valid encrypted PKCS#8 key") from exc
    if iterations > 10_000_000:
        raise InvalidKey("PBKDF2 iteration count is unreasonably large")
    key = _pbkdf2(password, salt, iterations, prf, key_len)
    decryptor = Cipher(cipher_cls(key), modes.CBC(iv)).decryptor()
    try:
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        plain = unpadder.update(padded) + unpadder.finalize()
        asn1_keys.PrivateKeyInfo.load(plain).native  # noqa: B018  (parse or fail here)
    except ValueError as exc:
        raise InvalidKey("cannot decrypt the private key: wrong password?") from exc
    return plain


def is_encrypted_pem(label: str) -> bool:
    return label == "ENCRYPTED PRIVATE KEY"


__all__ = ["decrypt_pkcs8", "encrypt_pkcs8", "is_encrypted_pem"]
