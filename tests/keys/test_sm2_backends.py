"""Cross-backend properties: whatever one SM2 backend makes, the other accepts, and both
refuse the same forgeries. The pure backend is slow (~100 ops/s), so examples are few."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keys.errors import DecryptionError, InvalidKey, InvalidSignature
from keys.sm2 import SM2PrivateKey, SM2PublicKey, available_backends, curve, get_backend

PAIRS = [("native", "pure"), ("pure", "native")]
few = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
messages = st.binary(max_size=300)
uids = st.binary(min_size=1, max_size=40)


def test_native_backend_loads_here_and_auto_prefers_it():
    # This machine has OpenSSL 3; if it stopped loading, every "native" figure would be a lie.
    assert not available_backends()["native"].startswith("unavailable"), available_backends()
    assert get_backend("auto").name == "native"


def test_unknown_backend_name_is_refused():
    with pytest.raises(ValueError, match="YITONG_SM2_BACKEND"):
        get_backend("fast")


@pytest.mark.parametrize(("signer", "verifier"), PAIRS)
@few
@given(message=messages)
def test_signature_by_one_backend_verifies_with_the_other(signer, verifier, message):
    key = SM2PrivateKey.generate(backend=signer)
    signature = key.sign(message)
    key.public_key().with_backend(verifier).verify(signature, message)


@pytest.mark.parametrize(("signer", "verifier"), PAIRS)
@few
@given(message=messages, uid=uids)
def test_non_default_uid_verifies_across_backends(signer, verifier, message, uid):
    key = SM2PrivateKey.generate(backend=signer)
    signature = key.sign(message, uid=uid)
    key.public_key().with_backend(verifier).verify(signature, message, uid=uid)


@pytest.mark.parametrize(("signer", "verifier"), PAIRS)
@few
@given(message=messages, other=messages)
def test_wrong_message_fails_in_both_backends(signer, verifier, message, other):
    if message == other:
        other = message + b"\x00"
    key = SM2PrivateKey.generate(backend=signer)
    with pytest.raises(InvalidSignature):
        key.public_key().with_backend(verifier).verify(key.sign(message), other)


@pytest.mark.parametrize(("signer", "verifier"), PAIRS)
@few
@given(message=messages, uid=uids)
def test_wrong_uid_fails_in_both_backends(signer, verifier, message, uid):
    key = SM2PrivateKey.generate(backend=signer)
    signature = key.sign(message, uid=uid)
    with pytest.raises(InvalidSignature):
        key.public_key().with_backend(verifier).verify(signature, message, uid=uid + b"!")


@pytest.mark.parametrize(("signer", "verifier"), PAIRS)
def test_wrong_key_fails_in_both_backends(signer, verifier):
    signature = SM2PrivateKey.generate(backend=signer).sign(b"approval 2026-001")
    stranger = SM2PrivateKey.generate(backend=verifier).public_key()
    with pytest.raises(InvalidSignature):
        stranger.verify(signature, b"approval 2026-001")


@pytest.mark.parametrize("backend", ["native", "pure"])
@pytest.mark.parametrize(
    "mangle",
    [
        lambda sig: sig[:-1],  # truncated
        lambda sig: sig + b"\x00",  # trailing garbage
        lambda sig: b"\x30\x81" + bytes([len(sig) - 2]) + sig[2:],  # non-minimal length (BER, not DER)
        lambda sig: curve.encode_signature(curve.decode_signature(sig)[0], curve.N),  # s = n
        lambda sig: curve.encode_signature(0, curve.decode_signature(sig)[1]),  # r = 0
        lambda sig: b"",
    ],
    ids=["truncated", "trailing", "ber-length", "s-equals-n", "r-zero", "empty"],
)
def test_malformed_signatures_are_refused_by_both_backends(backend, mangle):
    key = SM2PrivateKey.generate(backend=backend)
    signature = key.sign(b"x")
    with pytest.raises(InvalidSignature):
        key.public_key().verify(mangle(signature), b"x")


@pytest.mark.parametrize(("encrypter", "decrypter"), PAIRS)
@few
@given(plaintext=st.binary(min_size=1, max_size=200), der=st.booleans())
def test_encryption_round_trips_across_backends(encrypter, decrypter, plaintext, der):
    key = SM2PrivateKey.generate(backend=decrypter)
    ciphertext = key.public_key().with_backend(encrypter).encrypt(plaintext, der=der)
    if not der:
        assert len(ciphertext) == 65 + 32 + len(plaintext)  # C1 ‖ C3 ‖ C2
    assert key.decrypt(ciphertext, der=der) == plaintext


@pytest.mark.parametrize(("encrypter", "decrypter"), PAIRS)
@pytest.mark.parametrize("where", ["c3", "c2"])
def test_tampered_ciphertext_is_refused(encrypter, decrypter, where):
    key = SM2PrivateKey.generate(backend=decrypter)
    ciphertext = bytearray(key.public_key().with_backend(encrypter).encrypt(b"identity number"))
    ciphertext[65 if where == "c3" else 100] ^= 0x01
    with pytest.raises(DecryptionError):
        key.decrypt(bytes(ciphertext))


@pytest.mark.parametrize("backend", ["native", "pure"])
def test_ciphertext_for_another_key_is_refused(backend):
    ciphertext = SM2PrivateKey.generate().public_key().encrypt(b"secret")
    with pytest.raises(DecryptionError):
        SM2PrivateKey.generate(backend=backend).decrypt(ciphertext)


def test_public_key_off_the_curve_is_refused():
    with pytest.raises(InvalidKey):
        SM2PublicKey(curve.GX, curve.GY + 1)


@pytest.mark.parametrize("d", [0, curve.N - 1, curve.N])
def test_private_key_out_of_range_is_refused(d):
    with pytest.raises(InvalidKey):
        SM2PrivateKey(d)


def test_pure_backend_uses_a_fresh_nonce_each_time():
    key = SM2PrivateKey.generate(backend="pure")
    assert key.sign(b"same") != key.sign(b"same")


def test_pure_backend_survives_gmssl_lstrip_bug_for_x_starting_with_04():
    # gmssl's CryptSM2 strips every leading '0'/'4' hex digit of a public key starting "04";
    # find a key whose x coordinate starts with hex "04" (1 in 256) and check both ways.
    backend = get_backend("pure")
    for _ in range(5000):
        key = SM2PrivateKey.generate(backend="native")
        if f"{key.public_key().point()[0]:064x}".startswith("04"):
            break
    else:
        pytest.fail("no key with x starting 04 in 5000 tries")
    pure_key = key.with_backend(backend.name)
    signature = pure_key.sign(b"m")
    key.public_key().verify(signature, b"m")
    pure_key.public_key().verify(key.sign(b"m"), b"m")
