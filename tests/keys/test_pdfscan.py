"""keys.pdfscan: the one-pass hex-string reader gives exactly what pyhanko's byte-by-byte reader gives."""

from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfError

from keys.pdfscan import ScanningBytesIO, _pyhanko_read_hex

CASES = [
    b"<48656C6C6F> rest",
    b"<48 65\n6c\r\n6C\t6F\x00\x0c> rest",  # every PDF whitespace inside
    b"<486> rest",  # odd length: a trailing 0 (ISO 32000-1 7.3.4.3)
    b"<> rest",
    b"<" + b"0A" * 70000 + b"> rest",  # longer than one read block
    b"<41 % a comment\n42> rest",  # a comment: pyhanko's own path
]


@pytest.mark.parametrize("raw", CASES)
def test_same_value_and_position_as_pyhanko(raw):
    theirs_stream, ours_stream = io.BytesIO(raw), ScanningBytesIO(raw)
    theirs = _pyhanko_read_hex(theirs_stream)
    ours = generic.read_hex_string_from_stream(ours_stream)
    assert type(ours) is type(theirs)
    assert bytes(ours.original_bytes) == bytes(theirs.original_bytes)
    assert ours_stream.tell() == theirs_stream.tell()
    assert ours_stream.read() == b" rest"


@pytest.mark.parametrize("raw", [b"<48656Z> rest", b"<4865", b"<48(65)>"])
def test_bad_hex_strings_fail_as_in_pyhanko(raw):
    with pytest.raises(PdfError) as theirs:
        _pyhanko_read_hex(io.BytesIO(raw))
    with pytest.raises(PdfError) as ours:
        generic.read_hex_string_from_stream(ScanningBytesIO(raw))
    assert str(ours.value) == str(theirs.value)


def test_a_whole_object_reads_through_the_scanner():
    raw = b"<< /Contents <3082 0001> /Name (x) >>"
    value = generic.read_object(ScanningBytesIO(raw), generic.Reference(1, 0))
    assert bytes(value["/Contents"].original_bytes) == bytes.fromhex("30820001")
