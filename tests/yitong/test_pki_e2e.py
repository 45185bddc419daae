"""/pki/ against the running service: OpenSSL's OCSP client and time-stamp tools as the peers."""

from __future__ import annotations

import json
import subprocess
import urllib.request

import pytest
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import tsp

from keys.pki.tsa import TimeStampResp  # asn1crypto's own makes the token mandatory
from tests.helpers import clean_env, require_tool, run_yitong
from tests.keys.pki_support import openssl_csr
from tests.yitong.test_serve import get, running_server

pytestmark = pytest.mark.e2e


def post(url: str, body: bytes, content_type: str):
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.headers.get("Content-Type"), response.read()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """One service for the module: a fresh home with the P-256 TSA, and a leaf from a CSR."""

    tmp = tmp_path_factory.mktemp("pki-e2e")
    env = clean_env()
    env.update(YITONG_HOME=str(tmp / "home"), YITONG_TSA_ALGORITHM="p256")
    assert run_yitong(["db", "upgrade"], env).returncode == 0
    openssl = require_tool("openssl")
    (tmp / "req.pem").write_bytes(openssl_csr(openssl, tmp, "p256"))
    issued = run_yitong(["pki", "issue", "--profile", "seal", "--csr", str(tmp / "req.pem"),
                         "--out", str(tmp / "leaf.pem"), "--json"], env)
    assert issued.returncode == 0, issued.stderr
    with running_server(env) as (base, _process):
        yield {"base": base, "env": env, "tmp": tmp, "openssl": openssl, "serial": json.loads(issued.stdout)["serial"]}


def fetch_pem(service, path: str, name: str):
    status, ctype, der = get(service["base"] + path, accept="*/*")
    assert status == 200 and ctype == "application/pkix-cert"
    target = service["tmp"] / name
    subprocess.run([service["openssl"], "x509", "-inform", "DER", "-out", str(target)], input=der, check=True)
    return target


def ocsp_status(service) -> str:
    tmp = service["tmp"]
    issuing = fetch_pem(service, "/pki/ca/p256-issuing.crt", "issuing.pem")
    status, _, bundle = get(service["base"] + "/pki/trust.pem", accept="*/*")
    assert status == 200 and b"BEGIN CERTIFICATE" in bundle
    (tmp / "trust.pem").write_bytes(bundle)
    result = subprocess.run([service["openssl"], "ocsp", "-issuer", str(issuing), "-cert", str(tmp / "leaf.pem"),
                             "-url", service["base"] + "/pki/ocsp", "-CAfile", str(tmp / "trust.pem"),
                             "-verify_other", str(issuing)], capture_output=True, text=True, timeout=60)
    assert "Response verify OK" in result.stderr, result.stderr + result.stdout
    return result.stdout.split(":", 1)[1].split()[0]


def test_openssl_ocsp_sees_good_then_revoked_then_good_after_a_hold_is_lifted(service):
    assert ocsp_status(service) == "good"
    revoke = ["pki", "revoke", "--ca", "p256-issuing", service["serial"]]
    assert run_yitong([*revoke, "--reason", "certificateHold"], service["env"]).returncode == 0
    assert ocsp_status(service) == "revoked"
    assert run_yitong([*revoke, "--reason", "removeFromCRL"], service["env"]).returncode == 0
    assert ocsp_status(service) == "good"


def test_crl_served_by_the_service_verifies_with_openssl(service):
    status, ctype, der = get(service["base"] + "/pki/crl/p256-issuing.crl", accept="*/*")
    assert status == 200 and ctype == "application/pkix-crl"
    (service["tmp"] / "served.crl").write_bytes(der)
    issuing = fetch_pem(service, "/pki/ca/p256-issuing.crt", "issuing.pem")
    result = subprocess.run([service["openssl"], "crl", "-inform", "DER", "-in", str(service["tmp"] / "served.crl"),
                             "-CAfile", str(issuing), "-noout", "-verify"], capture_output=True, text=True)
    assert "verify OK" in result.stderr and "failure" not in result.stderr, result.stderr


def test_time_stamp_over_http_verifies_with_openssl_ts(service):
    tmp, openssl = service["tmp"], service["openssl"]
    (tmp / "licence.pdf").write_bytes(b"%PDF-1.7 business licence")
    subprocess.run([openssl, "ts", "-query", "-data", str(tmp / "licence.pdf"), "-sha256", "-cert",
                    "-out", str(tmp / "q.tsq")], check=True)
    status, ctype, reply = post(service["base"] + "/pki/tsa", (tmp / "q.tsq").read_bytes(),
                                "application/timestamp-query")
    assert status == 200 and ctype == "application/timestamp-reply"
    (tmp / "r.tsr").write_bytes(reply)
    fetch_pem(service, "/pki/ca/p256-issuing.crt", "issuing.pem")
    status, _, bundle = get(service["base"] + "/pki/trust.pem", accept="*/*")
    (tmp / "trust.pem").write_bytes(bundle)
    result = subprocess.run([openssl, "ts", "-verify", "-in", str(tmp / "r.tsr"), "-data", str(tmp / "licence.pdf"),
                             "-CAfile", str(tmp / "trust.pem"), "-untrusted", str(tmp / "issuing.pem")],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "Verification: OK" in result.stdout, result.stdout + result.stderr


def test_garbage_to_ocsp_is_malformed_request_not_a_500(service):
    _, ctype, body = post(service["base"] + "/pki/ocsp", b"\x30\x03garbage", "application/ocsp-request")
    assert ctype == "application/ocsp-response"
    assert asn1_ocsp.OCSPResponse.load(body)["response_status"].native == "malformed_request"
    status, _, body = get(service["base"] + "/pki/ocsp/%%%not-base64", accept="*/*")
    assert status == 200 and asn1_ocsp.OCSPResponse.load(body)["response_status"].native == "malformed_request"


def test_garbage_to_tsa_is_a_rejection_with_bad_data_format(service):
    _, _, body = post(service["base"] + "/pki/tsa", b"not a query", "application/timestamp-query")
    status = TimeStampResp.load(body)["status"]
    assert status["status"].native == "rejection"
    assert "bad_data_format" in status["fail_info"].native


def test_unknown_ca_is_a_404_problem(service):
    for path in ("/pki/ca/nope.crt", "/pki/crl/nope.crl"):
        status, ctype, body = get(service["base"] + path)
        assert status == 404 and ctype == "application/problem+json"
        assert json.loads(body)["status"] == 404


def test_default_sm2_tsa_grants_sm3_time_stamps_our_library_verifies(tmp_path):
    """The embedded default (YITONG_TSA_ALGORITHM=sm2) through the real app, checked by keys/."""
    from asn1crypto import algos

    from keys.pki.certificates import verify_certificate_signature
    from keys.pki.tsa import verify_token
    from keys.sm3 import sm3
    from yitong.app import create_app
    from yitong.home import Home
    from yitong.settings import Settings

    settings = Settings.from_env({"YITONG_HOME": str(tmp_path)})
    home = Home(settings)
    home.initialise()
    client = create_app(settings, home).test_client()
    data = "津市监注〔2026〕001 营业执照".encode()
    query = tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": {"hash_algorithm": algos.DigestAlgorithm({"algorithm": "sm3"}),
                            "hashed_message": sm3(data)},
        "nonce": 20261128,
        "cert_req": True,
    }).dump()
    response = client.post("/pki/tsa", data=query, content_type="application/timestamp-query")
    assert response.status_code == 200 and response.mimetype == "application/timestamp-reply"
    token = TimeStampResp.load(response.data)["time_stamp_token"]
    certificates = [choice.chosen for choice in token["content"]["certificates"]]
    (tsa_certificate,) = [c for c in certificates if c.extended_key_usage_value
                          and c.extended_key_usage_value.native == ["time_stamping"]]
    verify_certificate_signature(tsa_certificate, home.pki().ca_certificate("sm2-issuing"))
    info = verify_token(response.data, tsa_certificate=tsa_certificate, data=data)
    assert (info.hash_algorithm, info.nonce) == ("sm3", 20261128)
    assert token["content"]["signer_infos"][0]["signature_algorithm"]["algorithm"].native == "sm2_sm3"
