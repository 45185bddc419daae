"""CAS 3.0 service tickets and the ticket → token exchange (idp/oauth/cas.py), on both storage backends.

The witness is a CAS client library we did not write: python-cas (CASClientV3) builds the login URL
and validates our tickets over real HTTP against the app served by werkzeug; the browser steps go
through the real sign-in, consent and organisation pages of the same app.
"""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlencode, urlsplit

import cas
import pytest
from werkzeug.serving import make_server

from tests.baselib.server import COMPANY, ZHANG
from tests.helpers import free_port
from tests.idp.support import PASSWORD, REDIRECT, confirm_logout, login, make_idp, through_consent
from tests.idp.test_agents import organisation, person

NS = {"cas": "http://www.yale.edu/tp/cas"}


@pytest.fixture
def idp(storage, tmp_path):
    return make_idp(storage, tmp_path)


@pytest.fixture
def served(idp):
    """The same app over real HTTP, for the CAS client library."""
    port = free_port()
    server = make_server("127.0.0.1", port, idp.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/cas/"
    server.shutdown()
    thread.join(timeout=10)


def ticket_from(response) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)[-500:]
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?ticket=ST-"), location
    assert list(parse_qs(urlsplit(location).query)) == ["ticket"]  # nothing else: CAS clients strip only ticket
    return parse_qs(urlsplit(location).query)["ticket"][0]


def sign_in_through_cas(web, login_url: str, username: str | None = "alice", choose: str | None = None):
    """Browser: /cas/login → /authorize → sign-in → consent (→ organisation chooser) → the service."""
    parts = urlsplit(login_url)
    response = web.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 302 and response.headers["Location"].startswith("/authorize?")
    authorize = response.headers["Location"]
    response = web.get(authorize)
    if username is not None and response.headers.get("Location", "").startswith("/login"):
        assert login(web, username, return_to=authorize).status_code == 302
        response = web.get(authorize)
    response = through_consent(web, response)
    if choose is not None:
        page = response.get_data(as_text=True)
        assert 'id="org-choose"' in page
        csrf = page.split('name="csrf" value="')[1].split('"')[0]
        return_to = page.split('name="return_to" value="')[1].split('"')[0].replace("&amp;", "&")
        chosen = web.post("/authorize/organisation", data={"csrf": csrf, "return_to": return_to, "org": choose})
        response = web.get(chosen.headers["Location"])
    return response


def validate(web, ticket: str, service: str = REDIRECT, **extra) -> ET.Element | dict:
    answer = web.get("/cas/p3/serviceValidate?" + urlencode({"service": service, "ticket": ticket, **extra}))
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    if extra.get("format") == "JSON":
        return json.loads(answer.get_data(as_text=True))["serviceResponse"]
    return ET.fromstring(answer.get_data())  # noqa: S314 (our own server's answer)


def failure_code(root: ET.Element) -> str:
    failure = root.find("cas:authenticationFailure", NS)
    assert failure is not None, ET.tostring(root)
    return failure.get("code")


def test_a_cas_client_library_signs_in_through_us_and_validates_the_ticket(idp, served):
    idp.client(cas=True, scope="openid profile phone")
    alice = idp.accounts.create(username="alice", password=PASSWORD, phone="13800138000")
    library = cas.CASClient(version=3, service_url=REDIRECT, server_url=served)
    web = idp.app.test_client()
    ticket = ticket_from(sign_in_through_cas(web, library.get_login_url()))

    user, attributes, pgtiou = library.verify_ticket(ticket)
    assert user == alice.sub and pgtiou is None
    assert attributes["preferred_username"] == "alice" and attributes["phone_number"] == "+8613800138000"
    assert attributes["acr"] == "urn:yitong:loa:1" and attributes["amr"] == "pwd"
    assert attributes["authenticationDate"].endswith("+00:00")
    assert library.verify_ticket(ticket)[0] is None  # used up

    # Signed in already: the next service visit gets a ticket without a login page.
    again = ticket_from(sign_in_through_cas(web, library.get_login_url(), username=None))
    answer = validate(web, again, format="JSON")
    assert answer["authenticationSuccess"]["user"] == alice.sub
    assert answer["authenticationSuccess"]["attributes"]["amr"] == ["pwd"]


def test_the_ticket_is_exchanged_for_tokens_once(idp):
    client, secret = idp.client(cas=True, scope="openid profile offline_access")
    idp.accounts.create(username="alice", password=PASSWORD)
    web = idp.app.test_client()
    ticket = ticket_from(sign_in_through_cas(web, "/cas/login?" + urlencode({"service": REDIRECT})))
    exchanged = web.post("/token", data={"grant_type": "authorization_code", "code": ticket, "redirect_uri": REDIRECT},
                         auth=(client.client_id, secret))
    assert exchanged.status_code == 200, exchanged.get_json()
    tokens = exchanged.get_json()
    info = web.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).get_json()
    assert info["preferred_username"] == "alice"
    assert failure_code(validate(web, ticket)) == "INVALID_TICKET"  # good once, at either place
    refreshed = web.post("/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                         auth=(client.client_id, secret))
    assert refreshed.status_code == 400  # the second use revoked what the first produced
    without_secret = web.post("/token", data={"grant_type": "authorization_code", "code": ticket,
                                              "redirect_uri": REDIRECT, "client_id": client.client_id})
    assert without_secret.status_code == 401


def test_the_legal_person_switch_puts_the_organisation_in_the_attributes(idp):
    idp.client(cas=True, scope="openid profile org")
    zhang = person(idp, "zhangsan", ZHANG)
    organisation(idp, zhang, COMPANY)
    web = idp.app.test_client()
    response = sign_in_through_cas(web, "/cas/login?" + urlencode({"service": REDIRECT}), username="zhangsan",
                                   choose=COMPANY[1])
    answer = validate(web, ticket_from(response), format="JSON")["authenticationSuccess"]
    assert answer["user"] == zhang.sub
    attributes = answer["attributes"]
    assert (attributes["org_uscc"], attributes["org_name"], attributes["org_roles"], attributes["org_acr"]) == (
        COMPANY[1], COMPANY[0], ["legal_representative"], "urn:yitong:loa:2")


def test_wrong_service_bad_tickets_and_unknown_services_are_refused(idp):
    other = "http://127.0.0.1:9000/other"
    idp.client(cas=True, scope="openid")
    idp.accounts.create(username="alice", password=PASSWORD)
    web = idp.app.test_client()
    unknown = web.get("/cas/login?" + urlencode({"service": "https://evil.example/cb"}))
    assert unknown.status_code == 400 and "Location" not in unknown.headers
    assert failure_code(validate(web, "")) == "INVALID_REQUEST"
    assert failure_code(validate(web, "not-a-ticket")) == "INVALID_TICKET_SPEC"
    assert failure_code(validate(web, "ST-" + "x" * 40)) == "INVALID_TICKET"
    ticket = ticket_from(sign_in_through_cas(web, "/cas/login?" + urlencode({"service": REDIRECT})))
    assert failure_code(validate(web, ticket, service=other)) == "INVALID_SERVICE"
    assert failure_code(validate(web, ticket)) == "INVALID_TICKET"  # a mismatch ends the ticket (CAS 3.0 §2.5.1)


def test_only_cas_clients_get_tickets_and_gateway_and_renew_behave(idp):
    plain, _ = idp.client(scope="openid")  # not registered --cas
    idp.accounts.create(username="alice", password=PASSWORD)
    web = idp.app.test_client()
    assert web.get("/cas/login?" + urlencode({"service": REDIRECT})).status_code == 400
    assert login(web, "alice").status_code == 302
    forced = through_consent(web, web.get("/authorize?" + urlencode({
        "response_type": "code", "client_id": plain.client_id, "redirect_uri": REDIRECT, "scope": "openid",
        "response_mode": "yitong_cas"})))
    assert forced.status_code == 302 and "error=invalid_request" in forced.headers["Location"]

    idp.client(cas=True, scope="openid")
    stranger = idp.app.test_client()
    gateway = stranger.get("/cas/login?" + urlencode({"service": REDIRECT, "gateway": "true"}))
    assert gateway.status_code == 302 and gateway.headers["Location"] == REDIRECT  # no sign-in: no ticket
    renew = web.get("/cas/login?" + urlencode({"service": REDIRECT, "renew": "true"}))
    assert "prompt=login" in renew.headers["Location"]
    assert web.get(renew.headers["Location"]).headers["Location"].startswith("/login?")  # asked again


def test_cas_logout_ends_the_sign_in_and_returns_to_the_service(idp):
    client, _ = idp.client(cas=True, scope="openid")
    idp.accounts.create(username="alice", password=PASSWORD)
    web = idp.app.test_client()
    assert login(web, "alice").status_code == 302
    bye = "http://127.0.0.1:9000/bye"
    out = web.get("/cas/logout?" + urlencode({"service": bye}))
    assert out.headers["Location"] == "/logout?" + urlencode({"client_id": client.client_id,
                                                              "post_logout_redirect_uri": bye})
    asked = web.get(out.headers["Location"])  # a bare link: the person confirms first (idp/oauth/logout.py)
    assert asked.status_code == 200 and 'action="/logout"' in asked.get_data(as_text=True)
    ended = confirm_logout(web, client_id=client.client_id, post_logout_redirect_uri=bye)
    assert ended.status_code == 302 and ended.headers["Location"] == bye
    gateway = web.get("/cas/login?" + urlencode({"service": REDIRECT, "gateway": "true"}))
    assert gateway.headers["Location"] == REDIRECT  # signed out: no ticket any more
