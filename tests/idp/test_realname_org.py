"""Legal persons at /account/organisations: registered by a real-name legal representative whose
verified record matches the legal-person library (real baselib over HTTP, both storage backends)."""

from __future__ import annotations

import pytest

from tests.baselib.server import COMPANY, LI, PILOT, REVOKED, ZHANG, ZHAO, resident_id, running_baselib
from tests.helpers import free_port
from tests.idp.support import login
from tests.idp.test_realname import events, make_app, signed_in
from tests.idp.test_realname import submit as verify_person

LOA_2 = "urn:yitong:loa:2"


@pytest.fixture(scope="module")
def baselib(tmp_path_factory):
    with running_baselib(tmp_path_factory.mktemp("baselib")) as server:
        yield server


@pytest.fixture
def idp(storage, tmp_path, baselib):
    return make_app(storage, tmp_path, YITONG_BASELIB_URL=baselib.url, YITONG_BASELIB_KEY=baselib.key.hex())


def register(web, uscc, name, **headers):
    page = web.get("/account/organisations", headers=headers).get_data(as_text=True)
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    return web.post("/account/organisations", data={"csrf": csrf, "uscc": uscc, "name": name}, headers=headers)


def signed_in_existing(idp, username):
    web = idp.app.test_client()
    assert login(web, username).status_code == 302
    return None, web


def representative(idp, person, username):
    user, web = signed_in(idp, username)
    assert verify_person(web, *person).status_code == 200
    return user, web


def organisations(idp):
    return idp.app.extensions["yitong.idp"].organisations


def test_the_legal_representative_registers_the_organisation(idp):
    user, web = representative(idp, ZHANG, "zhangsan")
    form = web.get("/account/organisations").get_data(as_text=True)
    assert "110105********002X" in form and 'name="uscc"' in form
    done = register(web, COMPANY[1].lower(), COMPANY[0])
    page = done.get_data(as_text=True)
    assert done.status_code == 200 and 'id="org-success"' in page and COMPANY[0] in page
    org = organisations(idp).get(COMPANY[1])
    assert (org.name, org.legal_representative_sub, org.acr, org.uscc_warnings) == (COMPANY[0], user.sub, LOA_2, [])
    assert org.evidence["checks"]["legal_representative_id_number"] == "match"
    assert org.trust_framework == "cn_legal_person_library"
    assert [e.detail["uscc"] for e in events(idp, "organisation.verified")] == [COMPANY[1]]
    again = register(web, COMPANY[1], COMPANY[0])
    assert again.status_code == 409 and len(organisations(idp).represented_by(user.sub)) == 1


def test_a_pilot_code_failing_mod_31_is_a_warning_the_library_decides(idp):
    _, web = representative(idp, LI, "lisi")
    done = register(web, PILOT[1], PILOT[0], **{"Accept-Language": "en"})
    page = done.get_data(as_text=True)
    assert done.status_code == 200 and 'id="org-warnings"' in page and "GB 32100" in page
    assert organisations(idp).get(PILOT[1]).uscc_warnings == ["uscc_checksum"]


def test_someone_else_as_representative_or_a_wrong_name_is_no_match(idp):
    user, web = representative(idp, ZHANG, "zhangsan")
    for uscc, name in ((PILOT[1], PILOT[0]), (COMPANY[1], "别的公司"), (REVOKED[1], REVOKED[0])):
        refused = register(web, uscc, name)
        assert refused.status_code == 422, uscc
    assert organisations(idp).represented_by(user.sub) == []
    assert len(events(idp, "organisation.no_match")) == 3


def test_the_representatives_verified_id_number_must_match_the_record(idp):
    """Same name as the company's legal representative, but another person (another ID number)."""
    namesake = idp.accounts.create(username="namesake", password="Tianjin-2026-correct")
    identities = idp.app.extensions["yitong.idp"].identities
    identities.bind(namesake.sub, id_type="resident", name=ZHANG[0], id_number=resident_id("11010119800101005"),
                    trust_framework="cn_population_library", evidence={})
    idp.accounts.set_level(namesake.sub, LOA_2)
    _, web = signed_in_existing(idp, "namesake")
    assert register(web, COMPANY[1], COMPANY[0]).status_code == 422
    assert organisations(idp).get(COMPANY[1]) is None


def test_only_real_name_persons_may_register(idp):
    _, web = signed_in(idp, "anonymous")
    page = web.get("/account/organisations").get_data(as_text=True)
    assert 'id="org-need-realname"' in page and 'name="uscc"' not in page
    with web.session_transaction() as flask_session:
        csrf = flask_session["csrf"]
    refused = web.post("/account/organisations", data={"csrf": csrf, "uscc": COMPANY[1], "name": COMPANY[0]})
    assert refused.status_code == 403 and organisations(idp).get(COMPANY[1]) is None


def test_malformed_codes_are_refused_locally(idp):
    _, web = representative(idp, ZHAO, "zhaoliu")
    bad = register(web, "91110000600037341I", COMPANY[0], **{"Accept-Language": "en"})
    assert bad.status_code == 400 and "cannot contain I" in bad.get_data(as_text=True)
    assert register(web, "9111", COMPANY[0]).status_code == 400
    assert events(idp, "organisation.no_match") == []


def test_an_unreachable_library_registers_nothing(storage, tmp_path, baselib):
    idp = make_app(storage, tmp_path, YITONG_BASELIB_URL=f"http://127.0.0.1:{free_port()}/baselib",
                   YITONG_BASELIB_KEY=baselib.key.hex(), YITONG_CONNECTOR_RETRIES="0")
    person = idp.accounts.create(username="zhangsan", password="Tianjin-2026-correct")
    idp.app.extensions["yitong.idp"].identities.bind(
        person.sub, id_type="resident", name=ZHANG[0], id_number=ZHANG[1], trust_framework="x", evidence={})
    idp.accounts.set_level(person.sub, LOA_2)
    _, web = signed_in_existing(idp, "zhangsan")
    later = register(web, COMPANY[1], COMPANY[0], **{"Accept-Language": "en"})
    assert later.status_code == 503 and "try again later" in later.get_data(as_text=True)
    assert organisations(idp).get(COMPANY[1]) is None
    assert events(idp, "organisation.unavailable")[0].detail["reason"] == "connection"
