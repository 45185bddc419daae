"""keys.pki.signing: a verified signature is remembered by the hash of every input; nothing else passes."""

from __future__ import annotations

import pytest
from asn1crypto import algos, keys
from cryptography.exceptions import InvalidSignature

from keys.pki.signing import _VERIFIED, YitongSignatureValidator, signature_algorithm
from keys.sm2 import SM2PrivateKey


@pytest.fixture(scope="module")
def signed():
    key = SM2PrivateKey.generate()
    data = b"tbsCertList of a CRL"
    return key, data, key.sign(data)


def test_a_remembered_signature_still_fails_for_other_data_or_another_signature(signed):
    key, data, signature = signed
    public = keys.PublicKeyInfo.load(key.public_key().public_bytes_der())
    algorithm = signature_algorithm("sm2")
    validator = YitongSignatureValidator()
    validator.validate_signature(signature, data, public, algorithm)
    validator.validate_signature(signature, data, public, algorithm)  # the remembered answer
    with pytest.raises(InvalidSignature):
        validator.validate_signature(signature, data + b"!", public, algorithm)
    tampered = bytearray(signature)
    tampered[-1] ^= 1
    with pytest.raises(InvalidSignature):
        validator.validate_signature(bytes(tampered), data, public, algorithm)
    with pytest.raises(InvalidSignature):  # twice: a failure is never remembered
        validator.validate_signature(bytes(tampered), data, public, algorithm)


def test_a_signature_is_not_remembered_under_another_algorithm(signed):
    key, data, signature = signed
    public = keys.PublicKeyInfo.load(key.public_key().public_bytes_der())
    YitongSignatureValidator().validate_signature(signature, data, public, signature_algorithm("sm2"))
    other = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})
    assert _VERIFIED.key(signature, data, public, other, _context()) != \
        _VERIFIED.key(signature, data, public, signature_algorithm("sm2"), _context())
    with pytest.raises(Exception):  # noqa: B017 - ECDSA over an SM2 key: refused (by cryptography), never a pass
        YitongSignatureValidator().validate_signature(signature, data, public, other)


def _context():
    from pyhanko_certvalidator.sig_validate import DEFAULT_VALIDATION_CONTEXT

    return DEFAULT_VALIDATION_CONTEXT
