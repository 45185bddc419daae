"""keys/der.py: a signature is checked over the bytes as received, even where asn1crypto 1.5 would
re-encode them (a definite length whose last byte is 0x80, taken for the indefinite form)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import core, keys, x509

from keys.asymmetric import generate_private_key
from keys.der import signed_bytes
from keys.pki.certificates import verify_certificate_signature
from keys.pki.signing import signature_algorithm


def _tbs_with_length_ending_in_0x80(issuer_name: x509.Name, spki: keys.PublicKeyInfo, algorithm) -> bytes:
    """A TBSCertificate whose basicConstraints says cA TRUE as 01 (BER, which some CAs emit; DER wants FF),
    padded with a private extension until its contents are 0x..80 bytes long."""
    for pad in range(0, 300):
        now = datetime(2026, 1, 1, tzinfo=UTC)
        tbs = x509.TbsCertificate({
            "version": "v3", "serial_number": 4242, "signature": algorithm, "issuer": issuer_name,
            "validity": {"not_before": x509.Time({"utc_time": now}),
                         "not_after": x509.Time({"utc_time": now + timedelta(days=30)})},
            "subject": issuer_name, "subject_public_key_info": spki,
            "extensions": [{"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": True}},
                           {"extn_id": "1.2.156.99999.1", "critical": False,
                            "extn_value": core.OctetString(b"p" * pad).dump()}]}).dump()
        header_length = 2 + (tbs[1] & 0x7F)
        if tbs[1] & 0x80 and tbs[header_length - 1] == 0x80:
            assert b"\x30\x03\x01\x01\xff" in tbs
            return tbs.replace(b"\x30\x03\x01\x01\xff", b"\x30\x03\x01\x01\x01")
    raise AssertionError("no padding gave a length ending in 0x80")


@pytest.mark.parametrize("algorithm", ["sm2", "p256"])
def test_a_good_signature_over_a_ber_boolean_verifies_when_the_length_ends_in_0x80(algorithm):
    key = generate_private_key(algorithm)
    spki = keys.PublicKeyInfo.load(key.public_key().public_bytes_der())
    name = x509.Name.build({"common_name": "0x80 CA"})
    sig_alg = signature_algorithm(key.algorithm)
    tbs = _tbs_with_length_ending_in_0x80(name, spki, sig_alg)
    signature = core.BitString.load(core.OctetBitString(key.sign(tbs)).dump()).dump()
    body = tbs + sig_alg.dump() + signature
    der = b"\x30\x82" + len(body).to_bytes(2, "big") + body
    certificate = x509.Certificate.load(der)
    assert signed_bytes(certificate["tbs_certificate"]) == tbs
    verify_certificate_signature(certificate, certificate)  # raises if the re-encoding were checked
    # What asn1crypto's dump() hands over instead (and keeps from then on): FF, re-encoded.
    assert x509.Certificate.load(der)["tbs_certificate"].dump() != tbs


def test_a_value_built_or_changed_in_memory_is_dumped():
    class Pair(core.Sequence):
        _fields = [("flag", core.Boolean), ("data", core.OctetString)]

    received = b"\x30\x81\x80\x01\x01\x01\x04\x7b" + b"b" * 123
    pair = Pair.load(received)
    assert signed_bytes(pair) == received
    pair["data"] = b"short"
    assert signed_bytes(pair) == pair.dump() == bytes.fromhex("300a010101040573686f7274")
    built = Pair({"flag": True, "data": b"x"})
    assert signed_bytes(built) == built.dump()
