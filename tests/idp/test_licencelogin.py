"""Proving an organisation with its electronic business licence (idp/certlogin/routes.py) against the
reference e-licence system (`yitong baselib serve`, baselib/licence.py) over real HTTP: the IdP starts
a presentation, "the holder's phone" (plain HTTP to the stand-in app page) confirms it, the IdP reads
the result once. Both storage backends."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.baselib.server import COMPANY, LI, ZHANG, ZHAO, running_baselib
from tests.helpers import free_port
from tests.idp.support import login, make_idp
from tests.idp.test_agents import (
    LOA_2,
    SCOPE,
    authorize,
    payload,
    person,
    tokens_for,
)
from tests.idp.test_certlogin_org import company_with_agent, events

LOA_4 = "urn:yitong:loa:4"
PROVEN = "已用电子营业执照验证"


@pytest.fixture(scope="module")
def baselib(tmp_path_factory):
    with running_baselib(tmp_path_factory.mktemp("baselib")) as server:
        yield server


@pytest.fixture
def idp(storage, tmp_path, baselib):
    return make_idp(storage, tmp_path, YITONG_BASELIB_URL=baselib.url, YITONG_BASELIB_KEY=baselib.key.hex())


@pytest.fixture
def portal(idp):
    client, secret = idp.client(scope=SCOPE)
    return client.client_id, secret


@pytest.fixture
def company(idp):
    return company_with_agent(idp)


def start(web, return_to="/account"):
    page = web.get("/login/licence?" + urllib.parse.urlencode({"return_to": return_to}))
    text = page.get_data(as_text=True)
    assert page.status_code == 200, text
    assert '<div id="licence-qr"><svg' in text  # the QR code the holder scans
    return text.split('id="licence-scan" href="')[1].split('"')[0].replace("&amp;", "&")


def phone(scan_url: str, **form) -> tuple[int, str]:
    """The holder's e-licence app (the stand-in page) over HTTP: GET shows it, form data answers it."""
    data = urllib.parse.urlencode(form).encode() if form else None
    try:
        with urllib.request.urlopen(urllib.request.Request(scan_url, data=data), timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def confirm(scan_url: str, holder=ZHANG, uscc=COMPANY[1]) -> tuple[int, str]:
    return phone(scan_url, action="confirm", uscc=uscc, holder_name=holder[0], holder_id_number=holder[1])


def finish(web):
    with web.session_transaction() as flask_session:
        csrf = flask_session["csrf"]
    return web.post("/login/licence", data={"csrf": csrf})


def test_the_holder_presents_the_licence_and_the_org_claim_says_loa_4(idp, portal, company, baselib):
    web = idp.app.test_client()
    assert login(web, "zhangsan").status_code == 302
    scan_url = start(web)
    assert scan_url.startswith(baselib.url + "/licence/present/")
    early = finish(web)
    assert early.status_code == 200 and 'id="licence-notice"' in early.get_data(as_text=True)  # not confirmed yet
    status, shown = phone(scan_url)
    assert status == 200 and 'id="present"' in shown and "一通 Yitong" in shown
    status, done = confirm(scan_url)
    assert status == 200 and 'id="present-done"' in done
    proven = finish(web)
    assert proven.status_code == 302 and proven.headers["Location"] == "/account", proven.get_data(as_text=True)
    [event] = events(idp, "acting.proven")
    assert (event.sub, event.detail["uscc"], event.detail["method"]) == (company["zhang"].sub, COMPANY[1], "licence")
    assert len(event.detail["reference"]) == 32  # the e-licence system's evidence reference

    chooser, callback, verifier = authorize(web, portal[0], choose=COMPANY[1])
    assert PROVEN in chooser and 'id="org-prove-licence"' in chooser
    access = payload(tokens_for(web, portal, callback["code"], verifier).get_json()["access_token"])
    assert access["org"] == {"uscc": COMPANY[1], "name": COMPANY[0], "roles": ["legal_representative"],
                             "acting_as": True, "acr": LOA_4}
    assert access["acr"] == LOA_2  # the person's own level is unchanged
    again = finish(web)  # the presentation was used up
    assert again.status_code == 400


def test_a_licence_presented_by_someone_else_proves_nothing(idp, portal, company):
    web = idp.app.test_client()
    assert login(web, "lisi").status_code == 302  # the agent, not the holder
    scan_url = start(web)
    assert confirm(scan_url, holder=ZHANG)[0] == 200  # the holder confirms on their phone
    refused = finish(web)
    assert refused.status_code == 403 and "不是同一人" in refused.get_data(as_text=True)
    [event] = events(idp, "acting.refused")
    assert (event.sub, event.detail["reason"]) == (company["li"].sub, "holder_is_someone_else")
    chooser, _, _ = authorize(web, portal[0], choose=COMPANY[1])
    assert PROVEN not in chooser


def test_the_stand_in_app_accepts_only_the_holder_on_record_and_a_declined_presentation_ends(idp, company):
    web = idp.app.test_client()
    assert login(web, "zhangsan").status_code == 302
    scan_url = start(web)
    status, page = confirm(scan_url, holder=LI)  # not the legal representative on record
    assert status == 400 and 'id="present-error"' in page
    status, page = phone(scan_url, action="decline")
    assert status == 200 and 'id="present-done"' in page
    declined = finish(web)
    assert declined.status_code == 400 and events(idp, "acting.proven") == []
    status, page = confirm(scan_url)  # too late: the presentation has ended
    assert status == 400


def test_the_result_is_given_once(idp, baselib, company):
    system = idp.app.extensions["yitong.idp"].connectors.business_licence
    presentation = system.start_presentation("test")
    assert system.presentation(presentation.presentation_id).status == "pending"
    assert confirm(presentation.scan_url)[0] == 200
    first = system.presentation(presentation.presentation_id)
    assert (first.status, first.uscc, first.holder_id_number, first.evidence["stand_in"]) == (
        "confirmed", COMPANY[1], ZHANG[1], True)
    assert system.presentation(presentation.presentation_id).status == "used"


def test_signing_in_first_then_back_to_the_licence(idp, company):
    web = idp.app.test_client()
    asked = web.get("/login/licence?return_to=/account/agents")
    assert asked.status_code == 302 and asked.headers["Location"] == "/login?return_to=%2Flogin%2Flicence"
    signed_in = login(web, "zhangsan", return_to="/login/licence")
    assert signed_in.headers["Location"] == "/login/licence"
    scan_url = start_remembered(web)
    assert confirm(scan_url)[0] == 200
    assert finish(web).headers["Location"] == "/account/agents"


def start_remembered(web):
    page = web.get("/login/licence")
    assert page.status_code == 200
    return page.get_data(as_text=True).split('id="licence-scan" href="')[1].split('"')[0].replace("&amp;", "&")


def test_an_unavailable_licence_system_is_try_later_never_a_proof(storage, tmp_path, baselib):
    idp = make_idp(storage, tmp_path, YITONG_BASELIB_URL=f"http://127.0.0.1:{free_port()}/baselib",
                   YITONG_BASELIB_KEY=baselib.key.hex(), YITONG_CONNECTOR_TIMEOUT="1")
    person(idp, "zhaoliu", ZHAO)
    web = idp.app.test_client()
    assert login(web, "zhaoliu").status_code == 302
    answer = web.get("/login/licence?return_to=/account")
    assert answer.status_code == 503 and "暂不可用" in answer.get_data(as_text=True)
    assert [e.event for e in events(idp, "licence.unavailable")] == ["licence.unavailable"]
