"""The bytes an ASN.1 value was read from, for checking the signature over it.

asn1crypto 1.5's ``dump()`` takes a definite length whose last byte is 0x80 (``30 82 5D 80``: 23,936
bytes) for the indefinite form and re-encodes the whole value, children and all, on every call.
For a value that was strictly DER this costs time (seconds on a big CRL or CMS structure: seen in
sealing, seal/pdfcms.py); for one that was not (a BOOLEAN TRUE as 01, say, which real CAs emit), the
re-encoding differs from what was signed, so a good signature would fail one time in 256. A
signature covers the bytes as received (as OpenSSL checks them), so those are what we hand on.
"""

from __future__ import annotations

from asn1crypto.core import Asn1Value


def signed_bytes(value: Asn1Value) -> bytes:
    """``value``'s encoding as parsed; ``dump()`` for a value built or changed in memory."""
    header = value._header
    changed = getattr(value, "_is_mutated", None)
    if header is None or value.contents is None or (changed is not None and changed()):
        return value.dump()
    return header + value.contents + (value._trailer or b"")
