"""The OCSP responder (RFC 6960) against real clients: the OpenSSL 3 CLI and pyhanko-certvalidator.

Each CA here is real: a self-signed root, an issuing CA, a delegated responder certificate
(profile "ocsp": id-kp-OCSPSigning + id-pkix-ocsp-nocheck) and a seal certificate, all built
with keys.pki.certificates. OpenSSL verifies the delegated responder's chain with
``-CAfile root.pem -verify_other issuing.pem`` (never -VAfile, which would trust the responder
outright and skip the delegation checks).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from asn1crypto import algos, ocsp, x509
from asn1crypto.keys import PublicKeyInfo
from cryptography.exceptions import UnsupportedAlgorithm
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import RevokedError

from keys.asymmetric import PrivateKey, generate_private_key
from keys.pki.certificates import Issuer, build_certificate, certificate_pem, key_identifier
from keys.pki.ocsp import CertificateStatus, OcspResponder, Responder, request_from_get_path
from keys.pki.profiles import PROFILES, parse_subject
from keys.pki.signing import YitongSignatureValidator, verify_signature
from tests.helpers import require_tool

NOW = datetime.now(UTC).replace(microsecond=0)
BASE_URL = "http://pki.yitong.example/pki"


# -- a small PKI per algorithm ---------------------------------------------------------------------
@dataclass(frozen=True)
class Pki:
    ca_name: str
    root: x509.Certificate
    issuing: x509.Certificate
    issuing_key: PrivateKey
    responder: x509.Certificate
    responder_key: PrivateKey
    leaf: x509.Certificate
    directory: Path  # root.pem, issuing.pem, leaf.pem

    def delegated(self) -> Responder:
        return Responder(self.ca_name, self.issuing, self.responder_key, self.responder)

    def ca_signed(self) -> Responder:
        """The CA answering with its own key (RFC 6960 §4.2.2.2, first case)."""
        return Responder(self.ca_name, self.issuing, self.issuing_key, self.issuing)


def _spki(key: PrivateKey) -> PublicKeyInfo:
    return PublicKeyInfo.load(key.public_key().public_bytes_der())


def _issuer(name: x509.Name, key: PrivateKey, ca_name: str, base_url: str | None) -> Issuer:
    return Issuer(name, key, key_identifier(_spki(key)), ca_name, base_url)


def _certificate(subject: str, key: PrivateKey, issuer: Issuer, profile: str, days: int) -> x509.Certificate:
    return build_certificate(subject=parse_subject(subject), public_key_info=_spki(key), issuer=issuer,
                             profile=PROFILES[profile], not_before=NOW - timedelta(days=1),
                             not_after=NOW + timedelta(days=days))


def _self_signed_root(algorithm: str, common_name: str) -> tuple[x509.Certificate, PrivateKey, Issuer]:
    key = generate_private_key(algorithm)
    name = parse_subject(f"CN={common_name},O=Yitong Test,C=CN")
    issuer = _issuer(name, key, f"{algorithm}-root", None)
    return _certificate(f"CN={common_name},O=Yitong Test,C=CN", key, issuer, "root-ca", 3650), key, issuer


def _build_pki(algorithm: str, directory: Path) -> Pki:
    root, _root_key, root_issuer = _self_signed_root(algorithm, f"Yitong {algorithm} Root CA")
    issuing_key = generate_private_key(algorithm)
    issuing_subject = f"CN=Yitong {algorithm} Issuing CA,O=Yitong Test,C=CN"
    issuing = _certificate(issuing_subject, issuing_key, root_issuer, "issuing-ca", 3000)
    # The issuing CA puts CRL, AIA and OCSP URLs into what it signs, as in production.
    issuer = _issuer(parse_subject(issuing_subject), issuing_key, f"{algorithm}-issuing", BASE_URL)
    responder_key = generate_private_key(algorithm)
    responder = _certificate(f"CN=Yitong {algorithm} OCSP Responder,O=Yitong Test,C=CN", responder_key, issuer,
                             "ocsp", 365)
    leaf = _certificate("CN=天津市市场监督管理局,O=天津市市场监督管理局,C=CN", generate_private_key(algorithm),
                        issuer, "seal", 365)
    directory.mkdir(parents=True, exist_ok=True)
    for name, certificate in (("root", root), ("issuing", issuing), ("leaf", leaf)):
        (directory / f"{name}.pem").write_bytes(certificate_pem(certificate))
    return Pki(f"{algorithm}-issuing", root, issuing, issuing_key, responder, responder_key, leaf, directory)


@pytest.fixture(scope="module")
def openssl() -> str:
    return require_tool("openssl")


@pytest.fixture(scope="module")
def p256(tmp_path_factory) -> Pki:
    return _build_pki("p256", tmp_path_factory.mktemp("p256"))


@pytest.fixture(scope="module")
def sm2(tmp_path_factory) -> Pki:
    return _build_pki("sm2", tmp_path_factory.mktemp("sm2"))


@pytest.fixture
def statuses() -> dict[tuple[str, int], CertificateStatus]:
    """What the lookup knows, keyed by (CA name, serial); anything else is unknown."""
    return {}


def _responder(statuses: dict, *responders: Responder, **kwargs) -> OcspResponder:
    return OcspResponder(list(responders), lambda ca, serial: statuses.get((ca, serial), CertificateStatus("unknown")),
                         **kwargs)


# -- requests and responses ------------------------------------------------------------------------
def _cert_id(issuer: x509.Certificate, serial: int, algorithm: str = "sha1") -> ocsp.CertId:
    # asn1crypto's own Name.sha1/.sha256 and PublicKeyInfo.sha1/.sha256, not the responder's code.
    return ocsp.CertId({"hash_algorithm": {"algorithm": algorithm},
                        "issuer_name_hash": getattr(issuer.subject, algorithm),
                        "issuer_key_hash": getattr(issuer.public_key, algorithm),
                        "serial_number": serial})


def _request(*cert_ids: ocsp.CertId, nonce: bytes | None = None) -> bytes:
    tbs: dict = {"request_list": [{"req_cert": cert_id} for cert_id in cert_ids]}
    if nonce is not None:
        tbs["request_extensions"] = [{"extn_id": "nonce", "critical": False, "extn_value": nonce}]
    return ocsp.OCSPRequest({"tbs_request": tbs}).dump()


def _basic(response_der: bytes) -> ocsp.BasicOCSPResponse:
    response = ocsp.OCSPResponse.load(response_der)
    assert response["response_status"].native == "successful"
    return response.basic_ocsp_response


def _status_of(response_der: bytes) -> str:
    return ocsp.OCSPResponse.load(response_der)["response_status"].native


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, timeout=60)


def _openssl_request(openssl: str, pki: Pki, out: Path, *options: str) -> bytes:
    """``openssl ocsp -issuer issuing.pem -cert leaf.pem -reqout ...`` (a nonce is added by default)."""
    made = _run(openssl, "ocsp", *options, "-issuer", "issuing.pem", "-cert", "leaf.pem", "-reqout", str(out),
                cwd=pki.directory)
    assert made.returncode == 0, made.stderr
    return out.read_bytes()


def _openssl_check(openssl: str, pki: Pki, response: Path, *options: str) -> subprocess.CompletedProcess:
    """Verify the response up to root.pem and print leaf.pem's status.

    ``-no_nonce``: with ``-cert`` OpenSSL builds a new request with a new nonce, which the
    response cannot match; nonces are checked with ``-reqin`` in their own test.
    """
    return _run(openssl, "ocsp", *options, "-respin", str(response), "-issuer", "issuing.pem", "-cert", "leaf.pem",
                "-no_nonce", "-CAfile", "root.pem", "-verify_other", "issuing.pem", cwd=pki.directory)


def _answer_openssl(openssl: str, pki: Pki, responder: OcspResponder, tmp_path: Path, *options: str):
    request = _openssl_request(openssl, pki, tmp_path / "req.der", *options)
    (tmp_path / "resp.der").write_bytes(responder.respond(request))
    return _openssl_check(openssl, pki, tmp_path / "resp.der", *options)


# -- OpenSSL as the client -------------------------------------------------------------------------
def test_openssl_verifies_a_delegated_p256_response_that_a_certificate_is_good(openssl, p256, statuses, tmp_path):
    statuses[(p256.ca_name, p256.leaf.serial_number)] = CertificateStatus("good")
    checked = _answer_openssl(openssl, p256, _responder(statuses, p256.delegated()), tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "Response verify OK" in checked.stderr
    assert "leaf.pem: good" in checked.stdout


def test_openssl_accepts_the_echoed_nonce_and_rejects_another(openssl, p256, statuses, tmp_path):
    responder = _responder(statuses, p256.delegated())
    first = _openssl_request(openssl, p256, tmp_path / "first.der")
    second = _openssl_request(openssl, p256, tmp_path / "second.der")
    assert ocsp.OCSPRequest.load(first).nonce_value.native != ocsp.OCSPRequest.load(second).nonce_value.native
    (tmp_path / "resp.der").write_bytes(responder.respond(first))

    def check(request: str) -> subprocess.CompletedProcess:
        return _run(openssl, "ocsp", "-reqin", request, "-respin", "resp.der", "-CAfile",
                    str(p256.directory / "root.pem"), "-verify_other", str(p256.directory / "issuing.pem"),
                    cwd=tmp_path)

    matched, mismatched = check("first.der"), check("second.der")
    assert matched.returncode == 0 and "Response verify OK" in matched.stderr, matched.stderr
    assert mismatched.returncode != 0 and "Nonce Verify error" in mismatched.stderr


@pytest.mark.parametrize(("reason", "shown"), [("key_compromise", "keyCompromise"),
                                               ("certificate_hold", "certificateHold")])
def test_openssl_sees_a_revoked_or_held_certificate_with_its_reason_and_time(
        openssl, p256, statuses, tmp_path, reason, shown):
    revoked_at = NOW - timedelta(hours=2, microseconds=123)
    statuses[(p256.ca_name, p256.leaf.serial_number)] = CertificateStatus("revoked", revoked_at, reason)
    checked = _answer_openssl(openssl, p256, _responder(statuses, p256.delegated()), tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "Response verify OK" in checked.stderr
    assert "leaf.pem: revoked" in checked.stdout
    assert f"Reason: {shown}" in checked.stdout
    assert f"Revocation Time: {revoked_at.strftime('%b %e %H:%M:%S %Y')} GMT" in checked.stdout


def test_openssl_sha256_cert_ids_are_answered_and_echoed_byte_for_byte(openssl, p256, statuses, tmp_path):
    statuses[(p256.ca_name, p256.leaf.serial_number)] = CertificateStatus("good")
    checked = _answer_openssl(openssl, p256, _responder(statuses, p256.delegated()), tmp_path, "-sha256")
    assert checked.returncode == 0, checked.stderr
    assert "Response verify OK" in checked.stderr and "leaf.pem: good" in checked.stdout
    asked = ocsp.OCSPRequest.load((tmp_path / "req.der").read_bytes())["tbs_request"]["request_list"][0]["req_cert"]
    answered = _basic((tmp_path / "resp.der").read_bytes())["tbs_response_data"]["responses"][0]["cert_id"]
    assert asked["hash_algorithm"]["algorithm"].native == "sha256"
    assert answered.dump() == asked.dump()


def test_openssl_refuses_a_responder_certificate_without_ocsp_signing(openssl, p256, statuses, tmp_path):
    # Proves the flags above check the delegation: a seal certificate of the same CA is not a responder.
    key = generate_private_key("p256")
    issuer = _issuer(p256.issuing.subject, p256.issuing_key, p256.ca_name, BASE_URL)
    impostor = _certificate("CN=Not a responder,O=Yitong Test,C=CN", key, issuer, "seal", 30)
    responder = _responder(statuses, Responder(p256.ca_name, p256.issuing, key, impostor))
    checked = _answer_openssl(openssl, p256, responder, tmp_path)
    assert checked.returncode != 0
    assert "Response Verify Failure" in checked.stderr


def test_openssl_sm3_cert_ids_for_an_sm2_ca_are_matched(openssl, sm2, statuses, tmp_path):
    # OpenSSL 3.0 verifies SM2 signatures with an empty ID by default, so it cannot check ours
    # (standard ID 1234567812345678): -noverify here; pyhanko checks the SM2 signatures below.
    statuses[(sm2.ca_name, sm2.leaf.serial_number)] = CertificateStatus("good")
    request = _openssl_request(openssl, sm2, tmp_path / "req.der", "-sm3")
    (tmp_path / "resp.der").write_bytes(_responder(statuses, sm2.delegated()).respond(request))
    checked = _run(openssl, "ocsp", "-sm3", "-respin", str(tmp_path / "resp.der"), "-issuer", "issuing.pem",
                   "-cert", "leaf.pem", "-no_nonce", "-noverify", cwd=sm2.directory)
    assert checked.returncode == 0, checked.stderr
    assert "leaf.pem: good" in checked.stdout
    basic = _basic((tmp_path / "resp.der").read_bytes())
    assert basic["signature_algorithm"]["algorithm"].native == "sm2_sm3"
    verify_signature(sm2.responder.public_key, basic["signature_algorithm"], basic["signature"].native,
                     basic["tbs_response_data"].dump())  # raises unless the responder's key signed it


# -- pyhanko-certvalidator as the client -----------------------------------------------------------
def _pyhanko_validate(pki: Pki, response_der: bytes):
    context = ValidationContext(trust_roots=[pki.root], other_certs=[pki.issuing], ocsps=[response_der],
                                revocation_mode="hard-fail", signature_validator=YitongSignatureValidator(),
                                allow_fetching=False)
    return asyncio.run(CertificateValidator(pki.leaf, validation_context=context).async_validate_usage(set()))


def _pyhanko_both_ways(pki: Pki, responder: Responder, statuses: dict) -> None:
    """A good answer lets the leaf validate; a revoked one makes validation fail with RevokedError."""
    request = _request(_cert_id(pki.issuing, pki.leaf.serial_number))
    key = (pki.ca_name, pki.leaf.serial_number)
    statuses[key] = CertificateStatus("good")
    path = _pyhanko_validate(pki, _responder(statuses, responder).respond(request))
    assert path.leaf.dump() == pki.leaf.dump()
    statuses[key] = CertificateStatus("revoked", NOW - timedelta(minutes=5), "key_compromise")
    with pytest.raises(RevokedError, match="revoked"):
        _pyhanko_validate(pki, _responder(statuses, responder).respond(request))


def test_pyhanko_validates_a_p256_leaf_by_a_delegated_response_and_sees_revocation(p256, statuses):
    _pyhanko_both_ways(p256, p256.delegated(), statuses)


def test_pyhanko_validates_an_sm2_leaf_by_a_ca_signed_response_and_sees_revocation(sm2, statuses):
    _pyhanko_both_ways(sm2, sm2.ca_signed(), statuses)


@pytest.mark.xfail(strict=True, raises=UnsupportedAlgorithm, reason=(
    "pyhanko-certvalidator 0.33 checks an id-pkix-ocsp-nocheck responder certificate in a fresh "
    "ValidationContext without the caller's signature_validator (revinfo/validate_ocsp.py, "
    "_validate_delegated_ocsp_provenance), so the SM2 signature on it goes to the default validator"))
def test_pyhanko_validates_an_sm2_leaf_by_a_delegated_response(sm2, statuses):
    _pyhanko_both_ways(sm2, sm2.delegated(), statuses)


# -- the protocol itself ---------------------------------------------------------------------------
def test_the_nonce_is_echoed_and_absent_when_not_asked_for(p256, statuses):
    responder = _responder(statuses, p256.delegated())
    cert_id = _cert_id(p256.issuing, p256.leaf.serial_number)
    nonce = bytes(range(32))
    assert ocsp.OCSPResponse.load(responder.respond(_request(cert_id, nonce=nonce))).nonce_value.native == nonce
    assert _basic(responder.respond(_request(cert_id)))["tbs_response_data"]["response_extensions"].native is None


def test_a_bare_nonce_that_is_not_an_octet_string_is_echoed_byte_for_byte(p256, statuses):
    # Some clients put the nonce bytes straight into extnValue; "\xaa" * 16 does not parse as DER.
    nonce_oid = bytes.fromhex("06092b0601050507300102")
    body = nonce_oid + b"\x04\x10" + b"\xaa" * 16
    extension = ocsp.TBSRequestExtension.load(b"\x30" + bytes([len(body)]) + body)
    request = ocsp.OCSPRequest({"tbs_request": {
        "request_list": [{"req_cert": _cert_id(p256.issuing, p256.leaf.serial_number)}],
        "request_extensions": [extension]}}).dump()
    response = _basic(_responder(statuses, p256.delegated()).respond(request))
    assert [e.dump() for e in response["tbs_response_data"]["response_extensions"]] == [extension.dump()]


def test_a_signed_request_is_answered_without_checking_its_signature(p256, statuses):
    tbs = ocsp.OCSPRequest.load(_request(_cert_id(p256.issuing, p256.leaf.serial_number)))["tbs_request"]
    request = ocsp.OCSPRequest({"tbs_request": tbs, "optional_signature": {
        "signature_algorithm": {"algorithm": "sha256_ecdsa"}, "signature": b"\x00" * 8}}).dump()
    assert _status_of(_responder(statuses, p256.delegated()).respond(request)) == "successful"


def test_a_serial_the_ca_never_issued_is_unknown(p256, statuses):
    response = _responder(statuses, p256.delegated()).respond(_request(_cert_id(p256.issuing, 0x1234567)))
    single = _basic(response)["tbs_response_data"]["responses"][0]
    assert single["cert_status"].name == "unknown"
    assert single["cert_id"]["serial_number"].native == 0x1234567


def test_each_cert_id_gets_its_own_answer_in_order(p256, statuses):
    statuses[(p256.ca_name, 11)] = CertificateStatus("good")
    statuses[(p256.ca_name, 12)] = CertificateStatus("revoked", NOW - timedelta(days=1), "superseded")
    cert_ids = [_cert_id(p256.issuing, serial, "sha256") for serial in (12, 13, 11)]
    responses = _basic(_responder(statuses, p256.delegated()).respond(_request(*cert_ids)))["tbs_response_data"]
    answers = [(r["cert_id"]["serial_number"].native, r["cert_status"].name) for r in responses["responses"]]
    assert answers == [(12, "revoked"), (13, "unknown"), (11, "good")]
    revoked = responses["responses"][0]["cert_status"].chosen
    assert revoked["revocation_reason"].native == "superseded"
    assert revoked["revocation_time"].native == NOW - timedelta(days=1)


def test_a_cert_id_is_echoed_as_sent_even_without_hash_parameters(p256, statuses):
    # RFC 5754 §2 lets the SHA-1 AlgorithmIdentifier omit parameters; re-encoding would add a NULL.
    cert_id = _cert_id(p256.issuing, p256.leaf.serial_number)
    cert_id["hash_algorithm"] = algos.DigestAlgorithm.load(bytes.fromhex("300706052b0e03021a"))
    request = _request(cert_id)
    asked = ocsp.OCSPRequest.load(request)["tbs_request"]["request_list"][0]["req_cert"]
    answered = _basic(_responder(statuses, p256.delegated()).respond(request))["tbs_response_data"]["responses"][0]
    assert answered["cert_id"].dump() == asked.dump()
    assert answered["cert_id"]["hash_algorithm"].dump() == bytes.fromhex("300706052b0e03021a")


def test_a_successful_response_carries_times_responder_key_hash_and_certificate(p256, statuses):
    moment = datetime(2026, 3, 1, 8, 30, 15, 987654, tzinfo=UTC)
    responder = _responder(statuses, p256.delegated(), validity=timedelta(minutes=30), clock=lambda: moment)
    basic = _basic(responder.respond(_request(_cert_id(p256.issuing, p256.leaf.serial_number))))
    data = basic["tbs_response_data"]
    whole = moment.replace(microsecond=0)
    assert data["produced_at"].native == whole
    assert data["responses"][0]["this_update"].native == whole
    assert data["responses"][0]["next_update"].native == whole + timedelta(minutes=30)
    assert data["produced_at"].contents == b"20260301083015Z"  # GeneralizedTime without fractions
    responder_key_bits = p256.responder.public_key["public_key"].contents[1:]
    expected_key_hash = hashlib.sha1(responder_key_bits, usedforsecurity=False).digest()
    assert data["responder_id"].name == "by_key"
    assert data["responder_id"].native == expected_key_hash
    assert [c.dump() for c in basic["certs"]] == [p256.responder.dump()]
    verify_signature(p256.responder.public_key, basic["signature_algorithm"], basic["signature"].native, data.dump())


def test_a_cert_id_for_a_ca_we_do_not_serve_is_unauthorized(p256, sm2, statuses):
    foreign, _key, _issuer = _self_signed_root("p256", "Some Other CA")
    responder = _responder(statuses, p256.delegated(), sm2.delegated())
    ours = _cert_id(p256.issuing, p256.leaf.serial_number)
    assert _status_of(responder.respond(_request(_cert_id(foreign, 1)))) == "unauthorized"
    # The root is a real CA of ours, but this responder does not answer for it.
    assert _status_of(responder.respond(_request(_cert_id(p256.root, p256.issuing.serial_number)))) == "unauthorized"
    assert _status_of(responder.respond(_request(ours, _cert_id(foreign, 1)))) == "unauthorized"
    # One response has one signer, so one request may not span two of our CAs either.
    assert _status_of(responder.respond(_request(ours, _cert_id(sm2.issuing, 5)))) == "unauthorized"
    assert _status_of(responder.respond(_request(ours))) == "successful"


def test_a_cert_id_with_a_hash_we_cannot_match_is_unauthorized(p256, statuses):
    cert_id = _cert_id(p256.issuing, 7)
    cert_id["hash_algorithm"] = {"algorithm": "md5"}
    assert _status_of(_responder(statuses, p256.delegated()).respond(_request(cert_id))) == "unauthorized"


GARBAGE = {
    "empty body": lambda pki: b"",
    "not DER": lambda pki: b"garbage",
    "a SEQUENCE that is no request": lambda pki: b"\x30\x03\x02\x01\x00",
    "a truncated request": lambda pki: _request(_cert_id(pki.issuing, 7))[:-3],
    "an empty requestList": lambda pki: ocsp.OCSPRequest({"tbs_request": {"request_list": []}}).dump(),
}


@pytest.mark.parametrize("garbage", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_is_a_malformed_request(p256, statuses, garbage):
    response = _responder(statuses, p256.delegated()).respond(garbage(p256))
    assert _status_of(response) == "malformed_request"


@pytest.mark.parametrize("answer", [RuntimeError("database is down"), CertificateStatus("suspended"),
                                    CertificateStatus("revoked"), CertificateStatus("revoked", NOW, "no_such_reason"),
                                    CertificateStatus("revoked", NOW.replace(tzinfo=None), "superseded")],
                         ids=["lookup raises", "no such status", "revoked without a time", "no such reason",
                              "naive revocation time"])
def test_a_failing_or_nonsensical_lookup_is_an_internal_error(p256, answer):
    def lookup(ca_name: str, serial: int) -> CertificateStatus:
        if isinstance(answer, Exception):
            raise answer
        return answer

    responder = OcspResponder([p256.delegated()], lookup)
    response = responder.respond(_request(_cert_id(p256.issuing, 7)))
    assert _status_of(response) == "internal_error"
    assert ocsp.OCSPResponse.load(response)["response_bytes"].native is None  # unsigned, no details


# -- GET requests (RFC 6960 Appendix A.1) ----------------------------------------------------------
def test_a_get_path_round_trips_url_encoded_or_not(p256):
    request = _request(_cert_id(p256.issuing, p256.leaf.serial_number), nonce=b"\xfb\xff" * 8)
    encoded = base64.b64encode(request).decode()
    assert "+" in encoded or "/" in encoded  # the nonce makes sure URL-encoding matters
    assert request_from_get_path(quote(encoded, safe="")) == request
    assert request_from_get_path(encoded) == request  # already decoded by the web framework


@pytest.mark.parametrize("segment", ["", "not base64!", "%ZZ", base64.b64encode(b"\x30\x00").decode(),
                                     quote(base64.b64encode(b"hello world").decode(), safe="")])
def test_a_get_path_that_is_not_an_ocsp_request_is_rejected(segment):
    with pytest.raises(ValueError):
        request_from_get_path(segment)
