"""SSO sessions live in the database in the embedded default and in Redis when it is configured."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from idp.models import sessions_table
from tests.idp.support import confirm_logout, login, make_idp, tokens_of


@pytest.fixture
def idp(storage, tmp_path):
    return make_idp(storage, tmp_path)


def sso_cookie(response) -> str:
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("yitong_sso="))
    return header.split(";", 1)[0].split("=", 1)[1]


def test_a_session_is_kept_where_the_deployment_keeps_state_and_only_as_a_hash(idp, alice_account, storage):
    web = idp.app.test_client()
    response = login(web, "alice")
    assert response.status_code == 302
    cookie = sso_cookie(response)
    with idp.home.engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(sessions_table)).scalar()
    session = idp.accounts.session(cookie)
    assert session is not None and session.sub == alice_account.sub and session.amr == ["pwd"]
    if storage.kind == "postgres":  # with Redis: nothing in the database, the session is in Redis
        client = storage.runtime.store.client
        keys = [k.decode() for k in client.scan_iter(storage.runtime.store.prefix + "session:*")]
        # cookie -> sid, sid -> record, and the person's set of sids (to end them all on a reset)
        assert rows == 0 and len(keys) == 3, keys
        assert client.smembers(f"{storage.runtime.store.prefix}session:user:{alice_account.sub}") == \
            {session.sid.encode()}
        values = [b"".join(client.smembers(k)) if ":session:user:" in k else client.get(k) or b"" for k in keys]
        assert not any(cookie.encode() in v for v in values) and not any(cookie in k for k in keys)  # hashes only
    else:
        assert rows == 1


def test_logout_ends_the_session_in_either_store_but_amr_stays_for_a_pending_code(idp, alice_account):
    web = idp.app.test_client()
    cookie = sso_cookie(login(web, "alice"))
    session = idp.accounts.session(cookie)
    idp.accounts.end_session(session.sid)
    assert idp.accounts.session(cookie) is None
    assert idp.accounts.session_amr(session.sid) == ["pwd"]
    idp.accounts.end_session(session.sid)  # twice is harmless
    assert idp.accounts.session("not-a-cookie") is None and idp.accounts.session(None) is None


@pytest.fixture
def alice_account(idp):
    from tests.idp.support import PASSWORD

    return idp.accounts.create(username="alice", password=PASSWORD)


def refreshes(web, client, secret, refresh_token) -> bool:
    return web.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                    auth=(client.client_id, secret)).status_code == 200


def test_signing_in_again_continues_the_session_with_a_new_cookie(idp, alice_account):
    client, secret = idp.client()
    web = idp.app.test_client()
    first_cookie = sso_cookie(login(web, "alice"))
    before, first = tokens_of(idp, web, client, secret)
    second_cookie = sso_cookie(login(web, "alice"))  # a re-authentication (prompt=login, max_age...)
    _, second = tokens_of(idp, web, client, secret)
    assert second["sid"] == first["sid"]  # what the client holds still names the session
    assert second_cookie != first_cookie and idp.accounts.session(first_cookie) is None  # no fixation
    assert second["auth_time"] >= first["auth_time"]
    assert [s.sid for s in idp.accounts.sessions.active(alice_account.sub)] == [first["sid"]]
    confirm_logout(web)  # so logging out ends the grants made before the re-authentication too
    assert not refreshes(web, client, secret, before["refresh_token"])


def test_another_person_signing_in_on_the_same_browser_ends_the_first_ones_session(idp, alice_account):
    from idp.audit import Audit
    from tests.idp.support import PASSWORD

    client, secret = idp.client()
    bob = idp.accounts.create(username="bob", password=PASSWORD)
    counter_pc = idp.app.test_client()
    alice_cookie = sso_cookie(login(counter_pc, "alice"))
    alices, _ = tokens_of(idp, counter_pc, client, secret)
    login(counter_pc, "bob")
    assert idp.accounts.session(alice_cookie) is None and idp.accounts.sessions.active(alice_account.sub) == []
    assert not refreshes(counter_pc, client, secret, alices["refresh_token"])  # as if alice had logged out
    [event] = [e for e in Audit(idp.home.engine).tail(100) if e.event == "logout"]
    assert (event.sub, event.detail["reason"]) == (alice_account.sub, "another_person_signed_in")
    assert tokens_of(idp, counter_pc, client, secret)[1]["sub"] == bob.sub


def test_an_id_token_says_how_the_person_had_signed_in_when_its_code_was_issued(idp, alice_account):
    """A session raised after a code was issued (a step-up continues the session) does not change
    the amr of that code's ID token: it goes with the code's auth_time."""
    import base64
    import json

    from tests.idp.support import REDIRECT, authorize_url, code_from, through_consent

    client, secret = idp.client()
    web = idp.app.test_client()
    cookie = sso_cookie(login(web, "alice"))
    code = code_from(through_consent(web, web.get(authorize_url(client.client_id, None))))["code"]
    sso = idp.accounts.session(cookie)
    assert idp.accounts.sessions.renew(sso.sid, sso.acr, ["pwd", "otp"]) is not None  # raised meanwhile
    answer = web.post("/token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
                      auth=(client.client_id, secret)).get_json()
    part = answer["id_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    assert claims["amr"] == ["pwd"] and claims["sid"] == sso.sid


def test_a_logout_job_queued_by_the_previous_version_still_resolves():
    """RQ finds a job's function by its stored name; jobs queued before the move name the old module."""
    from idp.oauth.backchannel_logout import deliver
    from keys.runtime.jobs import resolve

    assert resolve("idp.backchannel_logout:deliver") is deliver
