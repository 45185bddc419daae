"""The account console (/account, issue 5 item 9) through the real app, on SQLite and on
PostgreSQL + Redis (sessions in Redis there): sessions listed and ended in either store with a
back-channel logout, consents withdrawn with their grants, masked profile, CSRF, no caching."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from idp.models import audit_table, consents_table
from tests.idp.support import PASSWORD, BackchannelReceiver, login, make_idp, pkce_pair
from tests.idp.test_oidc import exchange, jwks, sign_in_and_get_code

ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36"
WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Edg/126.0 Chrome/126.0 Safari/537.36"
ID_NUMBER = "11010519491231002X"


@pytest.fixture
def idp(storage, tmp_path):
    return make_idp(storage, tmp_path)


@pytest.fixture
def alice(idp):
    return idp.accounts.create(username="alice", password=PASSWORD, phone="13800138000")


def signed_in(idp, user_agent: str, ip: str, username: str = "alice"):
    web = idp.app.test_client()
    web.environ_base.update(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
    assert login(web, username, ip=ip).status_code == 302
    return web


def csrf(page: str) -> str:
    return page.split('name="csrf" value="')[1].split('"')[0]


def events(idp, name: str) -> list:
    with idp.home.engine.connect() as conn:
        return conn.execute(select(audit_table).where(audit_table.c.event == name)).all()


def test_signed_out_people_are_sent_to_sign_in_and_the_page_is_never_cached(idp, alice):
    web = idp.app.test_client()
    response = web.get("/account")
    assert response.status_code == 302 and response.headers["Location"] == "/login?return_to=%2Faccount"
    assert web.post("/account/sessions/end-others").status_code == 302
    web = signed_in(idp, ANDROID, "203.0.113.9")
    page = web.get("/account")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    text = page.get_data(as_text=True)
    assert "我的账号" in text and "138****8000" in text and "13800138000" not in text
    assert "未实名" in text and 'href="/account/realname"' in text and 'href="/account/mfa"' in text
    english = web.get("/account?lang=en").get_data(as_text=True)
    assert "My account" in english and "Where you are signed in" in english and "Not verified" in english


def test_the_profile_shows_the_real_name_and_only_a_masked_id_number(idp, alice):
    identities = idp.app.extensions["yitong.idp"].identities
    identities.bind(alice.sub, id_type="resident", name="张三", id_number=ID_NUMBER,
                    trust_framework="cn_population_library", evidence={"type": "electronic_record"})
    idp.accounts.raise_level(alice.sub, "urn:yitong:loa:2")
    text = signed_in(idp, ANDROID, "203.0.113.9").get("/account").get_data(as_text=True)
    assert "110105********002X" in text and ID_NUMBER not in text and "张三" in text
    assert "已实名" in text and "urn:yitong:loa:2" in text


def test_sessions_are_listed_and_another_one_is_ended_with_its_grants_and_a_backchannel_logout(idp, alice):
    receiver = BackchannelReceiver()
    client, _ = idp.client(public=True, backchannel_logout_uri=receiver.uri)
    phone = idp.app.test_client()
    phone.environ_base.update(HTTP_USER_AGENT=ANDROID, REMOTE_ADDR="127.0.0.1")
    verifier, challenge = pkce_pair()
    code = sign_in_and_get_code(idp, phone, client.client_id, challenge)["code"]
    tokens = exchange(phone, client.client_id, code, verifier).get_json()
    [phone_sid] = [s.sid for s in idp.accounts.sessions.active(alice.sub)]
    laptop = signed_in(idp, WINDOWS, "198.51.100.23")
    bob = idp.accounts.create(username="bobby", password=PASSWORD)
    signed_in(idp, WINDOWS, "192.0.2.1", username="bobby")
    bob_sid = idp.accounts.sessions.active(bob.sub)[0].sid

    page = laptop.get("/account").get_data(as_text=True)
    items = re.findall(r'<li class="session( current)?">(.*?)</li>', page, re.S)
    assert len(items) == 2 and items[0][0] == " current"  # this device first
    assert "Edge · Windows" in items[0][1] and "198.51.100.*" in items[0][1] and "198.51.100.23" not in page
    assert "Chrome · Android" in items[1][1] and "127.0.0.*" in items[1][1]
    assert f'value="{phone_sid}"' in page and bob_sid not in page

    forged = laptop.post("/account/sessions/end", data={"sid": phone_sid, "csrf": "wrong"})
    assert forged.status_code == 400 and len(idp.accounts.sessions.active(alice.sub)) == 2
    not_mine = laptop.post("/account/sessions/end", data={"sid": bob_sid, "csrf": csrf(page)})
    assert not_mine.status_code == 303 and len(idp.accounts.sessions.active(bob.sub)) == 1

    ended = laptop.post("/account/sessions/end", data={"sid": phone_sid, "csrf": csrf(page)})
    assert ended.status_code == 303 and ended.headers["Location"].startswith("/account?done=session")
    assert "已结束该登录会话" in laptop.get(ended.headers["Location"]).get_data(as_text=True)
    assert [s.sid for s in idp.accounts.sessions.active(alice.sub)] != [phone_sid]
    assert len(idp.accounts.sessions.active(alice.sub)) == 1
    assert phone.get("/account").status_code == 302  # the phone is signed out
    refreshed = phone.post("/token", data={"grant_type": "refresh_token", "client_id": client.client_id,
                                           "refresh_token": tokens.get("refresh_token", "none")})
    assert refreshed.status_code == 400
    logout_token = receiver.logout_token(idp)
    from keys import jose

    _header, claims = jose.verify_jwt(logout_token, jwks(phone), algorithms=["ES256"])
    assert (claims["sub"], claims["sid"]) == (alice.sub, phone_sid)
    revoked = events(idp, "session.revoked")
    assert [(e.sub, e.detail["sid"]) for e in revoked] == [(alice.sub, phone_sid)]


def test_sign_out_everywhere_else_keeps_this_device(idp, alice):
    others = [signed_in(idp, ANDROID, f"203.0.113.{n}") for n in (1, 2)]
    laptop = signed_in(idp, WINDOWS, "198.51.100.23")
    page = laptop.get("/account").get_data(as_text=True)
    assert page.count('class="session') == 3
    done = laptop.post("/account/sessions/end-others", data={"csrf": csrf(page)})
    assert done.status_code == 303
    assert len(idp.accounts.sessions.active(alice.sub)) == 1 and laptop.get("/account").status_code == 200
    assert all(web.get("/account").status_code == 302 for web in others)
    assert len(events(idp, "session.revoked")) == 2


def test_withdrawing_a_consent_forgets_it_and_revokes_the_clients_grants(idp, alice):
    client, _ = idp.client(public=True)
    web = idp.app.test_client()
    verifier, challenge = pkce_pair()
    code = sign_in_and_get_code(idp, web, client.client_id, challenge)["code"]
    refresh = exchange(web, client.client_id, code, verifier).get_json()["refresh_token"]
    page = web.get("/account").get_data(as_text=True)
    assert "Test portal" in page and "确认您的身份" in page and "在您离线时保持访问" in page
    forged = web.post("/account/consents/withdraw", data={"client_id": client.client_id})
    assert forged.status_code == 400
    done = web.post("/account/consents/withdraw", data={"client_id": client.client_id, "csrf": csrf(page)})
    assert done.status_code == 303 and "已撤回授权" in web.get(done.headers["Location"]).get_data(as_text=True)
    with idp.home.engine.connect() as conn:
        assert conn.execute(select(consents_table).where(consents_table.c.sub == alice.sub)).all() == []
    refused = web.post("/token", data={"grant_type": "refresh_token", "client_id": client.client_id,
                                       "refresh_token": refresh})
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"
    [event] = events(idp, "consent.withdrawn")
    assert event.sub == alice.sub and event.client_id == client.client_id and event.detail["grants_revoked"] == 1
    again = web.post("/account/consents/withdraw", data={"client_id": client.client_id, "csrf": csrf(page)})
    assert again.status_code == 303 and len(events(idp, "consent.withdrawn")) == 1  # nothing left to withdraw


def test_recent_sign_in_events_are_the_persons_own_and_masked(idp, alice):
    bad = idp.app.test_client()
    login(bad, "alice", password="wrong-password-1", ip="192.0.2.77")
    web = signed_in(idp, ANDROID, "203.0.113.9")
    text = web.get("/account").get_data(as_text=True)
    listed = re.findall(r'<li class="event (event-[a-z-_]+)">', text)
    assert listed and listed[0] == "event-login-success"
    assert "203.0.113.*" in text and "203.0.113.9" not in text and PASSWORD not in text
