"""A PDF input stream whose hex strings are read in one scan instead of byte by byte.

pyhanko's ``read_hex_string_from_stream`` reads a ``<...>`` string one ``stream.read(1)`` at a
time; a signature's ``/Contents`` is tens of thousands of hex digits, so reading one signature
dictionary cost more than everything else a verification does (issue 19: half of ``verify_pdf``
on a B-LT seal, and the DSS step of sealing). Streams of type :class:`ScanningBytesIO` get the
same result from a block read: find the closing ``>``, drop PDF whitespace, check the rest is hex
digits. Anything unusual (a ``%`` comment inside the string, no ``>`` before the end, a character
that is neither whitespace nor a hex digit) rewinds and takes pyhanko's own path, so errors and
edge cases are exactly pyhanko's. Every other stream (pyhanko reading for someone else, e.g. the
bench's anchor) keeps pyhanko's function unchanged.
"""

from __future__ import annotations

import binascii
import io
import re

from pyhanko.pdf_utils import generic

_WHITESPACE = b" \n\r\t\f\x00"  # pyhanko.pdf_utils.misc.PDF_WHITESPACE
_HEX_ONLY = re.compile(rb"[0-9A-Fa-f]*")
_BLOCK = 1 << 16
_pyhanko_read_hex = generic.read_hex_string_from_stream


class ScanningBytesIO(io.BytesIO):
    """A ``BytesIO`` for pyhanko readers whose hex strings are scanned in one pass."""


def _read_hex_string(stream):
    if type(stream) is not ScanningBytesIO:
        return _pyhanko_read_hex(stream)
    start = stream.tell()
    stream.read(1)  # the "<"
    parts = []
    while True:
        block = stream.read(_BLOCK)
        if not block:
            stream.seek(start)
            return _pyhanko_read_hex(stream)  # unterminated: pyhanko's own error
        end = block.find(b">")
        if end >= 0:
            parts.append(block[:end])
            break
        parts.append(block)
    body = b"".join(parts)
    digits = body.translate(None, _WHITESPACE)
    if not _HEX_ONLY.fullmatch(digits):  # a comment or a stray character: pyhanko decides
        stream.seek(start)
        return _pyhanko_read_hex(stream)
    stream.seek(start + 1 + len(body) + 1)
    if len(digits) % 2:
        digits += b"0"
    return generic.pdf_string(binascii.unhexlify(digits))


generic.read_hex_string_from_stream = _read_hex_string

__all__ = ["ScanningBytesIO"]
