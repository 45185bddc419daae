"""Organisation certificates (法人证书) at certificate login: they prove an organisation for a person
signed in as themselves who may act for it, and never sign anyone in (idp/certlogin/certificates.py).

Real pieces throughout: OpenSSL makes the keys and requests, our CA (keys/ PKI, profile ``login``)
the certificates with the USCC in the subject serialNumber, ``yitong cert-login sign`` the answers,
and the real app's pages, chooser, token endpoint and userinfo the rest, on both storage backends.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest

from idp.audit import Audit
from tests.baselib.server import COMPANY, LI, PILOT, ZHANG, ZHAO
from tests.idp.support import login, make_idp
from tests.idp.test_agents import (
    LOA_2,
    SCOPE,
    act,
    agent_ids,
    authorize,
    grant,
    introspect,
    organisation,
    payload,
    person,
    refresh,
    tokens_for,
)
from tests.idp.test_certlogin import answer, challenge_of, login_certificate

LOA_4 = "urn:yitong:loa:4"
PROVEN = "已用单位证书验证"


@pytest.fixture
def idp(storage, tmp_path):
    return make_idp(storage, tmp_path, with_pki=True, YITONG_CERT_LOGIN_PROXIES="127.0.0.1")


@pytest.fixture
def portal(idp):
    client, secret = idp.client(scope=SCOPE)
    return client.client_id, secret


@pytest.fixture
def company(idp):
    return company_with_agent(idp)


def company_with_agent(idp) -> dict:
    """张三 represents COMPANY; 李四 is its active agent (seal_keeper); 赵六 is real-name but nothing to it."""
    zhang = person(idp, "zhangsan", ZHANG)
    li = person(idp, "lisi", LI, phone="13900139000")
    zhao = person(idp, "zhaoliu", ZHAO)
    organisation(idp, zhang, COMPANY)
    rep = idp.app.test_client()
    assert login(rep, "zhangsan").status_code == 302
    assert grant(rep, COMPANY[1], "13900139000").status_code == 200
    agent = idp.app.test_client()
    assert login(agent, "lisi").status_code == 302
    [(agent_id, _, _)] = agent_ids(idp, COMPANY[1])
    assert act(agent, action="accept", agent_id=agent_id).status_code == 200
    return {"zhang": zhang, "li": li, "zhao": zhao, "agent_id": agent_id}


def org_certificate(idp, tmp_path, algorithm: str, uscc: str = COMPANY[1], name: str = COMPANY[0]):
    """(key file, certificate file, issued): the organisation's USB key, as our CA would issue it."""
    return login_certificate(idp, tmp_path, algorithm, f"CN={name},O={name},serialNumber={uscc},C=CN", f"org-{uscc}")


def present(web, key, cert, return_to: str = "/"):
    page = web.get("/login/certificate?" + urlencode({"return_to": return_to})).get_data(as_text=True)
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    return web.post("/login/certificate", data={"csrf": csrf, "return_to": return_to,
                                                "answer": answer(key, cert, challenge_of(page))})


def events(idp, name):
    return [e for e in Audit(idp.home.engine).tail(500) if e.event == name]


@pytest.mark.parametrize("algorithm", ["sm2", "p256"])
def test_the_organisations_certificate_proves_it_for_its_agent_and_the_org_claim_says_loa_4(
        idp, portal, company, tmp_path, algorithm):
    key, cert, issued = org_certificate(idp, tmp_path, algorithm)
    web = idp.app.test_client()
    assert login(web, "lisi").status_code == 302
    proven = present(web, key, cert, return_to="/account")
    assert proven.status_code == 302 and proven.headers["Location"] == "/account", proven.get_data(as_text=True)
    assert "yitong_sso=" not in proven.headers.get("Set-Cookie", "")  # no new sign-in: still 李四's own
    [event] = events(idp, "acting.proven")
    assert (event.sub, event.detail["uscc"], event.detail["reference"]) == (
        company["li"].sub, COMPANY[1], issued.serial.lower())

    chooser, callback, verifier = authorize(web, portal[0], choose=COMPANY[1])
    assert PROVEN in chooser
    body = tokens_for(web, portal, callback["code"], verifier).get_json()
    access, id_token = payload(body["access_token"]), payload(body["id_token"])
    expected = {"uscc": COMPANY[1], "name": COMPANY[0], "roles": ["seal_keeper"], "acting_as": True, "acr": LOA_4}
    assert access["org"] == expected and id_token["org"] == expected
    # The person's own level is what they signed in with; the certificate raised only the organisation's.
    assert access["acr"] == id_token["acr"] == LOA_2 and id_token["amr"] == ["pwd"]
    assert web.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}).get_json()["org"] == \
        expected
    renewed = refresh(web, portal, body["refresh_token"]).get_json()
    assert payload(renewed["access_token"])["org"] == expected  # bound to the grant, not to the page
    assert introspect(web, portal, renewed["access_token"])["active"] is True


def test_without_the_certificate_the_org_claim_has_the_organisations_registered_level(idp, portal, company):
    web = idp.app.test_client()
    assert login(web, "lisi").status_code == 302
    chooser, callback, verifier = authorize(web, portal[0], choose=COMPANY[1])
    assert PROVEN not in chooser and 'id="org-prove"' in chooser  # the chooser offers the proof
    access = payload(tokens_for(web, portal, callback["code"], verifier).get_json()["access_token"])
    assert access["org"]["acr"] == LOA_2


def test_nobody_signed_in_the_certificate_waits_for_the_person_to_sign_in_as_themselves(
        idp, portal, company, tmp_path):
    key, cert, _ = org_certificate(idp, tmp_path, "sm2")
    web = idp.app.test_client()
    page = present(web, key, cert, return_to="/account")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="org-cert"' in text and COMPANY[0] in text
    assert "yitong_sso=" not in page.headers.get("Set-Cookie", "")  # the organisation's key signs nobody in
    assert web.get("/account").status_code == 302  # not signed in
    sign_in = text.split('id="org-cert-sign-in" href="')[1].split('"')[0].replace("&amp;", "&")
    assert sign_in == "/login?return_to=%2Flogin%2Fcertificate%2Forganisation"
    signed_in = login(web, "zhangsan", return_to="/login/certificate/organisation")
    assert signed_in.headers["Location"] == "/login/certificate/organisation"
    applied = web.get("/login/certificate/organisation")
    assert applied.status_code == 302 and applied.headers["Location"] == "/account"
    chooser, callback, verifier = authorize(web, portal[0], choose=COMPANY[1])
    assert PROVEN in chooser
    access = payload(tokens_for(web, portal, callback["code"], verifier).get_json()["access_token"])
    assert access["org"] == {"uscc": COMPANY[1], "name": COMPANY[0], "roles": ["legal_representative"],
                             "acting_as": True, "acr": LOA_4}
    assert access["sub"] == company["zhang"].sub
    again = web.get("/login/certificate/organisation")  # used up
    assert again.status_code == 400


def test_holding_the_key_grants_nothing_to_a_person_who_may_not_act_for_the_organisation(
        idp, portal, company, tmp_path):
    key, cert, _ = org_certificate(idp, tmp_path, "p256")
    web = idp.app.test_client()
    assert login(web, "zhaoliu").status_code == 302
    refused = present(web, key, cert)
    assert refused.status_code == 403 and "持有单位证书或营业执照不等于获得授权" in refused.get_data(as_text=True)
    [event] = events(idp, "acting.refused")
    assert (event.sub, event.detail["uscc"]) == (company["zhao"].sub, COMPANY[1])
    assert events(idp, "acting.proven") == []
    chooser, callback, verifier = authorize(web, portal[0])  # nothing to choose: 赵六 acts as himself
    assert chooser is None
    assert "org" not in payload(tokens_for(web, portal, callback["code"], verifier).get_json()["access_token"])


def test_a_revoked_agent_is_not_saved_by_the_certificate(idp, portal, company, tmp_path):
    key, cert, _ = org_certificate(idp, tmp_path, "sm2")
    web = idp.app.test_client()
    assert login(web, "lisi").status_code == 302
    assert present(web, key, cert).status_code == 302
    _, callback, verifier = authorize(web, portal[0], choose=COMPANY[1])
    body = tokens_for(web, portal, callback["code"], verifier).get_json()
    rep = idp.app.test_client()
    assert login(rep, "zhangsan").status_code == 302
    assert act(rep, action="revoke", agent_id=company["agent_id"]).status_code == 200
    assert refresh(web, portal, body["refresh_token"]).status_code == 400
    assert introspect(web, portal, body["access_token"])["active"] is False
    assert present(web, key, cert).status_code == 403  # and the key does not bring the agency back


def test_a_new_sign_in_starts_without_the_proof(idp, portal, company, tmp_path):
    key, cert, _ = org_certificate(idp, tmp_path, "sm2")
    web = idp.app.test_client()
    assert login(web, "lisi").status_code == 302
    assert present(web, key, cert).status_code == 302
    assert login(web, "lisi").status_code == 302  # a new session (new sid) in the same browser
    chooser, callback, verifier = authorize(web, portal[0], choose=COMPANY[1])
    assert PROVEN not in chooser
    assert payload(tokens_for(web, portal, callback["code"], verifier).get_json()["access_token"])["org"]["acr"] \
        == LOA_2


def test_unregistered_revoked_and_unreadable_organisation_certificates_are_refused(idp, company, tmp_path):
    web = idp.app.test_client()
    assert login(web, "zhangsan").status_code == 302
    key, cert, _ = org_certificate(idp, tmp_path, "sm2", uscc=PILOT[1], name=PILOT[0])
    unregistered = present(web, key, cert)
    assert unregistered.status_code == 401 and "未在本平台登记" in unregistered.get_data(as_text=True)
    key, cert, issued = org_certificate(idp, tmp_path, "p256")
    idp.home.pki().revoke(issued.ca, issued.serial, "keyCompromise")
    revoked = present(web, key, cert)
    assert revoked.status_code == 401 and "证书已被吊销或冻结" in revoked.get_data(as_text=True)
    key, cert, _ = org_certificate(idp, tmp_path, "sm2", uscc="NOT-A-CODE")
    unreadable = present(web, key, cert)
    assert unreadable.status_code == 401
    assert "既不是居民身份证号码，也不是统一社会信用代码" in unreadable.get_data(as_text=True)
    assert sorted(e.detail["reason"] for e in events(idp, "login.failure")) == [
        "bad_subject_number", "organisation_not_registered", "revoked"]
    assert events(idp, "acting.proven") == []


def test_mutual_tls_with_the_organisations_certificate_proves_it_too(idp, portal, company, tmp_path):
    _, cert, _ = org_certificate(idp, tmp_path, "p256")
    web = idp.app.test_client()
    assert login(web, "lisi").status_code == 302
    proven = web.get("/login/certificate/tls?return_to=/account",
                     headers={"X-SSL-Client-Cert": quote(cert.read_text())})
    assert proven.status_code == 302 and proven.headers["Location"] == "/account"
    chooser, _, _ = authorize(web, portal[0], choose=COMPANY[1])
    assert PROVEN in chooser
    assert events(idp, "acting.proven")[0].detail["tls"] is True
