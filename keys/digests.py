"""Digest by algorithm name: the one place that knows SM3 is not in hashlib.

Names are asn1crypto's / pyhanko's lower-case ones (``sha256``, ``sm3``...). SHA-1 is only ever
used to match identifiers the standards fix to it (OCSP CertID, certList digests), never to sign.
"""

from __future__ import annotations

import hashlib

from keys.sm3 import sm3


def digest(name: str, data: bytes) -> bytes:
    """``data`` hashed with the algorithm called ``name``; ValueError for a name hashlib does not know."""
    if name == "sm3":
        return sm3(data)
    if name == "sha1":
        return hashlib.sha1(data, usedforsecurity=False).digest()
    return hashlib.new(name, data).digest()


__all__ = ["digest"]
