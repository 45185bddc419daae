"""The RFC 3161 time-stamp authority (keys/pki/tsa.py), checked by the OpenSSL 3 CLI and by verify_token.

Each hierarchy is root CA -> issuing CA -> TSA certificate, built with our own certificate code.
OpenSSL 3.0 checks P-256 and RSA tokens end to end; it cannot check an SM2 chain (``openssl ts
-verify`` has no way to pass the SM2 distinguishing ID, and 3.0's default is empty), so SM2
tokens are checked with verify_token.
"""

from __future__ import annotations

import hashlib
import logging
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms, tsp, x509
from asn1crypto.keys import PublicKeyInfo

from keys.asymmetric import PrivateKey, generate_private_key
from keys.errors import InvalidSignature
from keys.pki.certificates import Issuer, build_certificate, certificate_pem, key_identifier
from keys.pki.profiles import PROFILES, PkiError, parse_subject
from keys.pki.tsa import (
    TSA_POLICY_OID,
    InvalidTimestamp,
    TimeStampAuthority,
    TimeStampResp,
    verify_token,
)
from keys.sm3 import sm3
from tests.helpers import require_tool

DATA = "津市监〔2026〕7号 关于变更营业执照登记事项的公告".encode()
FIXED_NOW = datetime(2026, 3, 1, 8, 30, 15, 987654, tzinfo=UTC)


# -- fixtures: a CA hierarchy per key algorithm ---------------------------------------------------
@dataclass
class Hierarchy:
    root: x509.Certificate
    issuing: x509.Certificate
    tsa: x509.Certificate
    tsa_key: PrivateKey
    issuing_key: PrivateKey
    directory: Path  # root.pem, issuing.pem, tsa.pem, tsa.key, data.bin

    def authority(self, **options) -> TimeStampAuthority:
        return TimeStampAuthority(self.tsa_key, self.tsa, **options)


def _public_key_info(key: PrivateKey) -> PublicKeyInfo:
    return PublicKeyInfo.load(key.public_key().public_bytes_der())


def _issuer(name: x509.Name, key: PrivateKey, ca_name: str) -> Issuer:
    return Issuer(name, key, key_identifier(_public_key_info(key)), ca_name, None)


def certify(subject: x509.Name, key: PrivateKey, issuer: Issuer, profile: str) -> x509.Certificate:
    now = datetime.now(UTC)
    return build_certificate(subject=subject, public_key_info=_public_key_info(key), issuer=issuer,
                             profile=PROFILES[profile], not_before=now - timedelta(hours=1),
                             not_after=now + timedelta(days=30))


def build_hierarchy(algorithm: str, directory: Path) -> Hierarchy:
    root_key, issuing_key, tsa_key = (generate_private_key(algorithm) for _ in range(3))
    root_name = parse_subject(f"CN=Yitong Test Root {algorithm},O=Yitong Test,C=CN")
    issuing_name = parse_subject(f"CN=Yitong Test Issuing {algorithm},O=Yitong Test,C=CN")
    root_issuer = _issuer(root_name, root_key, f"{algorithm}-root")
    root = certify(root_name, root_key, root_issuer, "root-ca")
    issuing = certify(issuing_name, issuing_key, root_issuer, "issuing-ca")
    tsa = certify(parse_subject(f"CN=Yitong Test TSA {algorithm},O=Yitong Test,C=CN"), tsa_key,
                  _issuer(issuing_name, issuing_key, f"{algorithm}-issuing"), "tsa")
    directory.mkdir(parents=True, exist_ok=True)
    for name, certificate in (("root", root), ("issuing", issuing), ("tsa", tsa)):
        (directory / f"{name}.pem").write_bytes(certificate_pem(certificate))
    (directory / "tsa.key").write_bytes(tsa_key.private_bytes_pem())
    (directory / "data.bin").write_bytes(DATA)
    return Hierarchy(root, issuing, tsa, tsa_key, issuing_key, directory)


@pytest.fixture(scope="module")
def openssl() -> str:
    return require_tool("openssl")


@pytest.fixture(scope="module")
def p256(tmp_path_factory) -> Hierarchy:
    return build_hierarchy("p256", tmp_path_factory.mktemp("p256"))


@pytest.fixture(scope="module")
def rsa(tmp_path_factory) -> Hierarchy:
    return build_hierarchy("rsa2048", tmp_path_factory.mktemp("rsa2048"))


@pytest.fixture(scope="module")
def sm2(tmp_path_factory) -> Hierarchy:
    return build_hierarchy("sm2", tmp_path_factory.mktemp("sm2"))


# -- helpers --------------------------------------------------------------------------------------
def run(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, timeout=60)


def openssl_query(openssl: str, hierarchy: Hierarchy, *options: str) -> bytes:
    """``openssl ts -query -data data.bin OPTIONS -out q.tsq``: a request from a client that is not us."""
    out = hierarchy.directory / "q.tsq"
    result = run(openssl, "ts", "-query", "-data", hierarchy.directory / "data.bin", *options, "-out", out)
    assert result.returncode == 0, result.stderr
    return out.read_bytes()


def openssl_verify(openssl: str, hierarchy: Hierarchy, response: bytes, *check: str | Path,
                   untrusted: str = "issuing.pem") -> subprocess.CompletedProcess:
    (hierarchy.directory / "resp.tsr").write_bytes(response)
    return run(openssl, "ts", "-verify", "-in", hierarchy.directory / "resp.tsr", *check,
               "-CAfile", hierarchy.directory / "root.pem", "-untrusted", hierarchy.directory / untrusted)


def make_query(hash_name: str = "sha256", hashed: bytes | None = None, *, version: int = 1,
               policy: str | None = None, nonce: int | None = None, cert_req: bool = False,
               extensions: list | None = None) -> bytes:
    """A TimeStampReq built field by field, for requests OpenSSL will not make."""
    if hashed is None:
        hashed = sm3(DATA) if hash_name == "sm3" else hashlib.new(hash_name, DATA).digest()
    request = {"version": version, "message_imprint": {"hash_algorithm": {"algorithm": hash_name},
                                                       "hashed_message": hashed}, "cert_req": cert_req}
    for field, value in (("req_policy", policy), ("nonce", nonce), ("extensions", extensions)):
        if value is not None:
            request[field] = value
    return tsp.TimeStampReq(request).dump()


def granted_token(response: bytes) -> cms.SignedData:
    parsed = TimeStampResp.load(response)
    assert parsed["status"]["status"].native == "granted", parsed["status"].native
    return parsed["time_stamp_token"]["content"]


def tst_info(response: bytes) -> tsp.TSTInfo:
    return granted_token(response)["encap_content_info"]["content"].parsed


def flip(der: bytes, inside: bytes, offset: int = -1) -> bytes:
    """``der`` with one byte of the (unique) segment ``inside`` inverted."""
    assert der.count(inside) == 1
    position = der.index(inside) + (offset % len(inside))
    return der[:position] + bytes([der[position] ^ 0xFF]) + der[position + 1:]


# -- 1. OpenSSL checks our tokens -----------------------------------------------------------------
@pytest.mark.parametrize("hash_option", ["-sha256", "-sha384", "-sha512", "-sm3"])
def test_openssl_verifies_a_p256_token_against_the_data_and_the_ca_chain(openssl, p256, hash_option):
    query = openssl_query(openssl, p256, hash_option, "-cert")
    response = p256.authority(chain=[p256.issuing]).respond(query)
    result = openssl_verify(openssl, p256, response, "-data", p256.directory / "data.bin")
    assert result.returncode == 0, result.stderr
    assert b"Verification: OK" in result.stdout


def test_openssl_verifies_an_rsa_token_against_its_query(openssl, rsa):
    query = openssl_query(openssl, rsa, "-sha256", "-cert")
    result = openssl_verify(openssl, rsa, rsa.authority().respond(query), "-queryfile", rsa.directory / "q.tsq")
    assert result.returncode == 0, result.stderr
    assert b"Verification: OK" in result.stdout


def test_the_nonce_of_an_openssl_query_is_echoed_and_openssl_checks_it(openssl, p256):
    openssl_query(openssl, p256, "-sha256", "-cert")  # OpenSSL adds a 64-bit nonce unless -no_nonce
    query_text = run(openssl, "ts", "-query", "-in", p256.directory / "q.tsq", "-text").stdout.decode()
    nonce = re.search(r"Nonce: (0x[0-9A-F]+)", query_text).group(1)
    response = p256.authority().respond((p256.directory / "q.tsq").read_bytes())
    (p256.directory / "resp.tsr").write_bytes(response)
    reply_text = run(openssl, "ts", "-reply", "-in", p256.directory / "resp.tsr", "-text").stdout.decode()
    assert f"Nonce: {nonce}" in reply_text
    assert f"Policy OID: {TSA_POLICY_OID}" in reply_text
    assert "Ordering: no" in reply_text
    # -queryfile makes OpenSSL compare the imprint, the nonce and the policy with its own query.
    result = openssl_verify(openssl, p256, response, "-queryfile", p256.directory / "q.tsq")
    assert b"Verification: OK" in result.stdout, result.stderr


def test_a_query_without_a_nonce_gets_a_token_without_one(openssl, p256):
    response = p256.authority().respond(openssl_query(openssl, p256, "-sha256", "-no_nonce", "-cert"))
    assert tst_info(response)["nonce"].native is None
    assert b"Verification: OK" in openssl_verify(openssl, p256, response, "-data", p256.directory / "data.bin").stdout


def test_a_query_for_our_own_policy_is_granted_under_it(openssl, p256):
    query = openssl_query(openssl, p256, "-sha256", "-tspolicy", TSA_POLICY_OID)
    assert tst_info(p256.authority().respond(query))["policy"].dotted == TSA_POLICY_OID


# -- 2. verify_token, with SM2 and SM3 ------------------------------------------------------------
@pytest.mark.parametrize("hash_name", ["sm3", "sha256"])
def test_an_sm2_token_verifies_and_reports_what_it_stamped(openssl, sm2, hash_name):
    query = openssl_query(openssl, sm2, f"-{hash_name}", "-cert")  # OpenSSL 3.0 does make SM3 queries
    response = sm2.authority(clock=lambda: FIXED_NOW).respond(query)
    info = verify_token(response, tsa_certificate=sm2.tsa, data=DATA)
    assert info.gen_time == FIXED_NOW.replace(microsecond=0)  # whole seconds, UTC
    assert info.hash_algorithm == hash_name
    assert info.imprint == (sm3(DATA) if hash_name == "sm3" else hashlib.sha256(DATA).digest())
    assert info.policy == TSA_POLICY_OID
    assert info.nonce == tsp.TimeStampReq.load(query)["nonce"].native
    signer = granted_token(response)["signer_infos"][0]
    assert signer["digest_algorithm"]["algorithm"].native == "sm3"
    assert signer["signature_algorithm"]["algorithm"].native == "sm2_sm3"


def test_a_bare_token_verifies_like_the_response_that_carried_it(sm2):
    response = sm2.authority().respond(make_query("sm3", nonce=20260301))
    token = TimeStampResp.load(response)["time_stamp_token"].dump()
    assert verify_token(token, tsa_certificate=sm2.tsa) == verify_token(response, tsa_certificate=sm2.tsa)


def test_the_token_carries_the_signed_attributes_openssl_and_ess_require(p256):
    response = p256.authority(clock=lambda: FIXED_NOW).respond(make_query())
    signed_data = granted_token(response)
    attributes = {a["type"].native: a["values"][0] for a in signed_data["signer_infos"][0]["signed_attrs"]}
    assert attributes["content_type"].native == "tst_info"
    assert attributes["signing_time"].native == FIXED_NOW.replace(microsecond=0)
    assert attributes["message_digest"].native == hashlib.sha256(
        bytes(signed_data["encap_content_info"]["content"])).digest()
    cert_id = attributes["signing_certificate_v2"]["certs"][0]
    assert cert_id["cert_hash"].native == hashlib.sha256(p256.tsa.dump()).digest()
    info = signed_data["encap_content_info"]["content"].parsed
    assert info["tsa"].chosen == p256.tsa.subject
    assert info["accuracy"]["seconds"].native == 1


def test_verify_token_accepts_a_token_openssl_issued(openssl, p256):
    # An independent TSA implementation; ess_cert_id_alg = sha256 makes it use signingCertificateV2.
    config = p256.directory / "tsa.cnf"
    config.write_text("[ tsa ]\ndefault_tsa = t\n[ t ]\n"
                      f"serial = {p256.directory / 'tsaserial'}\nsigner_cert = {p256.directory / 'tsa.pem'}\n"
                      f"signer_key = {p256.directory / 'tsa.key'}\nsigner_digest = sha256\n"
                      "default_policy = 1.2.3.4.1\ndigests = sha256\naccuracy = secs:1\n"
                      "ess_cert_id_alg = sha256\n")
    query = openssl_query(openssl, p256, "-sha256", "-cert")
    result = run(openssl, "ts", "-reply", "-config", config, "-queryfile", p256.directory / "q.tsq",
                 "-out", p256.directory / "openssl.tsr")
    assert result.returncode == 0, result.stderr
    info = verify_token((p256.directory / "openssl.tsr").read_bytes(), tsa_certificate=p256.tsa, data=DATA)
    assert info.policy == "1.2.3.4.1"
    assert info.nonce == tsp.TimeStampReq.load(query)["nonce"].native


# -- 3. and 4. what verify_token refuses ----------------------------------------------------------
@pytest.mark.parametrize("algorithm", ["p256", "sm2"])
def test_a_token_whose_gen_time_was_altered_is_rejected(request, algorithm):
    hierarchy = request.getfixturevalue(algorithm)
    response = hierarchy.authority(clock=lambda: FIXED_NOW).respond(make_query())
    # Move genTime (GeneralizedTime, inside the TSTInfo) from 2026 to 2027.
    assert response.count(b"20260301083015Z") == 1
    forged = response.replace(b"20260301083015Z", b"20270301083015Z")
    with pytest.raises(InvalidTimestamp, match="altered"):
        verify_token(forged, tsa_certificate=hierarchy.tsa)


@pytest.mark.parametrize("algorithm", ["p256", "sm2"])
def test_a_token_with_a_damaged_signature_is_rejected(request, algorithm):
    hierarchy = request.getfixturevalue(algorithm)
    response = hierarchy.authority().respond(make_query())
    signature = granted_token(response)["signer_infos"][0]["signature"].native
    with pytest.raises(InvalidSignature, match="signature does not verify"):
        verify_token(flip(response, signature), tsa_certificate=hierarchy.tsa)


def test_a_token_with_an_altered_signed_attribute_is_rejected(p256):
    response = p256.authority().respond(make_query())
    cert_hash = hashlib.sha256(p256.tsa.dump()).digest()  # the signingCertificateV2 hash
    with pytest.raises(InvalidTimestamp, match="signature does not verify"):
        verify_token(flip(response, cert_hash, 0), tsa_certificate=p256.tsa)


def test_data_other_than_what_was_stamped_is_rejected(p256):
    response = p256.authority().respond(make_query("sha512"))
    assert verify_token(response, tsa_certificate=p256.tsa, data=DATA).hash_algorithm == "sha512"
    with pytest.raises(InvalidTimestamp, match="does not match the token's sha512 message imprint"):
        verify_token(response, tsa_certificate=p256.tsa, data=DATA + b" ")


def test_a_token_is_rejected_under_another_tsa_certificate(p256, sm2):
    response = p256.authority().respond(make_query())
    with pytest.raises(InvalidTimestamp, match="another certificate"):
        verify_token(response, tsa_certificate=sm2.tsa)


def test_a_certificate_without_the_time_stamping_eku_cannot_vouch_for_a_token(p256):
    response = p256.authority().respond(make_query())
    signer = granted_token(response)["signer_infos"][0]["sid"].chosen
    assert signer["serial_number"].native == p256.tsa.serial_number
    # Same subject, serial and key, but the login profile: its EKU is clientAuth.
    impostor = build_certificate(subject=p256.tsa.subject, public_key_info=p256.tsa.public_key,
                                 issuer=_issuer(p256.issuing.subject, p256.issuing_key, "p256-issuing"),
                                 profile=PROFILES["login"], serial=p256.tsa.serial_number,
                                 not_before=datetime.now(UTC) - timedelta(hours=1),
                                 not_after=datetime.now(UTC) + timedelta(days=1))
    with pytest.raises(InvalidTimestamp, match="id-kp-timeStamping"):
        verify_token(response, tsa_certificate=impostor)


@pytest.mark.parametrize("garbage", [b"", b"\x30\x03\x02\x01\x01", b"not a time-stamp token"])
def test_verify_token_refuses_what_is_not_a_token(p256, garbage):
    with pytest.raises(InvalidTimestamp, match="not a time-stamp token"):
        verify_token(garbage, tsa_certificate=p256.tsa)


def test_verify_token_refuses_a_rejection_and_says_why(p256):
    rejection = p256.authority().respond(make_query("sha1"))
    with pytest.raises(InvalidTimestamp, match=r"did not grant the request: rejection \(hash algorithm sha1 is not"):
        verify_token(rejection, tsa_certificate=p256.tsa)


# -- 5. certReq -----------------------------------------------------------------------------------
def test_without_cert_req_the_token_carries_no_certificates(openssl, p256):
    response = p256.authority(chain=[p256.issuing]).respond(openssl_query(openssl, p256, "-sha256"))
    assert granted_token(response)["certificates"].native is None
    # OpenSSL can still check it when it is handed the TSA certificate itself.
    bundle = p256.directory / "tsa-and-issuing.pem"
    bundle.write_bytes(certificate_pem(p256.tsa) + certificate_pem(p256.issuing))
    result = openssl_verify(openssl, p256, response, "-data", p256.directory / "data.bin",
                            untrusted=bundle.name)
    assert b"Verification: OK" in result.stdout, result.stderr


def test_with_cert_req_the_token_carries_the_tsa_certificate_and_chain(p256):
    response = p256.authority(chain=[p256.issuing]).respond(make_query(cert_req=True))
    # certificates is a SET OF: DER orders it by encoding, not as we listed it.
    certificates = {choice.chosen.dump() for choice in granted_token(response)["certificates"]}
    assert certificates == {p256.tsa.dump(), p256.issuing.dump()}
    response = p256.authority().respond(make_query(cert_req=True))
    assert [c.chosen.dump() for c in granted_token(response)["certificates"]] == [p256.tsa.dump()]


# -- 6. rejections, never exceptions --------------------------------------------------------------
def _extension() -> list:
    return [{"extn_id": "1.3.6.1.4.1.99999.1", "critical": False, "extn_value": b"\x05\x00"}]


@pytest.mark.parametrize(("query", "fail_info"), [
    pytest.param(b"", "bad_data_format", id="empty"),
    pytest.param(b"\x00\xffgarbage\x13\x37", "bad_data_format", id="garbage"),
    pytest.param(make_query()[:-3], "bad_data_format", id="truncated"),
    pytest.param(make_query() + b"\x00\x00", "bad_data_format", id="trailing-bytes"),
    pytest.param(make_query(version=2), "bad_data_format", id="version-2"),
    pytest.param(make_query("md5"), "bad_alg", id="md5"),
    pytest.param(make_query("sha1"), "bad_alg", id="sha1"),
    pytest.param(make_query("sha256", b"\x01" * 20), "bad_data_format", id="sha256-of-20-bytes"),
    pytest.param(make_query("sm3", b"\x01" * 64), "bad_data_format", id="sm3-of-64-bytes"),
    pytest.param(make_query(policy="1.2.3.4.5"), "unaccepted_policy", id="foreign-policy"),
    pytest.param(make_query(extensions=_extension()), "unaccepted_extensions", id="unknown-extension"),
])
def test_a_bad_request_is_answered_with_a_rejection(p256, query, fail_info):
    response = TimeStampResp.load(p256.authority().respond(query))
    status = response["status"].native
    assert status["status"] == "rejection"
    assert status["fail_info"] == {fail_info}
    assert status["status_string"] and status["status_string"][0]
    assert response["time_stamp_token"].native is None


def test_openssl_reads_our_rejection(openssl, p256):
    (p256.directory / "rejection.tsr").write_bytes(p256.authority().respond(make_query("md5")))
    text = run(openssl, "ts", "-reply", "-in", p256.directory / "rejection.tsr", "-text").stdout.decode()
    assert "Status: Rejected." in text
    assert "Failure info: unrecognized or unsupported algorithm identifier" in text
    assert "hash algorithm md5 is not accepted" in text


def test_a_failing_clock_is_reported_as_time_not_available(p256):
    def broken_clock() -> datetime:
        raise OSError("no time source")

    status = TimeStampResp.load(p256.authority(clock=broken_clock).respond(make_query()))["status"].native
    assert (status["status"], status["fail_info"]) == ("rejection", {"time_not_available"})


class _KeyThatCannotSign:
    """A real P-256 TSA key whose signing device has gone away (an HSM unplugged, say)."""

    def __init__(self, key: PrivateKey) -> None:
        self.algorithm = key.algorithm
        self.public_key = key.public_key

    def sign(self, data: bytes) -> bytes:
        raise RuntimeError("signing device unavailable")


def test_an_internal_failure_is_a_system_failure_without_details(p256, caplog):
    authority = TimeStampAuthority(_KeyThatCannotSign(p256.tsa_key), p256.tsa)
    with caplog.at_level(logging.ERROR, logger="keys.pki.tsa"):
        response = TimeStampResp.load(authority.respond(make_query()))
    status = response["status"].native
    assert (status["status"], status["fail_info"]) == ("rejection", {"system_failure"})
    assert "device" not in status["status_string"][0]  # the requester learns nothing of our internals
    assert "signing device unavailable" in caplog.text  # the operator does


def test_the_authority_refuses_a_key_or_certificate_that_cannot_time_stamp(p256, sm2):
    with pytest.raises(PkiError, match="does not match"):
        TimeStampAuthority(sm2.tsa_key, p256.tsa)
    with pytest.raises(PkiError, match="id-kp-timeStamping"):
        TimeStampAuthority(p256.issuing_key, p256.issuing)


# -- 7. serials -----------------------------------------------------------------------------------
def test_every_response_to_the_same_query_has_its_own_serial(p256):
    authority = p256.authority(clock=lambda: FIXED_NOW)
    query = make_query(nonce=7)
    serials = {tst_info(authority.respond(query))["serial_number"].native for _ in range(5)}
    assert len(serials) == 5
    assert all(0 < serial < 2**127 for serial in serials)


# -- robustness -----------------------------------------------------------------------------------
def test_no_single_bit_error_in_a_token_changes_what_verify_token_reports(p256):
    response = p256.authority().respond(make_query(nonce=5))
    genuine = verify_token(response, tsa_certificate=p256.tsa)
    accepted = 0
    for position in range(len(response)):
        damaged = response[:position] + bytes([response[position] ^ 0x01]) + response[position + 1:]
        try:
            info = verify_token(damaged, tsa_certificate=p256.tsa)
        except InvalidSignature:
            continue  # anything else escaping (ValueError, KeyError...) fails the test
        # Only unsigned framing may change: the status, SignedData's version and digestAlgorithms.
        assert info == genuine, f"a flipped bit at offset {position} changed the token's content"
        accepted += 1
    assert accepted < 30


def test_no_single_byte_error_in_a_query_makes_the_authority_fail(p256):
    query = make_query(nonce=0x0123456789ABCDEF, cert_req=True)
    authority = p256.authority()
    outcomes = set()
    for position in range(len(query)):
        for mask in (0x01, 0x80, 0xFF):
            damaged = query[:position] + bytes([query[position] ^ mask]) + query[position + 1:]
            status = TimeStampResp.load(authority.respond(damaged))["status"].native
            outcomes.add((status["status"], frozenset(status["fail_info"] or ())))
    # Bad input is the requester's fault: never systemFailure, always a granted token or a reason.
    assert ("rejection", frozenset({"system_failure"})) not in outcomes
    assert ("granted", frozenset()) in outcomes  # flips inside the imprint or nonce are still well formed
    assert ("rejection", frozenset({"bad_data_format"})) in outcomes


@pytest.mark.parametrize("algorithm", ["p256", "sm2"])
def test_responses_are_der(request, algorithm):
    hierarchy = request.getfixturevalue(algorithm)
    authority = hierarchy.authority(chain=[hierarchy.issuing])
    for query in (make_query(nonce=5, cert_req=True), make_query("sha384"), make_query("md5")):
        response = authority.respond(query)
        # asn1crypto's forced re-encoding is canonical DER: an encoding that survives it is DER.
        assert TimeStampResp.load(response).dump(force=True) == response
