"""seal/pdfcms.py: CMS values that pyhanko writes into the PDF are the DER we assembled, never
re-encoded by asn1crypto, and the in-process TSA's token is taken from its response as it came."""

from __future__ import annotations

import io

import pytest
from asn1crypto import cms, core, tsp
from pyhanko.pdf_utils.reader import PdfFileReader

from keys.der import signed_bytes
from keys.digests import digest
from seal.pdf import Placement, seal_pdf
from seal.pdfcms import _der, encoded_content_info
from seal.registry import sealer_for
from tests.seal.pdfs import make_pdf


def _content_info_of_length(length: int) -> bytes:
    """A ContentInfo (id-data, an OCTET STRING) whose outer contents are ``length`` bytes long."""
    oid = _der(0x06, bytes.fromhex("2a864886f70d010701"))  # 1.2.840.113549.1.7.1 id-data
    for size in range(length):
        inner = oid + _der(0xA0, _der(0x04, b"\x5a" * size))
        if len(inner) == length:
            return _der(0x30, inner)
    raise AssertionError(f"no padding gives {length} bytes")


def test_a_length_ending_in_0x80_is_handed_back_as_it_was_encoded():
    # 0x5D80 bytes of contents: the header is 30 82 5D 80. asn1crypto 1.5 takes a header ending in
    # 0x80 for the indefinite form and re-encodes such a value on every dump() (the B-LT sealing
    # stall: minutes of CPU on a nested SignerInfo).
    der = _content_info_of_length(0x5D80)
    assert der[:4] == bytes.fromhex("30825d80")
    plain = cms.ContentInfo.load(der)
    plain.dump()
    assert plain._header[-1:] == b"\x80"  # the condition asn1crypto mistakes for indefinite length

    ours = encoded_content_info(der)
    assert ours.dump() is der  # no re-encoding at all, not merely equal bytes
    assert ours["content_type"].native == "data"  # it still reads as a ContentInfo
    ours["content_type"] = "signed_data"  # changed after loading: then it is encoded again
    assert ours.dump() != der and ours.dump()[:4] == der[:4]


def test_the_parts_of_a_sequence_are_handed_on_byte_for_byte():
    """What token_der takes from the TSA's response (keys/der.py), here on a SEQUENCE whose second
    part has a long length."""
    parts = [_der(0x02, b"\x01"), _der(0x04, b"x" * 300), _der(0x30, b"")]
    sequence = core.Sequence.load(_der(0x30, b"".join(parts)))
    assert [signed_bytes(sequence[i]) for i in range(3)] == parts
    with pytest.raises(ValueError):
        core.Sequence.load(_der(0x30, b"".join(parts)) + b"\x00", strict=True)  # trailing bytes


def test_in_process_tsa_token_is_the_authoritys_der(seal_home, sm2_seal):
    stamper = sealer_for(seal_home.registry, sm2_seal.esid).timestamper
    imprint = digest("sm3", b"a signature value")
    token = stamper.token_der(imprint, "sm3")
    info = cms.ContentInfo.load(token)
    tst = info["content"]["encap_content_info"]["content"].parsed
    assert tst["message_imprint"]["hashed_message"].native == imprint
    assert info.dump(force=True) == token  # it is DER
    certificates = [c.chosen.dump() for c in info["content"]["certificates"]]
    assert sorted(certificates) == sorted(c.dump() for c in stamper.certificates)  # a SET OF: DER sorts it
    with pytest.raises(ValueError, match="refused"):
        stamper.token_der(b"\x00" * 16, "md5")  # the TSA rejects MD5 imprints


def test_b_lt_dss_holds_the_tsa_certificates(seal_home, sm2_seal):
    sealer = sealer_for(seal_home.registry, sm2_seal.esid)
    result = seal_pdf(sealer, make_pdf(1, tag="dss-tsa"), Placement(), level="B-LT")
    reader = PdfFileReader(io.BytesIO(result.pdf))
    in_dss = {ref.get_object().data for ref in reader.root["/DSS"]["/Certs"]}
    for certificate in sealer.timestamper.certificates:
        assert certificate.dump() in in_dss
    embedded = reader.embedded_signatures[0]
    [attr] = [a for a in embedded.signer_info["unsigned_attrs"] if a["type"].native == "signature_time_stamp_token"]
    assert isinstance(attr["values"][0], cms.ContentInfo) and not isinstance(attr["values"][0], tsp.TimeStampResp)
