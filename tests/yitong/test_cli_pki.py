"""`yitong pki` as an operator runs it: issue from a CSR, revoke, refresh, export the trust bundle."""

from __future__ import annotations

import json

import pytest

from tests.helpers import require_tool, run_yitong
from tests.keys.pki_support import openssl_csr


@pytest.fixture
def env(upgraded_home):
    assert b"created CA sm2-root" in upgraded_home.output
    return upgraded_home.env


def test_issue_revoke_and_refresh_from_the_cli(env, tmp_path):
    openssl = require_tool("openssl")
    (tmp_path / "req.pem").write_bytes(openssl_csr(openssl, tmp_path, "sm2"))
    result = run_yitong(["pki", "issue", "--profile", "seal", "--csr", str(tmp_path / "req.pem"),
                         "--subject", "CN=某某局,O=某某局,C=CN,serialNumber=11120000MB0000000X",
                         "--days", "30", "--out", str(tmp_path / "cert.pem"), "--json"], env)
    assert result.returncode == 0, result.stderr
    issued = json.loads(result.stdout)
    assert issued["ca"] == "sm2-issuing" and set(issued) == {"serial", "ca", "not_after"}
    assert b"BEGIN CERTIFICATE" in (tmp_path / "cert.pem").read_bytes()

    revoked = run_yitong(["pki", "revoke", "--ca", "sm2-issuing", issued["serial"].lower(),
                          "--reason", "certificateHold", "--json"], env)
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(revoked.stdout)["status"] == "hold"
    released = run_yitong(["pki", "revoke", "--ca", "sm2-issuing", issued["serial"], "--reason", "removeFromCRL"], env)
    assert released.returncode == 0 and b": good" in released.stdout

    refreshed = run_yitong(["pki", "crl-refresh"], env)
    assert refreshed.returncode == 0 and b"sm2-issuing: CRL number" in refreshed.stdout


def test_revoking_an_unknown_serial_is_a_one_line_error(env):
    result = run_yitong(["pki", "revoke", "--ca", "p256-issuing", "DEADBEEF", "--reason", "keyCompromise"], env)
    assert result.returncode == 2
    assert result.stderr.decode().startswith("yitong: error: p256-issuing has issued no certificate")
    assert b"Traceback" not in result.stderr


def test_garbage_csr_is_a_clear_error(env, tmp_path):
    garbage = b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
    (tmp_path / "req.pem").write_bytes(garbage)
    result = run_yitong(["pki", "issue", "--profile", "seal", "--csr", str(tmp_path / "req.pem"),
                         "--out", str(tmp_path / "c.pem")], env)
    assert result.returncode == 2 and b"PKCS#10" in result.stderr and not (tmp_path / "c.pem").exists()


def test_export_trust_prints_the_fingerprints_it_wrote(env, tmp_path):
    result = run_yitong(["pki", "export-trust", "--out", str(tmp_path / "trust.pem")], env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().strip().splitlines()
    assert len(lines) == 2 and all(len(line.split()[0]) == 64 for line in lines)
    bundle = (tmp_path / "trust.pem").read_text()
    for line in lines:
        assert line.split()[0] in bundle
