"""/verify/ page and POST /verify/api/v1/pdf: reports, problem+json for bad input, limits, no SSRF."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from asn1crypto.keys import PublicKeyInfo
from flask import Flask

from keys.asymmetric import generate_private_key
from keys.pki.certificates import Issuer, build_certificate
from keys.pki.profiles import parse_subject, profile
from keys.runtime import MemoryStore, RateLimiter
from tests.verify.support import Identity, base_pdf, sign
from tests.verify.test_cli import validate
from verify import web


def make_client(world, *, max_bytes=web.DEFAULT_MAX_BYTES, rate=1000):
    app = Flask("verify-test")
    service = web.VerifyService(world.pki.trust_bundle, crls=lambda: [world.pki.crl(ca) for ca in
                                                                      world.pki.ca_names()],
                                limiter=RateLimiter(MemoryStore(), "verify:ip", rate, 60), max_bytes=max_bytes)
    web.register(app, service)
    return app.test_client()


@pytest.fixture(scope="module")
def client(world):
    return make_client(world)


@pytest.fixture(scope="module")
def sealed(world) -> bytes:
    return world.doc("visible-sm2", lambda: world.sign(base_pdf(3), world.sm2, page=2))


def test_api_returns_a_schema_valid_report_for_a_raw_pdf_body(client, sealed):
    response = client.post("/verify/api/v1/pdf", data=sealed, content_type="application/pdf")
    assert response.status_code == 200
    document = response.get_json()
    validate(document)
    entry = document["files"][0]
    assert entry["indication"] == "TOTAL_PASSED" and entry["online"] is False
    assert entry["trust"]["source"] == "this server's /pki/trust.pem"
    assert response.headers["Cache-Control"] == "no-store"


def test_api_accepts_multipart_and_reports_a_manipulated_pdf_as_failed(client, sealed):
    tampered = sealed.replace(b"Business licence page 1", b"Business licence page 8", 1)
    response = client.post("/verify/api/v1/pdf", data={"file": (io.BytesIO(tampered), "licence.pdf")},
                           content_type="multipart/form-data")
    entry = response.get_json()["files"][0]
    assert (entry["file"], entry["indication"], entry["sub_indication"]) == ("licence.pdf", "TOTAL_FAILED",
                                                                            "HASH_FAILURE")


@pytest.mark.parametrize(("body", "status"), [(b"", 400), (b"hello, not a document", 415)])
def test_api_answers_bad_input_with_problem_json(client, body, status):
    response = client.post("/verify/api/v1/pdf", data=body, content_type="application/pdf")
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.get_json()["status"] == status


def test_api_refuses_documents_over_the_size_limit(world, sealed):
    small = make_client(world, max_bytes=4096)
    response = small.post("/verify/api/v1/pdf", data=sealed, content_type="application/pdf")
    assert response.status_code == 413 and response.headers["Content-Type"] == "application/problem+json"
    multipart = small.post("/verify/api/v1/pdf", data={"file": (io.BytesIO(sealed * 8), "big.pdf")},
                           content_type="multipart/form-data")
    assert multipart.status_code == 413 and multipart.headers["Content-Type"] == "application/problem+json"


def test_api_rate_limits_per_client_ip(world):
    limited = make_client(world, rate=2)
    codes = [limited.post("/verify/api/v1/pdf", data=b"x", content_type="application/pdf").status_code
             for _ in range(3)]
    assert codes[:2] == [415, 415] and codes[2] == 429
    other = limited.post("/verify/api/v1/pdf", data=b"x", content_type="application/pdf",
                         environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 415


def test_page_is_bilingual_and_renders_the_report_of_an_upload(client, sealed):
    page = client.get("/verify/")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "电子印章验证" in text and "Verify a sealed document" in text
    assert 'name="viewport"' in text and "http" not in text.split("<script>")[1].split("</script>")[0]
    result = client.post("/verify/", data={"file": (io.BytesIO(sealed), "licence.pdf")},
                         content_type="multipart/form-data")
    body = result.get_data(as_text=True)
    assert result.status_code == 200 and "验证通过" in body and "TOTAL_PASSED" in body
    assert "data:image/png;base64," in body  # the seal picture
    bad = client.post("/verify/", data={"file": (io.BytesIO(b"junk"), "x.pdf")}, content_type="multipart/form-data")
    assert bad.status_code == 415 and 'role="alert"' in bad.get_data(as_text=True)


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):
        self.hits.append(self.path)
        self.send_response(404)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args):
        pass


def test_the_api_never_fetches_urls_named_in_the_document(world):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/pki"
        ca = world.pki.issuer("p256-issuing")
        issuer = Issuer(ca.name, ca.key, ca.key_identifier, "p256-issuing", base)  # CRL/OCSP/AIA URLs -> recorder
        key = generate_private_key("p256")
        now = datetime.now(UTC)
        certificate = build_certificate(subject=parse_subject("CN=Fetch Me,O=Fetch Me,C=CN"),
                                        public_key_info=PublicKeyInfo.load(key.public_key().public_bytes_der()),
                                        issuer=issuer, profile=profile("seal"), not_before=now - timedelta(hours=1),
                                        not_after=now + timedelta(days=30))
        assert base.encode() in certificate.dump()
        who = Identity(key, certificate, [], "p256-issuing")  # no intermediate embedded: AIA would be tempting
        data = world.sign(base_pdf(), who)
        response = make_client(world).post("/verify/api/v1/pdf", data=data, content_type="application/pdf")
        assert response.status_code == 200
        assert response.get_json()["files"][0]["indication"] != "TOTAL_PASSED"
        assert _Recorder.hits == []
    finally:
        server.shutdown()
        server.server_close()


def test_the_app_mounts_verify_and_checks_with_its_own_trust_and_crls(tmp_path):
    from yitong.app import create_app
    from yitong.home import Home
    from yitong.settings import Settings

    settings = Settings.from_env({"YITONG_HOME": str(tmp_path)})
    home = Home(settings)
    home.initialise()
    pki = home.pki()
    record = pki.keystore.generate("seal", "p256", owner="verify-app-test")
    issued = pki.issue("seal", kid=record.kid, subject="CN=App Seal,O=App Org,C=CN")
    who = Identity(pki.keystore.private_key(record.kid), issued.certificate, [pki.ca_certificate(issued.ca)],
                   issued.ca)
    signed = sign(base_pdf(), who)
    client = create_app(settings, home).test_client()
    assert client.get("/verify/").status_code == 200
    first = client.post("/verify/api/v1/pdf", data=signed, content_type="application/pdf").get_json()
    assert first["files"][0]["indication"] == "TOTAL_PASSED"
    pki.revoke(issued.ca, issued.serial, "keyCompromise")
    # a new app: its CRL cache starts empty and sees the revocation through the server's own CRL
    client = create_app(settings, home).test_client()
    second = client.post("/verify/api/v1/pdf", data=signed, content_type="application/pdf").get_json()
    assert second["files"][0]["sub_indication"] in ("REVOKED", "REVOKED_NO_POE")
    evidence = second["files"][0]["signatures"][0]["evidence"]
    assert any(e["source"] == "supplied" for e in evidence)


def test_an_sm2_seal_checked_against_the_crls_of_every_ca_has_no_warnings(client, sealed):
    """The server supplies the CRLs of all its CAs; those of CAs outside the seal's chain are no warning."""
    response = client.post("/verify/api/v1/pdf", data=sealed, content_type="application/pdf")
    entry = response.get_json()["files"][0]
    assert entry["indication"] == "TOTAL_PASSED"
    assert [w for s in entry["signatures"] for w in s["warnings"]] == []
    assert entry.get("warnings", []) == []
    page = client.post("/verify/", data={"file": (io.BytesIO(sealed), "sm2.pdf")}, content_type="multipart/form-data")
    assert page.status_code == 200 and b"not signed by a known CA" not in page.data


def test_when_every_verification_slot_is_taken_uploads_get_503_with_retry_after(world, sealed):
    """At most YITONG_VERIFY_CONCURRENCY documents are verified at once per process (issue 12 item 9)."""
    client = make_client(world)
    service = client.application.extensions["yitong.verify"]
    with service.slot(), service.slot():  # the default two, as two slow uploads would hold them
        busy = client.post("/verify/api/v1/pdf", data=sealed, content_type="application/pdf")
        page = client.post("/verify/", data={"file": (io.BytesIO(sealed), "a.pdf")},
                           content_type="multipart/form-data")
    assert busy.status_code == 503 and busy.headers["Content-Type"] == "application/problem+json"
    assert busy.headers["Retry-After"] == str(web.BUSY_RETRY_AFTER)
    assert "as many documents as it can at once" in busy.get_json()["detail"]
    assert page.status_code == 503 and page.headers["Retry-After"] == str(web.BUSY_RETRY_AFTER)
    assert "as many documents as it can at once" in page.get_data(as_text=True)
    freed = client.post("/verify/api/v1/pdf", data=sealed, content_type="application/pdf")
    assert freed.status_code == 200 and freed.get_json()["files"][0]["indication"] == "TOTAL_PASSED"
