"""SSO sessions live in the database in the embedded default and in Redis when it is configured."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from idp.models import sessions_table
from tests.idp.support import login, make_idp


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
