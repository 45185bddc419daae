"""SM3 (GB/T 32905-2016) and HMAC-SM3, through cryptography's OpenSSL binding."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, hmac


def sm3(data: bytes) -> bytes:
    """The 32-byte SM3 digest of ``data``."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def sm3_file(path: str, chunk_size: int = 1 << 20) -> bytes:
    """SM3 of a file, read in chunks so that large documents do not sit in memory."""
    digest = hashes.Hash(hashes.SM3())
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.finalize()


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC (RFC 2104) with SM3 as the hash."""
    mac = hmac.HMAC(key, hashes.SM3())
    mac.update(data)
    return mac.finalize()
