"""keys.ses.readings: SM2 values as vendors write them; a deviation is named only when the strict reading fails."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keys.errors import InvalidSignature
from keys.ses import readings
from keys.sm2 import SM2PrivateKey, curve
from keys.sm3 import sm3
from keys.verdict import CheckName


def self_signed_sm2(key: SM2PrivateKey) -> bytes:
    from datetime import UTC, datetime, timedelta

    from asn1crypto.keys import PublicKeyInfo

    from keys.pki.certificates import Issuer, build_certificate
    from keys.pki.profiles import parse_subject, profile

    name = parse_subject("CN=Readings Test,O=Yitong Test,C=CN")
    now = datetime.now(UTC)
    issuer = Issuer(name, key, b"\x01" * 20, "test", None)
    return build_certificate(subject=name, public_key_info=PublicKeyInfo.load(key.public_key().public_bytes_der()),
                             issuer=issuer, profile=profile("seal"), not_before=now - timedelta(days=1),
                             not_after=now + timedelta(days=1)).dump()

MESSAGE = b"<ofd:Signature>...</ofd:Signature>"


@pytest.fixture(scope="module")
def signer():
    key = SM2PrivateKey.generate()
    return key, self_signed_sm2(key)


def _sign_e(key: SM2PrivateKey, e: bytes) -> bytes:
    """GB/T 32918.2 §6.1 A3-A7 for a given e (what a signer does that pre-hashes its own way)."""
    import secrets

    from keys.sm2._pure import PureBackend

    d = key._d  # the test's own key
    while True:
        k = secrets.randbelow(curve.N - 1) + 1
        x1, _ = PureBackend()._mul_g(k)
        r = (int.from_bytes(e, "big") + x1) % curve.N
        s = (pow(1 + d, -1, curve.N) * (k - r * d)) % curve.N
        if r and r + k != curve.N and s:
            return curve.encode_signature(r, s)


def _negative(r: int, s: int) -> bytes:
    body = b""
    for value in (r, s):
        raw = value.to_bytes(32, "big")
        body += b"\x02" + bytes([len(raw)]) + raw  # no 0x00 pad: negative when the high bit is set
    return b"\x30" + bytes([len(body)]) + body


def test_strict_der_passes_without_a_deviation(signer):
    key, cert = signer
    step, deviation = readings.check(CheckName.SIGNATURE, cert, None, key.sign(MESSAGE), MESSAGE, "signer")
    assert step.passed and deviation is None


def test_raw_and_negative_integer_encodings_pass_named(signer):
    key, cert = signer
    for _ in range(200):  # until r has its high bit set, so the unpadded form really is negative
        r, s = curve.decode_signature(key.sign(MESSAGE))
        if r >> 255:
            break
    assert r >> 255
    step, deviation = readings.check(CheckName.SIGNATURE, cert, None, r.to_bytes(32, "big") + s.to_bytes(32, "big"),
                                     MESSAGE, "signer")
    assert step.passed and deviation is readings.RAW_R_S
    step, deviation = readings.check(CheckName.SIGNATURE, cert, None, _negative(r, s), MESSAGE, "signer")
    assert step.passed and deviation is readings.NEGATIVE_INTEGER


def test_a_prehashed_value_passes_only_as_the_named_v1_deviation_and_a_wrong_one_fails(signer):
    key, cert = signer
    e = sm3(MESSAGE)
    # sign e as the SM2 e value: what iOFD's V1 does with its dataHash
    value = _sign_e(key, e)
    step, deviation = readings.check(CheckName.SIGNATURE, cert, None, value, b"other bytes", "signer", prehashed=e)
    assert step.passed and deviation is readings.V1_OVER_DATAHASH
    step, deviation = readings.check(CheckName.SIGNATURE, cert, None, value, b"other bytes", "signer")
    assert not step.passed and step.sub_indication == "SIG_CRYPTO_FAILURE" and deviation is None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80))
def test_any_bytes_read_or_refuse_with_invalid_signature(value):
    try:
        r, s, _deviation = readings.read_value(value)
        assert r >= 0 and s >= 0
    except InvalidSignature:
        pass
