"""Published test vectors: SM3 (GB/T 32905 Annex A), SM4 (GB/T 32907 Annex A), SM2 (GB/T 32918.5)."""

from __future__ import annotations

import pytest

from keys.sm2 import SM2PrivateKey, SM2PublicKey, curve, get_backend
from keys.sm3 import hmac_sm3, sm3
from keys.sm4 import SM4GCM, sm4_cbc_decrypt, sm4_cbc_encrypt

# GB/T 32918.5-2017 (= GM/T 0003.5) worked examples on the recommended curve, default user ID.
D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
XA = 0x09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020
YA = 0xCCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13
K = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
ZA = "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3"
R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA
CIPHERTEXT = bytes.fromhex(
    "04"
    "04EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73"
    "E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0"
    "59983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766"  # C3
    "21886CA989CA9C7D58087307CA93092D651EFA"  # C2
)
BACKENDS = ["native", "pure"]


def test_sm3_of_abc():
    assert sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_sm3_of_abcd_sixteen_times():
    assert sm3(b"abcd" * 16).hex() == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


def test_sm4_example_of_gb_t_32907():
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    block = Cipher(algorithms.SM4(key), modes.ECB()).encryptor().update(key)  # noqa: S305  (one block: the vector)
    assert block.hex() == "681edf34d206965e86b3e94f536e4246"


def test_sm4_cbc_first_block_is_the_ecb_vector_under_a_zero_iv():
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    ciphertext = sm4_cbc_encrypt(key, bytes(16), key)
    assert ciphertext[:16].hex() == "681edf34d206965e86b3e94f536e4246"
    assert sm4_cbc_decrypt(key, bytes(16), ciphertext) == key


def test_sm4_gcm_round_trip_binds_the_associated_data():
    aead = SM4GCM(SM4GCM.generate_key())
    sealed = aead.seal(b"licence", b"kid-1")
    assert aead.open(sealed, b"kid-1") == b"licence"
    from keys.errors import DecryptionError

    with pytest.raises(DecryptionError):
        aead.open(sealed, b"kid-2")


def test_hmac_sm3_differs_by_key_and_is_32_bytes():
    assert len(hmac_sm3(b"k1", b"m")) == 32
    assert hmac_sm3(b"k1", b"m") != hmac_sm3(b"k2", b"m")


@pytest.mark.parametrize("backend", BACKENDS)
def test_sm2_public_key_of_the_published_private_key(backend):
    assert get_backend(backend).public_point(D) == (XA, YA)


def test_sm2_z_value_of_the_published_key_with_the_default_id():
    assert curve.z_value(curve.DEFAULT_UID, XA, YA).hex().upper() == ZA


def test_sm2_signature_with_the_published_nonce_reproduces_r_and_s():
    backend = get_backend("pure")
    handle = backend.load_private(D, XA, YA)
    signature = backend.sign_with_nonce(handle, curve.DEFAULT_UID, b"message digest", K)
    assert curve.decode_signature(signature) == (R, S)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sm2_published_signature_verifies(backend):
    public = SM2PublicKey(XA, YA, backend=backend)
    public.verify(curve.encode_signature(R, S), b"message digest")


@pytest.mark.parametrize("backend", BACKENDS)
def test_sm2_published_signature_fails_for_another_message(backend):
    from keys.errors import InvalidSignature

    with pytest.raises(InvalidSignature):
        SM2PublicKey(XA, YA, backend=backend).verify(curve.encode_signature(R, S), b"message digesT")


def test_sm2_encryption_with_the_published_nonce_reproduces_c1_c3_c2():
    backend = get_backend("pure")
    handle = backend.load_public(XA, YA)
    assert backend.encrypt_with_nonce(handle, b"encryption standard", K) == CIPHERTEXT


@pytest.mark.parametrize("backend", BACKENDS)
def test_sm2_published_ciphertext_decrypts(backend):
    key = SM2PrivateKey(D, backend=backend)
    assert key.decrypt(CIPHERTEXT) == b"encryption standard"
    assert key.decrypt(curve.cipher_raw_to_der(CIPHERTEXT), der=True) == b"encryption standard"
