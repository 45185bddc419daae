"""keys.ses against the shared GB/T 38540 corpus (seals and signatures made by other implementations).

The corpus is found through YITONG_CORPUS (default <repo>/../shared/corpus). Its absence fails
under CI=true and skips elsewhere, with the reason.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from keys import KeysError
from keys.ses import (
    SesError,
    SESSealInfo,
    SESSignature,
    VerificationResult,
    parse_seal,
    parse_signature,
    verify_maker_signature,
    verify_signature,
)
from keys.sm3 import sm3
from tests.helpers import CI

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("YITONG_CORPUS") or REPO.parent / "shared" / "corpus")
SES = CORPUS / "ses"


def _folder(name: str) -> Path:
    folder = SES / name
    if not (folder / "SignedValue.dat").is_file():
        message = f"GB/T 38540 corpus folder {folder} is absent (set YITONG_CORPUS to the shared corpus)"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    return folder


def _read(name: str, file: str) -> bytes:
    return (_folder(name) / file).read_bytes()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- v4signed: the tax-bureau invoice supervision seal ----------------------------------------------
def test_v4signed_parses_as_v4_with_the_readme_facts():
    signature = parse_signature(_read("v4signed", "SignedValue.dat"))
    seal = signature.seal
    assert signature.version == 4 and seal.version == 4
    assert seal.es_id == "50011200000399"
    assert "全国统一发票监制章" in seal.name
    assert seal.type == 3
    assert (seal.picture_type, seal.picture_width_mm, seal.picture_height_mm) == ("ofd", 30, 20)
    assert seal.valid_start.date().isoformat() == "2020-10-07"
    assert seal.valid_end.date().isoformat() == "2023-10-07"
    assert seal.valid_start.tzinfo is not None and signature.time_info.tzinfo is not None
    assert signature.time_info == utc(2020, 10, 10, 7, 11, 20)
    assert seal.cert_list_type == 1 and len(seal.certs) == 1 and seal.cert_digests == ()
    assert signature.signer_cert in seal.certs
    assert signature.signature_algorithm == seal.signature_algorithm == "1.2.156.10197.1.501"
    assert signature.property_info == "/Doc_0/Signs/Sign_0/Signature.xml"
    assert not signature.has_timestamp
    assert seal.extensions == (("1.2.156.10197.6.7.2.2.1", False, b"2.1"),)


def test_v4signed_verifies():
    signature = parse_signature(_read("v4signed", "SignedValue.dat"))
    document = _read("v4signed", "Signature.xml")
    assert sm3(document) == signature.data_hash
    result = verify_signature(signature, document)
    assert result.passed, result.failures
    assert [check.name for check in result.checks] == [
        "signature", "data_hash", "seal_maker_signature", "signer_in_cert_list", "seal_valid_at_signing_time"]
    assert "certificate chains" in result.unchecked
    assert verify_maker_signature(signature.seal).passed


def test_signed_bytes_are_the_received_bytes_not_a_reencoding():
    """asn1crypto re-encoding v4signed drops the explicit DEFAULT critical FALSE in extDatas.

    Verifying over that re-encoding would fail, so keys.ses slices the received bytes.
    """
    der = _read("v4signed", "SignedValue.dat")
    signature = parse_signature(der)
    assert signature.signed_bytes == der[4:4 + 4 + 5115]  # TBS_Sign at offset 4, header 4, length 5115
    parsed = SESSignature.load(der)
    assert parsed["to_sign"].dump() == signature.signed_bytes  # untouched: dump() is the original bytes
    reencoded = SESSealInfo.load(signature.seal.signed_bytes).dump(force=True)
    assert reencoded != signature.seal.signed_bytes
    assert len(reencoded) == len(signature.seal.signed_bytes) - 3  # BOOLEAN FALSE (01 01 00) dropped


# -- SESV4SignDoc: valid signatures on an expired seal ---------------------------------------------
def test_sesv4signdoc_signatures_valid_but_seal_expired_at_signing_time():
    signature = parse_signature(_read("SESV4SignDoc", "SignedValue.dat"))
    seal = signature.seal
    assert signature.version == 4
    assert (seal.picture_type, seal.picture_width_mm, seal.picture_height_mm) == ("PNG", 40, 40)
    assert seal.picture_data.startswith(b"\x89PNG")
    assert seal.valid_end.date().isoformat() == "2022-04-22"
    assert signature.time_info.date().isoformat() == "2026-08-04"
    result = verify_signature(signature, _read("SESV4SignDoc", "Signature.xml"))
    for name in ("signature", "data_hash", "seal_maker_signature", "signer_in_cert_list"):
        assert result.check(name).passed, result.check(name)
    validity = result.check("seal_valid_at_signing_time")
    assert not validity.passed and validity.sub_indication == "EXPIRED"
    assert not result.passed and result.failures == (validity,)


def test_sesv4signdoc_seal_file_matches_the_embedded_seal():
    seal = parse_seal(_read("SESV4SignDoc", "Seal.esl"))
    assert seal == parse_signature(_read("SESV4SignDoc", "SignedValue.dat")).seal
    assert verify_maker_signature(seal).passed


# -- n: a GM/T 0031-2014 (V1) signature ----------------------------------------------------------
def test_v1_signature_is_parsed_and_reported_as_version_1():
    signature = parse_signature(_read("n", "SignedValue.dat"))
    assert signature.version == 1 and signature.seal.version == 1
    assert signature.seal.name == "某某省人力资源和社会测试章"
    assert signature.seal.valid_start == utc(2019, 12, 18, 12, 53, 46)  # UTCTime in V1
    assert signature.seal.valid_end == utc(2029, 12, 18, 12, 53, 46)
    assert signature.time_info == utc(2020, 1, 25, 7, 31, 56, 377000)  # ASCII text in a BIT STRING
    assert (signature.seal.picture_type, signature.seal.picture_width_mm) == ("PNG", 33)
    assert len(signature.data_hash) == 32 and signature.signer_cert
    result = verify_signature(signature, None)
    assert not result.passed  # V1 cryptography is not verified here, and says so
    assert "not verified" in result.check("signature").reason
    assert parse_seal(_read("n", "Seal.esl")).version == 1


# -- negative cases -------------------------------------------------------------------------------
def test_flipped_signature_byte_fails():
    der = bytearray(_read("v4signed", "SignedValue.dat"))
    der[-10] ^= 0x01  # inside the final BIT STRING (the signer's SEQUENCE{r, s})
    result = verify_signature(parse_signature(bytes(der)), _read("v4signed", "Signature.xml"))
    assert not result.passed
    assert not result.check("signature").passed
    assert result.check("data_hash").passed


def test_flipped_byte_in_seal_info_fails_maker_and_signer_signatures():
    der = bytearray(_read("v4signed", "SignedValue.dat"))
    der[36 + 2 + 13] ^= 0x01  # last digit of esID "50011200000399" -> "50011200000398"
    signature = parse_signature(bytes(der))
    assert signature.seal.es_id == "50011200000398"
    result = verify_signature(signature, _read("v4signed", "Signature.xml"))
    assert not result.check("seal_maker_signature").passed
    assert not result.check("signature").passed


def test_changed_document_fails_the_data_hash_check():
    document = _read("v4signed", "Signature.xml").replace(b"Signature", b"Signaturf", 1)
    result = verify_signature(parse_signature(_read("v4signed", "SignedValue.dat")), document)
    assert not result.check("data_hash").passed
    assert result.check("signature").passed
    assert not result.passed


def test_without_document_the_hash_is_listed_as_unchecked():
    result = verify_signature(parse_signature(_read("v4signed", "SignedValue.dat")), None)
    assert "data_hash" not in [check.name for check in result.checks]
    assert any(item.startswith("data hash") for item in result.unchecked)


@pytest.mark.parametrize("cut", [1, 100, 3000, 6438])
def test_truncated_der_raises_ses_error(cut):
    der = _read("v4signed", "SignedValue.dat")
    with pytest.raises(SesError) as info:
        parse_signature(der[:cut])
    assert isinstance(info.value, KeysError)


@pytest.mark.parametrize("data", [b"", b"\x04\x03abc", b"\x30\x03\x02\x01\x04", b"\x30\x80\x00\x00"])
def test_garbage_raises_ses_error(data):
    with pytest.raises(SesError):
        parse_signature(data)
    with pytest.raises(SesError):
        parse_seal(data)


def test_trailing_data_raises_ses_error():
    with pytest.raises(SesError, match="trailing"):
        parse_signature(_read("v4signed", "SignedValue.dat") + b"\x00")


def test_an_empty_check_list_cannot_pass():
    assert not VerificationResult(()).passed
    assert not VerificationResult(())


def _with_digest_list(der: bytes, digest: bytes, algorithm: str = "sm3") -> bytes:
    """v4signed re-encoded with certListType 2 (its maker signature no longer verifies; irrelevant here)."""
    from asn1crypto import core

    from keys.ses import CertDigestList

    value = SESSignature.load(der)
    prop = value["to_sign"]["eseal"]["e_seal_info"]["property"]
    prop["cert_list_type"] = 2
    prop["cert_list"] = core.Any(CertDigestList([{"type": algorithm, "value": digest}]))
    return value.dump(force=True)


def test_cert_digest_list_is_matched_by_digest():
    der = _read("v4signed", "SignedValue.dat")
    signer = parse_signature(der).signer_cert
    signature = parse_signature(_with_digest_list(der, sm3(signer)))
    assert signature.seal.cert_list_type == 2 and signature.seal.certs == ()
    assert signature.seal.cert_digests[0].algorithm == "sm3"
    result = verify_signature(signature, None)
    assert result.check("signer_in_cert_list").passed
    assert not result.check("seal_maker_signature").passed  # the seal info changed
    other = parse_signature(_with_digest_list(der, bytes(32)))
    assert not verify_signature(other, None).check("signer_in_cert_list").passed
