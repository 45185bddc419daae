"""keys.cms.KeySigner: PDF signatures with SM2-with-SM3 and ECDSA P-256 that pyhanko validates."""

from __future__ import annotations

import io

import pytest
from asn1crypto import cms
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from keys.cms import KeySigner, seseal_from_signer_info
from keys.pki.signing import YitongSignatureValidator
from tests.keys.pki_support import make_pki

pytestmark = pytest.mark.storage


def blank_pdf() -> bytes:
    writer = PdfFileWriter()
    page = generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Page"),
        generic.NameObject("/MediaBox"): generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 595, 842)]),
    })
    writer.insert_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture
def pki(storage, tmp_path):
    return make_pki(storage, tmp_path)


@pytest.mark.parametrize("algorithm", ["sm2", "p256"])
def test_signed_pdf_validates_with_pyhanko_and_carries_the_seal_attribute(pki, algorithm):
    record = pki.keystore.generate("seal", algorithm)
    issued = pki.issue("seal", kid=record.kid, subject="CN=Test Seal,O=Test Org,C=CN")
    key = pki.keystore.private_key(record.kid)
    ca = pki.default_ca(algorithm)
    signer = KeySigner(key, issued.certificate, [pki.ca_certificate(ca)], seseal=b"\x30\x03\x02\x01\x04")
    meta = signers.PdfSignatureMetadata(field_name="Seal1", md_algorithm=signer.digest_algorithm)
    out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(blank_pdf())), meta, signer=signer)

    reader = PdfFileReader(out)
    embedded = reader.embedded_signatures[0]
    context = ValidationContext(trust_roots=pki.roots(), allow_fetching=False, revocation_mode="soft-fail",
                                signature_validator=YitongSignatureValidator())
    status = validate_pdf_signature(embedded, context)
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    signer_info = embedded.signer_info
    expected = "sm2_sm3" if algorithm == "sm2" else "sha256_ecdsa"
    assert signer_info["signature_algorithm"]["algorithm"].native == expected
    assert signer_info["digest_algorithm"]["algorithm"].native == signer.digest_algorithm
    assert seseal_from_signer_info(signer_info) == b"\x30\x03\x02\x01\x04"


def test_tampered_sm2_pdf_fails_pyhanko_validation(pki):
    record = pki.keystore.generate("seal", "sm2")
    issued = pki.issue("seal", kid=record.kid, subject="CN=Test Seal,O=Test Org,C=CN")
    signer = KeySigner(pki.keystore.private_key(record.kid), issued.certificate, [pki.ca_certificate("sm2-issuing")])
    meta = signers.PdfSignatureMetadata(field_name="Seal1", md_algorithm="sm3")
    data = bytearray(signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(blank_pdf())), meta, signer=signer)
                     .getvalue())
    index = data.index(b"/MediaBox")
    data[index + 1] ^= 0x01  # inside the signed byte range
    embedded = PdfFileReader(io.BytesIO(bytes(data)), strict=False).embedded_signatures[0]
    context = ValidationContext(trust_roots=pki.roots(), allow_fetching=False, revocation_mode="soft-fail",
                                signature_validator=YitongSignatureValidator())
    assert not validate_pdf_signature(embedded, context).intact


def test_seal_attribute_twice_is_refused():
    attr = {"type": "yitong_seseal", "values": [cms.OctetString(b"a")]}
    info = cms.SignerInfo({"signed_attrs": [attr, attr]})
    with pytest.raises(ValueError):
        seseal_from_signer_info(info)


def test_made_seal_parses_back_and_its_maker_signature_verifies(pki):
    from datetime import UTC, datetime, timedelta

    from keys import ses

    maker = pki.keystore.generate("seal", "sm2", owner="test-maker")
    maker_cert = pki.issue("seal-maker", kid=maker.kid, subject="CN=Test Seal Maker,O=Test,C=CN").certificate
    holder = pki.keystore.generate("seal", "sm2", owner="test-holder")
    holder_cert = pki.issue("seal", kid=holder.kid, subject="CN=Test Seal,O=Test Org,C=CN").certificate
    start = datetime.now(UTC)
    der = ses.make_seal(es_id="11010020261128000001", seal_type=6, name="测试公章", certs=[holder_cert.dump()],
                        picture_type="png", picture=b"\x89PNG\r\n\x1a\n", width_mm=40, height_mm=40,
                        valid_start=start, valid_end=start + timedelta(days=365),
                        maker_key=pki.keystore.private_key(maker.kid), maker_cert=maker_cert.dump())
    seal = ses.parse_seal(der)
    assert (seal.version, seal.es_id, seal.name, seal.type) == (4, "11010020261128000001", "测试公章", 6)
    assert seal.certs == (holder_cert.dump(),)
    assert ses.verify_maker_signature(seal).passed
    tampered = der.replace("测试公章".encode(), "伪造公章".encode())
    assert not ses.verify_maker_signature(ses.parse_seal(tampered)).passed


def test_made_seal_signature_parses_back_and_every_self_contained_check_passes(pki):
    from datetime import UTC, datetime, timedelta

    from keys import ses
    from keys.sm3 import sm3

    maker = pki.keystore.generate("seal", "sm2", owner="test-maker-2")
    maker_cert = pki.issue("seal-maker", kid=maker.kid, subject="CN=Test Seal Maker,O=Test,C=CN").certificate
    holder = pki.keystore.generate("seal", "sm2", owner="test-holder-2")
    holder_cert = pki.issue("seal", kid=holder.kid, subject="CN=Test Seal,O=Test Org,C=CN").certificate
    start = datetime.now(UTC) - timedelta(minutes=1)
    seal_der = ses.make_seal(es_id="11010020261128000002", seal_type=6, name="测试公章", certs=[holder_cert.dump()],
                             picture_type="png", picture=b"\x89PNG\r\n\x1a\n", width_mm=40, height_mm=40,
                             valid_start=start, valid_end=start + timedelta(days=365),
                             maker_key=pki.keystore.private_key(maker.kid), maker_cert=maker_cert.dump())
    document = b"<ofd:Signature/>"
    der = ses.make_signature(seal_der=seal_der, data_hash=sm3(document),
                             signer_key=pki.keystore.private_key(holder.kid), signer_cert=holder_cert.dump(),
                             property_info="/Doc_0/Signs/Sign_0/Signature.xml",
                             time_stamp=lambda value: b"token over " + value[:4])
    signature = ses.parse_signature(der)
    assert signature.version == 4 and signature.seal.es_id == "11010020261128000002"
    assert signature.property_info == "/Doc_0/Signs/Sign_0/Signature.xml"
    assert signature.timestamp.startswith(b"token over ")
    result = ses.verify_signature(signature, document)
    assert result.passed, result.failures
    assert not ses.verify_signature(signature, document + b" ").passed
    with pytest.raises(ses.SesError):
        ses.make_signature(seal_der=seal_der, data_hash=b"short", signer_key=pki.keystore.private_key(holder.kid),
                           signer_cert=holder_cert.dump(), property_info="x")
