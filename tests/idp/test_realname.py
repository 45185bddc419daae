"""Real name for natural persons (/account/realname → urn:yitong:loa:2) through the real Flask app, on
both storage backends, with the real reference base library over HTTP."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from idp.audit import Audit
from idp.models import audit_table, identities_table
from tests.baselib.server import CHAN_HK, LI, WANG_DECEASED, ZHANG, running_baselib
from tests.helpers import free_port
from tests.idp.support import ISSUER, PASSWORD, Idp, login, make_idp

LOA_1, LOA_2, LOA_3 = (f"urn:yitong:loa:{n}" for n in (1, 2, 3))


@pytest.fixture(scope="module")
def baselib(tmp_path_factory):
    with running_baselib(tmp_path_factory.mktemp("baselib")) as server:
        yield server


def make_app(storage, tmp_path, **extra_env) -> Idp:
    """tests/idp/support.make_idp with the base-library settings (YITONG_BASELIB_*), which initialising the home
    does not read: the home is a copy of the session's (Storage.restore), not initialised again for each test."""
    return make_idp(storage, tmp_path, **extra_env)


@pytest.fixture
def idp(storage, tmp_path, baselib):
    return make_app(storage, tmp_path, YITONG_BASELIB_URL=baselib.url, YITONG_BASELIB_KEY=baselib.key.hex(),
                    YITONG_CONNECTOR_TIMEOUT="3")


def signed_in(idp, username="zhangsan"):
    user = idp.accounts.create(username=username, password=PASSWORD)
    web = idp.app.test_client()
    assert login(web, username).status_code == 302
    return user, web


def submit(web, name, id_number, **headers):
    page = web.get("/account/realname", headers=headers)
    text = page.get_data(as_text=True)
    csrf = text.split('name="csrf" value="')[1].split('"')[0]
    return web.post("/account/realname", data={"csrf": csrf, "name": name, "id_number": id_number}, headers=headers)


def events(idp, name):
    return [e for e in Audit(idp.home.engine).tail(200) if e.event == name]


def test_a_match_stores_the_identity_encrypted_and_raises_the_level(idp, caplog):
    caplog.set_level(logging.DEBUG)
    user, web = signed_in(idp)
    form = web.get("/account/realname").get_data(as_text=True)
    assert '<html lang="zh-CN">' in form and 'name="id_number"' in form and 'name="viewport"' in form
    done = submit(web, ZHANG[0], ZHANG[1].lower())
    page = done.get_data(as_text=True)
    assert done.status_code == 200 and 'id="realname-success"' in page
    assert done.headers["Cache-Control"] == "no-store"  # the page shows the person's own identity
    assert "110105********002X" in page and ZHANG[1] not in page and ZHANG[0] in page
    assert idp.accounts.get(user.sub).acr == LOA_2
    identities = idp.app.extensions["yitong.idp"].identities
    record = identities.get(user.sub)
    assert (record.id_type, record.trust_framework, record.name) == ("resident", "cn_population_library", "张三")
    evidence = record.evidence
    assert evidence["type"] == "electronic_record" and evidence["stand_in"] is True
    assert evidence["check_details"][0]["txn"] and evidence["time"]
    assert identities.sub_for_id_number(ZHANG[1]) == user.sub
    with idp.home.engine.connect() as conn:
        stored = conn.execute(select(identities_table.c.id_number_enc)).scalar()
        audit_text = " ".join(str(r) for r in conn.execute(select(audit_table)).all())
    assert ZHANG[1].encode() not in stored
    assert ZHANG[1] not in audit_text and ZHANG[1][:14] not in audit_text and ZHANG[0] not in audit_text
    assert "connector population: match" in caplog.text  # logged, without the name or the number:
    assert ZHANG[1] not in caplog.text and ZHANG[1][:14] not in caplog.text and ZHANG[0] not in caplog.text
    verified = events(idp, "realname.verified")
    assert len(verified) == 1 and verified[0].detail["acr"] == LOA_2 and verified[0].detail["acr_before"] == LOA_1
    # Afterwards the page shows the status; a second submission is refused.
    again = web.get("/account/realname").get_data(as_text=True)
    assert 'id="realname-status"' in again and 'name="id_number"' not in again
    assert submit_raw(web, ZHANG[0], ZHANG[1]).status_code == 409


def submit_raw(web, name, id_number):
    with web.session_transaction() as flask_session:
        csrf = flask_session["csrf"]
    return web.post("/account/realname", data={"csrf": csrf, "name": name, "id_number": id_number})


def test_a_residence_permit_holder_reaches_loa_2(idp):
    user, web = signed_in(idp)
    assert submit(web, *CHAN_HK).status_code == 200
    assert idp.app.extensions["yitong.idp"].identities.get(user.sub).id_type == "hk"
    assert idp.accounts.get(user.sub).acr == LOA_2


def test_a_bad_number_is_refused_locally_with_the_reason_and_costs_no_attempt(idp):
    user, web = signed_in(idp)
    for _ in range(6):  # more than the attempt limit: local refusals do not count
        bad = submit(web, ZHANG[0], ZHANG[1][:-1] + "1")
        assert bad.status_code == 400 and "校验位不正确" in bad.get_data(as_text=True)
    english = submit(web, ZHANG[0], "1101051949123", **{"Accept-Language": "en"})
    assert english.status_code == 400 and "An ID number has 18 characters" in english.get_data(as_text=True)
    assert submit(web, "", ZHANG[1]).status_code == 400
    assert events(idp, "realname.no_match") == [] and events(idp, "realname.verified") == []
    assert submit(web, *ZHANG).status_code == 200 and idp.accounts.get(user.sub).acr == LOA_2


def test_no_match_changes_nothing(idp):
    user, web = signed_in(idp)
    for name, number in (("张三丰", ZHANG[1]), WANG_DECEASED):
        refused = submit(web, name, number)
        assert refused.status_code == 422 and "不一致" in refused.get_data(as_text=True)
    assert idp.accounts.get(user.sub).acr == LOA_1
    assert idp.app.extensions["yitong.idp"].identities.get(user.sub) is None
    assert len(events(idp, "realname.no_match")) == 2


def test_a_library_that_cannot_answer_means_try_later_and_no_change(storage, tmp_path, baselib):
    idp = make_app(storage, tmp_path, YITONG_BASELIB_URL=f"http://127.0.0.1:{free_port()}/baselib",
                   YITONG_BASELIB_KEY=baselib.key.hex(), YITONG_CONNECTOR_RETRIES="0")
    user, web = signed_in(idp)
    later = submit(web, *ZHANG, **{"Accept-Language": "en"})
    assert later.status_code == 503 and "try again later" in later.get_data(as_text=True)
    assert idp.accounts.get(user.sub).acr == LOA_1
    assert idp.app.extensions["yitong.idp"].identities.get(user.sub) is None
    assert [e.detail["reason"] for e in events(idp, "realname.unavailable")] == ["connection"]


def test_a_wrong_shared_key_is_unavailable_never_a_no_match(storage, tmp_path, baselib):
    idp = make_app(storage, tmp_path, YITONG_BASELIB_URL=baselib.url, YITONG_BASELIB_KEY="00" * 32)
    user, web = signed_in(idp)
    assert submit(web, *ZHANG).status_code == 503
    assert idp.accounts.get(user.sub).acr == LOA_1 and events(idp, "realname.no_match") == []


def test_a_higher_level_is_never_lowered(idp):
    user, web = signed_in(idp)
    idp.accounts.set_level(user.sub, LOA_3)
    assert submit(web, *ZHANG).status_code == 200
    assert idp.accounts.get(user.sub).acr == LOA_3
    assert events(idp, "realname.verified")[0].detail["acr"] == LOA_3


def test_one_id_number_belongs_to_one_account(idp):
    first, web_a = signed_in(idp, "zhangsan")
    assert submit(web_a, *ZHANG).status_code == 200
    second, web_b = signed_in(idp, "impostor")
    taken = submit(web_b, *ZHANG)
    assert taken.status_code == 409 and "已绑定其他账号" in taken.get_data(as_text=True)
    assert idp.accounts.get(second.sub).acr == LOA_1
    assert idp.app.extensions["yitong.idp"].identities.sub_for_id_number(ZHANG[1]) == first.sub
    assert events(idp, "realname.refused")[0].sub == second.sub


def test_attempts_are_limited_per_account(idp):
    user, web = signed_in(idp)
    for _ in range(5):
        assert submit(web, "张三丰", ZHANG[1]).status_code == 422
    throttled = submit(web, *ZHANG)
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
    assert idp.accounts.get(user.sub).acr == LOA_1
    # Another account is not affected.
    _, other = signed_in(idp, "lisi")
    assert submit(other, *LI).status_code == 200


def test_sign_in_and_csrf_are_required(idp):
    web = idp.app.test_client()
    anonymous = web.get("/account/realname")
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")
    _, web = signed_in(idp)
    web.get("/account/realname")
    forged = web.post("/account/realname", data={"csrf": "forged", "name": ZHANG[0], "id_number": ZHANG[1]})
    assert forged.status_code == 400 and events(idp, "realname.verified") == []


def test_without_a_population_library_the_page_says_so(storage, tmp_path):
    idp = make_app(storage, tmp_path, YITONG_BASELIB_MOUNT="false")
    _, web = signed_in(idp)
    page = web.get("/account/realname?lang=en")
    assert page.status_code == 503 and "not connected to a population library" in page.get_data(as_text=True)
    assert submit_raw(web, *ZHANG).status_code == 503


def test_the_stand_in_is_mounted_in_the_embedded_default_only(storage, tmp_path):
    idp = make_app(storage, tmp_path)
    index = idp.app.test_client().get("/baselib/")
    if storage.kind == "sqlite":  # SQLite without Redis: the embedded default
        assert index.status_code == 200 and 'id="stand-in"' in index.get_data(as_text=True)
        assert idp.app.extensions["yitong.idp"].connectors.population.client.base_url == f"{ISSUER}/baselib"
    else:
        assert index.status_code == 404
        assert idp.app.extensions["yitong.idp"].connectors.population is None


def test_raise_level_only_raises(idp):
    user = idp.accounts.create(username="levels", password=PASSWORD)
    assert idp.accounts.raise_level(user.sub, LOA_2) and idp.accounts.get(user.sub).acr == LOA_2
    assert not idp.accounts.raise_level(user.sub, LOA_2)
    idp.accounts.set_level(user.sub, "urn:yitong:loa:4")
    assert not idp.accounts.raise_level(user.sub, LOA_3) and idp.accounts.get(user.sub).acr == "urn:yitong:loa:4"


def test_an_open_circuit_breaker_is_try_later_too(storage, tmp_path, baselib):
    idp = make_app(storage, tmp_path, YITONG_BASELIB_URL=f"http://127.0.0.1:{free_port()}/baselib",
                   YITONG_BASELIB_KEY=baselib.key.hex(), YITONG_CONNECTOR_RETRIES="0",
                   YITONG_CONNECTOR_BREAKER_THRESHOLD="1", YITONG_CONNECTOR_BREAKER_COOLDOWN="60")
    user, web = signed_in(idp)
    assert submit(web, *ZHANG).status_code == 503
    assert submit(web, *ZHANG).status_code == 503
    assert [e.detail["reason"] for e in events(idp, "realname.unavailable")] == ["connection", "circuit_open"]
    assert idp.accounts.get(user.sub).acr == LOA_1
