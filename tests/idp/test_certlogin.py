"""Certificate login (loa:4): challenge-response with certificates from keys/ PKI, SM2 and P-256.

The person's key and request are made by OpenSSL, the certificate by our CA (profile ``login``,
subject serialNumber = the resident ID number), the answer by ``yitong cert-login sign`` — the
USB-key driver's stand-in — and the page is the real app's.
"""

from __future__ import annotations

import subprocess
from datetime import timedelta
from urllib.parse import quote, urlencode

import pytest

from idp.certlogin.certificates import CertLoginError, decode_answer, new_challenge
from keys.clock import utcnow
from keys.pki.certificates import certificate_pem, load_csr
from tests.helpers import require_tool, run_yitong
from tests.idp.support import ISSUER, PASSWORD, authorize_url, code_from, make_idp, pkce_pair, through_consent

ID_NUMBER = "11010519491231002X"  # GB 11643's own example number
OTHER_ID_NUMBER = "440308199901011234"
DISTID = "distid:1234567812345678"


@pytest.fixture
def idp(storage, tmp_path):
    return make_idp(storage, tmp_path, with_pki=True, YITONG_CERT_LOGIN_PROXIES="127.0.0.1")


@pytest.fixture
def alice(idp):
    person = idp.accounts.create(username="alice", password=PASSWORD)
    idp.app.extensions["yitong.idp"].identities.bind(
        person.sub, id_type="resident_id", name="张三", id_number=ID_NUMBER, trust_framework="test", evidence={})
    return person


def person_certificate(idp, tmp_path, algorithm: str, id_number: str = ID_NUMBER, days: int | None = None):
    """(key file, certificate file, issued) for a person: OpenSSL key and CSR, our CA's certificate."""
    return login_certificate(idp, tmp_path, algorithm, f"CN=张三,serialNumber={id_number},C=CN", id_number, days)


def login_certificate(idp, tmp_path, algorithm: str, subject: str, label: str, days: int | None = None):
    """(key file, certificate file, issued): an OpenSSL key and request (SM2 or P-256), and our CA's
    certificate (profile ``login``) for ``subject``; files named after ``label``."""
    openssl = require_tool("openssl")
    key, cert = tmp_path / f"{algorithm}-{label}.key", tmp_path / f"{algorithm}-{label}.crt"
    if algorithm == "sm2":
        subprocess.run([openssl, "genpkey", "-algorithm", "SM2", "-out", str(key)], check=True)
        sign = ["-sm3", "-sigopt", DISTID]
    else:
        subprocess.run([openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-out", str(key)], check=True)
        sign = ["-sha256"]
    csr = subprocess.run([openssl, "req", "-new", "-key", str(key), *sign, "-subj", "/CN=login/C=CN"],
                         capture_output=True, check=True).stdout
    issued = idp.home.pki().issue("login", request=load_csr(csr), subject=subject, days=days)
    cert.write_bytes(certificate_pem(issued.certificate))
    return key, cert, issued


def challenge_of(page: str) -> str:
    return page.split('<code id="challenge" class="breakable">')[1].split("</code>")[0].replace(
        "&#35;", "#")


def answer(key, cert, challenge: str) -> str:
    result = run_yitong(["cert-login", "sign", "--key", str(key), "--cert", str(cert), "--challenge", challenge], {})
    assert result.returncode == 0, result.stderr
    return result.stdout.decode().strip()


def sign_in(web, key, cert, return_to: str = "/"):
    page = web.get("/login/certificate?" + urlencode({"return_to": return_to})).get_data(as_text=True)
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    form = {"csrf": csrf, "return_to": return_to, "answer": answer(key, cert, challenge_of(page))}
    return web.post("/login/certificate", data=form), form


@pytest.mark.parametrize("algorithm", ["sm2", "p256"])
def test_a_certificate_signs_in_at_loa_4_and_the_id_token_says_so(idp, alice, tmp_path, algorithm):
    key, cert, _ = person_certificate(idp, tmp_path, algorithm)
    client, _ = idp.client(public=True)
    web = idp.app.test_client()
    verifier, challenge = pkce_pair()
    request = authorize_url(client.client_id, challenge, acr_values="urn:yitong:loa:4")
    response, _ = sign_in(web, key, cert, return_to=request)
    assert response.status_code == 302, response.get_data(as_text=True).split("role=\"alert\">")[-1][:300]
    assert response.headers["Location"] == request
    params = code_from(through_consent(web, web.get(request)))
    tokens = web.post("/token", data={"grant_type": "authorization_code", "code": params["code"],
                                      "redirect_uri": "http://127.0.0.1:9000/callback", "code_verifier": verifier,
                                      "client_id": client.client_id}).get_json()
    from keys import jose

    jwks = web.get("/jwks.json").get_json()["keys"]
    _, claims = jose.verify_jwt(tokens["id_token"], jwks, algorithms=["ES256"])
    assert claims["sub"] == alice.sub and claims["acr"] == "urn:yitong:loa:4" and claims["amr"] == ["pop"]


def test_asking_for_loa_4_steps_a_password_session_up_to_the_certificate_page(idp, alice):
    from tests.idp.support import login

    client, _ = idp.client(public=True)
    web = idp.app.test_client()
    _, challenge = pkce_pair()
    assert login(web, "alice").status_code == 302
    stepped = web.get(authorize_url(client.client_id, challenge, acr_values="urn:yitong:loa:4"))
    assert stepped.status_code == 302 and stepped.headers["Location"].startswith("/login/certificate?return_to=")
    none = code_from(web.get(authorize_url(client.client_id, challenge, acr_values="urn:yitong:loa:4",
                                           prompt="none")))
    assert none["error"] == "unmet_authentication_requirements"


def test_the_answer_is_single_use(idp, alice, tmp_path):
    key, cert, _ = person_certificate(idp, tmp_path, "sm2")
    web = idp.app.test_client()
    first, form = sign_in(web, key, cert)
    assert first.status_code == 302
    again = web.post("/login/certificate", data=form)
    assert again.status_code in (400, 401)  # the challenge is gone (or the CSRF token was renewed)
    assert "yitong_sso" not in again.headers.get("Set-Cookie", "")


def refused(web, key, cert, challenge_override: str | None = None):
    page = web.get("/login/certificate").get_data(as_text=True)
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    challenge = challenge_override or challenge_of(page)
    response = web.post("/login/certificate", data={"csrf": csrf, "return_to": "/",
                                                    "answer": answer(key, cert, challenge)})
    assert response.status_code == 401 and "yitong_sso" not in response.headers.get("Set-Cookie", "")
    return response.get_data(as_text=True)


def test_a_revoked_or_held_certificate_is_refused(idp, alice, tmp_path):
    key, cert, issued = person_certificate(idp, tmp_path, "sm2")
    idp.home.pki().revoke(issued.ca, issued.serial, "certificateHold")
    assert "证书已被吊销或冻结" in refused(idp.app.test_client(), key, cert)
    key2, cert2, issued2 = person_certificate(idp, tmp_path, "p256")
    idp.home.pki().revoke(issued2.ca, issued2.serial, "keyCompromise")
    assert "证书已被吊销或冻结" in refused(idp.app.test_client(), key2, cert2)


def test_a_signature_over_another_challenge_is_refused(idp, alice, tmp_path):
    key, cert, _ = person_certificate(idp, tmp_path, "sm2")
    assert "签名验证失败" in refused(idp.app.test_client(), key, cert, challenge_override=new_challenge(ISSUER))


def test_a_certificate_from_a_ca_we_do_not_trust_is_refused(idp, alice, tmp_path):
    openssl = require_tool("openssl")
    key, cert = tmp_path / "self.key", tmp_path / "self.crt"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "30",
                    "-subj", f"/CN=Mallory/serialNumber={ID_NUMBER}/C=CN"], check=True, capture_output=True)
    page = refused(idp.app.test_client(), key, cert)
    assert "不是由本平台信任的证书机构签发" in page, page.split("role=\"alert\">")[1][:300]


def test_a_certificate_whose_id_number_has_no_real_name_account_is_refused(idp, alice, tmp_path):
    key, cert, _ = person_certificate(idp, tmp_path, "sm2", id_number=OTHER_ID_NUMBER)
    assert "未绑定任何已实名的账号" in refused(idp.app.test_client(), key, cert)


def test_an_expired_certificate_is_refused(idp, alice, tmp_path):
    key, cert, _ = person_certificate(idp, tmp_path, "sm2", days=1)
    login = idp.app.extensions["yitong.idp"].certlogin
    challenge = new_challenge(ISSUER)
    certificate, signature = decode_answer(answer(key, cert, challenge))
    with pytest.raises(CertLoginError) as refused_later:
        login.login(certificate, signature, challenge, moment=utcnow() + timedelta(days=3))
    assert refused_later.value.code == "expired"
    assert login.login(certificate, signature, challenge).sub == alice.sub  # today it is fine


def test_mutual_tls_through_the_configured_proxy_signs_in_and_others_are_refused(idp, alice, tmp_path):
    _, cert, _ = person_certificate(idp, tmp_path, "p256")
    header = {"X-SSL-Client-Cert": quote(cert.read_text())}
    web = idp.app.test_client()
    stranger = web.get("/login/certificate/tls", headers=header, environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert stranger.status_code == 403 and "yitong_sso" not in stranger.headers.get("Set-Cookie", "")
    via_proxy = web.get("/login/certificate/tls", headers=header)
    assert via_proxy.status_code == 302 and "yitong_sso=" in via_proxy.headers.get("Set-Cookie", "")


def test_mutual_tls_still_checks_the_proxy_itself_when_it_is_also_a_trusted_forwarding_proxy(storage, tmp_path):
    idp = make_idp(storage, tmp_path, with_pki=True, YITONG_CERT_LOGIN_PROXIES="10.0.0.9",
                   YITONG_TRUSTED_PROXIES="10.0.0.9")
    alice = idp.accounts.create(username="alice", password=PASSWORD)
    idp.app.extensions["yitong.idp"].identities.bind(
        alice.sub, id_type="resident_id", name="张三", id_number=ID_NUMBER, trust_framework="test", evidence={})
    _, cert, _ = person_certificate(idp, tmp_path, "p256")
    web = idp.app.test_client()
    header = {"X-SSL-Client-Cert": quote(cert.read_text()), "X-Forwarded-For": "198.51.100.7"}
    via_proxy = web.get("/login/certificate/tls", headers=header, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert via_proxy.status_code == 302 and "yitong_sso=" in via_proxy.headers.get("Set-Cookie", "")
    claimed = web.get("/login/certificate/tls", environ_base={"REMOTE_ADDR": "198.51.100.7"},
                      headers={**header, "X-Forwarded-For": "10.0.0.9"})  # naming the proxy is not being it
    assert claimed.status_code == 403


def test_the_signing_command_refuses_a_key_that_is_not_the_certificates(idp, tmp_path):
    key, _, _ = person_certificate(idp, tmp_path, "sm2")
    _, cert, _ = person_certificate(idp, tmp_path, "p256")
    result = run_yitong(["cert-login", "sign", "--key", str(key), "--cert", str(cert), "--challenge", "x#y"], {})
    assert result.returncode == 2 and b"does not belong to the certificate" in result.stderr
