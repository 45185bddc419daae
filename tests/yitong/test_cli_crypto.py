"""`yitong crypto` against the OpenSSL CLI, both ways, as an operator would check interop."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers import require_tool, run_yitong

DISTID = "distid:1234567812345678"


@pytest.fixture
def openssl():
    return require_tool("openssl")


def test_keygen_sign_verify_and_openssl_agrees(yitong_env, tmp_path, openssl):
    key, pub, doc, sig = (tmp_path / n for n in ("key.pem", "pub.pem", "doc.pdf", "doc.sig"))
    doc.write_bytes(b"%PDF-1.7 licence")
    assert run_yitong(["crypto", "sm2-keygen", "--out", str(key), "--pub", str(pub)], yitong_env).returncode == 0
    assert key.stat().st_mode & 0o777 == 0o600
    assert run_yitong(["crypto", "sm2-sign", "--key", str(key), "--in", str(doc), "--out", str(sig)],
                      yitong_env).returncode == 0
    ours = run_yitong(["crypto", "sm2-verify", "--pub", str(pub), "--in", str(doc), "--sig", str(sig)], yitong_env)
    assert ours.returncode == 0 and ours.stdout.strip() == b"valid"
    theirs = subprocess.run([openssl, "pkeyutl", "-verify", "-pubin", "-inkey", str(pub), "-rawin", "-digest", "sm3",
                             "-pkeyopt", DISTID, "-in", str(doc), "-sigfile", str(sig)], capture_output=True)
    assert theirs.returncode == 0, theirs.stderr


def test_verify_of_a_changed_file_exits_1(yitong_env, tmp_path):
    key, pub, doc, sig = (tmp_path / n for n in ("key.pem", "pub.pem", "doc", "doc.sig"))
    doc.write_bytes(b"original")
    run_yitong(["crypto", "sm2-keygen", "--out", str(key), "--pub", str(pub)], yitong_env)
    run_yitong(["crypto", "sm2-sign", "--key", str(key), "--in", str(doc), "--out", str(sig)], yitong_env)
    doc.write_bytes(b"originaL")
    result = run_yitong(["crypto", "sm2-verify", "--pub", str(pub), "--in", str(doc), "--sig", str(sig)], yitong_env)
    assert result.returncode == 1 and b"invalid" in result.stderr


def test_openssl_signature_with_a_custom_uid_verifies_with_the_cli(yitong_env, tmp_path, openssl):
    key, pub, doc, sig = (tmp_path / n for n in ("key.pem", "pub.pem", "doc", "doc.sig"))
    doc.write_bytes(b"data")
    subprocess.run([openssl, "genpkey", "-algorithm", "SM2", "-out", str(key)], check=True)
    subprocess.run([openssl, "pkey", "-in", str(key), "-pubout", "-out", str(pub)], check=True)
    subprocess.run([openssl, "pkeyutl", "-sign", "-inkey", str(key), "-rawin", "-digest", "sm3",
                    "-pkeyopt", "distid:user@example.gov.cn", "-in", str(doc), "-out", str(sig)], check=True)
    args = ["crypto", "sm2-verify", "--pub", str(pub), "--in", str(doc), "--sig", str(sig)]
    assert run_yitong([*args, "--uid", "user@example.gov.cn"], yitong_env).returncode == 0
    assert run_yitong(args, yitong_env).returncode == 1


def test_keygen_refuses_to_overwrite_a_key(yitong_env, tmp_path):
    key = tmp_path / "key.pem"
    key.write_text("precious")
    result = run_yitong(["crypto", "sm2-keygen", "--out", str(key)], yitong_env)
    assert result.returncode == 2 and key.read_text() == "precious"


def test_sm3_prints_the_hex_digest(yitong_env, tmp_path):
    (tmp_path / "abc").write_bytes(b"abc")
    result = run_yitong(["crypto", "sm3", str(tmp_path / "abc")], yitong_env)
    assert result.stdout.strip() == b"66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_missing_input_file_is_exit_2_not_a_traceback(yitong_env, tmp_path):
    result = run_yitong(["crypto", "sm3", str(tmp_path / "absent")], yitong_env)
    assert result.returncode == 2 and b"Traceback" not in result.stderr and b"absent" in result.stderr


def test_sm4_encrypt_decrypt_and_tampering_is_refused_without_output(yitong_env, tmp_path):
    key, plain, enc, out = (tmp_path / n for n in ("sm4.key", "plain", "plain.enc", "out"))
    plain.write_bytes("居民身份证 110101199003077777".encode())
    assert run_yitong(["crypto", "sm4-keygen", "--out", str(key)], yitong_env).returncode == 0
    assert run_yitong(["crypto", "sm4-encrypt", "--key", str(key), "--in", str(plain), "--out", str(enc)],
                      yitong_env).returncode == 0
    assert plain.read_bytes() not in enc.read_bytes()
    assert run_yitong(["crypto", "sm4-decrypt", "--key", str(key), "--in", str(enc), "--out", str(out)],
                      yitong_env).returncode == 0
    assert out.read_bytes() == plain.read_bytes()
    data = bytearray(enc.read_bytes())
    data[20] ^= 1
    enc.write_bytes(bytes(data))
    out.unlink()
    result = run_yitong(["crypto", "sm4-decrypt", "--key", str(key), "--in", str(enc), "--out", str(out)], yitong_env)
    assert result.returncode == 1 and not out.exists()
