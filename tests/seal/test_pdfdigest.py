"""seal/pdfdigest.py: the input is hashed once; the signature's /ByteRange digest, the SM3 before
and the SM3 after continue that state, and every one of them is the digest of its own bytes."""

from __future__ import annotations

import io

from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers

from keys.pdfscan import ScanningBytesIO
from keys.sm3 import sm3
from seal.pdf import Placement, seal_pdf
from seal.pdfdigest import PrefixDigest
from seal.pdfread import PdfLimits, open_strictly
from seal.registry import sealer_for
from tests.seal.pdfs import make_pdf
from tests.seal.support import validate_all


def _sign(sealer, data: bytes, prefix: PrefixDigest) -> bytes:
    writer, _reader, _hybrid = open_strictly(data, PdfLimits())
    writer.prefix = prefix
    meta = signers.PdfSignatureMetadata(field_name="Sig1", md_algorithm=sealer.signer.digest_algorithm,
                                        subfilter=fields.SigSeedSubFilter.PADES)
    out = ScanningBytesIO()
    signers.PdfSigner(meta, sealer.signer, new_field_spec=fields.SigFieldSpec("Sig1", box=(10, 10, 60, 60))) \
        .sign_pdf(writer, bytes_reserved=sealer._reserve("B-B"), output=out)
    return out.getvalue()


def test_the_byte_range_digest_continues_the_input_hash(seal_home, sm2_seal):
    sealer = sealer_for(seal_home.registry, sm2_seal.esid)
    data = make_pdf(3, tag="one-pass")
    prefix = PrefixDigest(data)
    signed = _sign(sealer, data, prefix)
    assert prefix.signatures == 1  # the shared state was used, not a second pass
    assert signed.startswith(data)
    [status] = validate_all(signed, seal_home.trust_pem, hard_fail=False)
    assert status.intact and status.valid, status.pretty_print_details()
    assert prefix.before == sm3(data) and prefix.after(signed) == sm3(signed)


def test_a_prefix_of_other_bytes_is_not_used(seal_home, sm2_seal):
    sealer = sealer_for(seal_home.registry, sm2_seal.esid)
    data = make_pdf(1, tag="own")
    prefix = PrefixDigest(make_pdf(1, tag="other"))  # not what is being signed
    signed = _sign(sealer, data, prefix)
    assert prefix.signatures == 0
    [status] = validate_all(signed, seal_home.trust_pem, hard_fail=False)
    assert status.intact and status.valid, status.pretty_print_details()
    assert prefix.after(signed) == sm3(signed)  # not an extension of its bytes: hashed in full


def test_p256_seals_digest_with_sha256_and_still_record_sm3(seal_home, p256_seal):
    sealer = sealer_for(seal_home.registry, p256_seal.esid)
    data = make_pdf(2, tag="p256-one-pass")
    result = seal_pdf(sealer, data, Placement(), level="B-B")
    assert result.sm3_before == sm3(data).hex() and result.sm3_after == sm3(result.pdf).hex()
    [status] = validate_all(result.pdf, seal_home.trust_pem, hard_fail=False)
    assert status.intact and status.valid
    embedded = PdfFileReader(io.BytesIO(result.pdf)).embedded_signatures[0]
    assert embedded.signer_info["digest_algorithm"]["algorithm"].native == "sha256"


def test_sealed_sm2_b_lt_records_the_sm3_of_both_documents(seal_home, sm2_seal):
    sealer = sealer_for(seal_home.registry, sm2_seal.esid)
    data = make_pdf(2, tag="sm3-records")
    result = seal_pdf(sealer, data, Placement(), level="B-LT")
    assert result.sm3_before == sm3(data).hex() and result.sm3_after == sm3(result.pdf).hex()
    [status] = validate_all(result.pdf, seal_home.trust_pem, hard_fail=True)
    assert status.bottom_line, status.pretty_print_details()
