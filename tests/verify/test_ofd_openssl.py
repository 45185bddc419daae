"""OpenSSL's CLI as the witness of the vendor deviations named in keys/ses/readings.py (README "Vendor deviations").

For each: OpenSSL refuses the value as the file holds it, and verifies it once it is re-encoded as the
deviation's reading says, over the bytes the standard names — so the deviation is the encoding (or the
hashing), not a forgery our reading lets through.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from keys import ses as keys_ses
from keys.ses import readings
from keys.sm2 import curve
from ofd import OfdPackage
from tests.helpers import require_tool
from tests.ofd.support import corpus_ofd
from verify.ofd.sign import parse_pkcs7

DISTID = "distid:1234567812345678"


@pytest.fixture(scope="module")
def openssl() -> str:
    return require_tool("openssl")


def verifies(openssl: str, tmp: Path, cert_der: bytes, data: bytes, signature: bytes, *, raw_e: bool = False) -> bool:
    key = readings.public_key(cert_der)
    (tmp / "pub.pem").write_bytes(key.public_bytes_pem())
    (tmp / "data").write_bytes(data)
    (tmp / "sig").write_bytes(signature)
    args = [openssl, "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp / "pub.pem"), "-in", str(tmp / "data"),
            "-sigfile", str(tmp / "sig")]
    if not raw_e:  # SM2-with-SM3 over the data, Z with the default ID; else the input is e itself
        args[4:4] = ["-rawin", "-digest", "sm3", "-pkeyopt", DISTID]
    result = subprocess.run(args, capture_output=True, timeout=60)
    return result.returncode == 0 and b"Signature Verified Successfully" in result.stdout


def strict(value: bytes) -> bytes:
    r, s, _deviation = readings.read_value(value)
    return curve.encode_signature(r, s)


def _signatures(name: str):
    package = OfdPackage.open(corpus_ofd(name))
    return package, package.signatures()


def test_aztsign_maker_signature_is_standard_but_for_a_negative_integer(openssl, tmp_path):
    package, (first, _second) = _signatures("anzhengtong-v4-two-seals.ofd")
    seal = keys_ses.parse_seal(package.read(first.seal))
    assert readings.read_value(seal.maker_signature)[2] is readings.NEGATIVE_INTEGER
    assert not verifies(openssl, tmp_path, seal.maker_cert, seal.signed_bytes, seal.maker_signature)
    assert verifies(openssl, tmp_path, seal.maker_cert, seal.signed_bytes, strict(seal.maker_signature))


def test_tongz_values_are_raw_r_s_of_standard_signatures(openssl, tmp_path):
    package, (seal_sig, sign_sig) = _signatures("ofdrw-keyword-pkcs7-and-v4.ofd")
    value = keys_ses.parse_signature(package.read(seal_sig.signed_value))
    assert len(value.signature) == 64
    assert not verifies(openssl, tmp_path, value.signer_cert, value.signed_bytes, value.signature)
    assert verifies(openssl, tmp_path, value.signer_cert, value.signed_bytes, strict(value.signature))
    pkcs7 = parse_pkcs7(package.read(sign_sig.signed_value))
    raw = pkcs7.signer_info["signature"].native
    assert verifies(openssl, tmp_path, pkcs7.signer_cert, pkcs7.content, strict(raw))


def test_iofd_v1_signs_its_data_hash_as_e(openssl, tmp_path):
    package, (signature,) = _signatures("ofdrw-n-v1.ofd")
    value = keys_ses.parse_signature(package.read(signature.signed_value))
    assert value.version == 1
    assert not verifies(openssl, tmp_path, value.signer_cert, value.signed_bytes, value.signature)
    assert verifies(openssl, tmp_path, value.signer_cert, value.data_hash, value.signature, raw_e=True)
