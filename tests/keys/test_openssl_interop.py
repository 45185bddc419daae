"""Interop with the OpenSSL 3 CLI, a peer that knows nothing of our code.

OpenSSL 3.0's default SM2 distinguishing ID is EMPTY, so every call passes
distid:1234567812345678 (or the custom ID under test) explicitly.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from keys.errors import InvalidSignature
from keys.sm2 import SM2PrivateKey, SM2PublicKey
from tests.helpers import require_tool

DISTID = "distid:1234567812345678"
MESSAGE = "津政务〔2026〕1号 approval of the business licence of 91120000MA05XXXX0X".encode()


@pytest.fixture(scope="module")
def openssl() -> str:
    return require_tool("openssl")


def run(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), input=input, capture_output=True, timeout=60)


def openssl_verify(openssl: str, pub: Path, data: Path, sig: Path, distid: str = DISTID):
    return run(openssl, "pkeyutl", "-verify", "-pubin", "-inkey", str(pub), "-rawin", "-digest", "sm3",
               "-pkeyopt", distid, "-in", str(data), "-sigfile", str(sig))


@pytest.fixture
def files(tmp_path):
    data = tmp_path / "data.bin"
    data.write_bytes(MESSAGE)
    return tmp_path, data


@pytest.mark.parametrize("backend", ["native", "pure"])
def test_our_signature_verifies_with_openssl(openssl, files, backend):
    tmp, data = files
    key = SM2PrivateKey.generate(backend=backend)
    (tmp / "pub.pem").write_bytes(key.public_key().public_bytes_pem())
    (tmp / "sig.der").write_bytes(key.sign(MESSAGE))
    result = openssl_verify(openssl, tmp / "pub.pem", data, tmp / "sig.der")
    assert result.returncode == 0, result.stderr
    assert b"Signature Verified Successfully" in result.stdout


def test_openssl_rejects_our_signature_of_other_data(openssl, files):
    tmp, data = files
    key = SM2PrivateKey.generate()
    (tmp / "pub.pem").write_bytes(key.public_key().public_bytes_pem())
    (tmp / "sig.der").write_bytes(key.sign(MESSAGE + b"."))
    assert openssl_verify(openssl, tmp / "pub.pem", data, tmp / "sig.der").returncode != 0


@pytest.mark.parametrize("backend", ["native", "pure"])
def test_our_signature_with_a_custom_uid_verifies_with_openssl(openssl, files, backend):
    tmp, data = files
    key = SM2PrivateKey.generate(backend=backend)
    (tmp / "pub.pem").write_bytes(key.public_key().public_bytes_pem())
    (tmp / "sig.der").write_bytes(key.sign(MESSAGE, uid=b"ALICE123@YAHOO.COM"))
    ok = openssl_verify(openssl, tmp / "pub.pem", data, tmp / "sig.der", "distid:ALICE123@YAHOO.COM")
    assert ok.returncode == 0, ok.stderr
    assert openssl_verify(openssl, tmp / "pub.pem", data, tmp / "sig.der").returncode != 0


@pytest.mark.parametrize("backend", ["native", "pure"])
def test_openssl_signature_verifies_with_ours(openssl, files, backend):
    tmp, data = files
    assert run(openssl, "genpkey", "-algorithm", "SM2", "-out", str(tmp / "key.pem")).returncode == 0
    assert run(openssl, "pkey", "-in", str(tmp / "key.pem"), "-pubout", "-out", str(tmp / "pub.pem")).returncode == 0
    signed = run(openssl, "pkeyutl", "-sign", "-inkey", str(tmp / "key.pem"), "-rawin", "-digest", "sm3",
                 "-pkeyopt", DISTID, "-in", str(data), "-out", str(tmp / "sig.der"))
    assert signed.returncode == 0, signed.stderr
    public = SM2PublicKey.from_pem((tmp / "pub.pem").read_bytes(), backend=backend)
    public.verify((tmp / "sig.der").read_bytes(), MESSAGE)
    with pytest.raises(InvalidSignature):
        public.verify((tmp / "sig.der").read_bytes(), MESSAGE, uid=b"")


def test_openssl_private_key_pem_loads_and_matches_its_public_key(openssl, tmp_path):
    assert run(openssl, "genpkey", "-algorithm", "SM2", "-out", str(tmp_path / "key.pem")).returncode == 0
    assert run(openssl, "pkey", "-in", str(tmp_path / "key.pem"), "-pubout",
               "-out", str(tmp_path / "pub.pem")).returncode == 0
    key = SM2PrivateKey.from_pem((tmp_path / "key.pem").read_bytes())
    assert key.public_key() == SM2PublicKey.from_pem((tmp_path / "pub.pem").read_bytes())


def test_sec1_ec_private_key_as_openssl_1_1_wrote_it_loads(openssl, tmp_path):
    # OpenSSL 1.1.1's `ecparam -genkey -name SM2` wrote SEC1 "EC PRIVATE KEY"; 3.0 cannot write
    # it for SM2, so unwrap the ECPrivateKey from a PKCS#8 that OpenSSL 3 made.
    from asn1crypto import keys as asn1_keys
    from asn1crypto import pem

    assert run(openssl, "genpkey", "-algorithm", "SM2", "-out", str(tmp_path / "key.pem")).returncode == 0
    _, _, der = pem.unarmor((tmp_path / "key.pem").read_bytes())
    sec1 = asn1_keys.PrivateKeyInfo.load(der)["private_key"].contents
    key = SM2PrivateKey.from_pem(pem.armor("EC PRIVATE KEY", sec1))
    assert key.public_key() == SM2PrivateKey.from_pem((tmp_path / "key.pem").read_bytes()).public_key()


def test_our_private_key_pem_is_read_by_openssl_as_sm2(openssl, tmp_path):
    key = SM2PrivateKey.generate()
    (tmp_path / "key.pem").write_bytes(key.private_bytes_pem())
    text = run(openssl, "pkey", "-in", str(tmp_path / "key.pem"), "-text", "-noout")
    assert text.returncode == 0, text.stderr
    assert b"SM2" in text.stdout
    derived = run(openssl, "pkey", "-in", str(tmp_path / "key.pem"), "-pubout")
    assert SM2PublicKey.from_pem(derived.stdout) == key.public_key()


def test_our_encrypted_private_key_is_read_by_openssl_and_theirs_by_us(openssl, tmp_path):
    key = SM2PrivateKey.generate()
    (tmp_path / "ours.pem").write_bytes(key.private_bytes_pem(password=b"correct horse"))
    out = run(openssl, "pkey", "-in", str(tmp_path / "ours.pem"), "-passin", "pass:correct horse", "-pubout")
    assert out.returncode == 0, out.stderr
    assert SM2PublicKey.from_pem(out.stdout) == key.public_key()

    theirs = run(openssl, "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", str(tmp_path / "ours.pem"),
                 "-passin", "pass:correct horse", "-passout", "pass:battery staple")
    assert theirs.returncode == 0, theirs.stderr
    assert SM2PrivateKey.from_pem(theirs.stdout, password=b"battery staple").public_key() == key.public_key()


def test_wrong_password_is_a_clear_error(tmp_path):
    from keys.errors import InvalidKey

    pem = SM2PrivateKey.generate().private_bytes_pem(password=b"right")
    with pytest.raises(InvalidKey, match="wrong password"):
        SM2PrivateKey.from_pem(pem, password=b"wrong")


@pytest.mark.parametrize("backend", ["native", "pure"])
def test_openssl_decrypts_our_sm2_ciphertext(openssl, tmp_path, backend):
    key = SM2PrivateKey.generate()
    (tmp_path / "key.pem").write_bytes(key.private_bytes_pem())
    (tmp_path / "ct.der").write_bytes(key.public_key().with_backend(backend).encrypt(b"110101199003077777", der=True))
    out = run(openssl, "pkeyutl", "-decrypt", "-inkey", str(tmp_path / "key.pem"), "-in", str(tmp_path / "ct.der"))
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"110101199003077777"


@pytest.mark.parametrize("backend", ["native", "pure"])
def test_we_decrypt_openssl_sm2_ciphertext(openssl, tmp_path, backend):
    key = SM2PrivateKey.generate(backend=backend)
    (tmp_path / "pub.pem").write_bytes(key.public_key().public_bytes_pem())
    (tmp_path / "plain").write_bytes(b"bank card 6222020200000000000")
    out = run(openssl, "pkeyutl", "-encrypt", "-pubin", "-inkey", str(tmp_path / "pub.pem"),
              "-in", str(tmp_path / "plain"))
    assert out.returncode == 0, out.stderr
    assert key.decrypt(out.stdout, der=True) == b"bank card 6222020200000000000"
