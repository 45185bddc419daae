"""The IdP's pages speak Simplified Chinese by default, English by Accept-Language or the switch."""

from __future__ import annotations

import pytest

from tests.idp.support import login, make_idp


@pytest.fixture
def idp(storage, tmp_path):
    return make_idp(storage, tmp_path)


def test_pages_are_in_simplified_chinese_by_default_with_a_switch_to_english(idp):
    page = idp.app.test_client().get("/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and "用户名或手机号" in page and "Username" not in page
    assert 'id="language" href="/login?lang=en"' in page and ">English</a>" in page


def test_accept_language_preferring_english_gets_english(idp):
    web = idp.app.test_client()
    page = web.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9,zh-CN;q=0.5"}).get_data(as_text=True)
    assert '<html lang="en">' in page and "Username or mobile number" in page and "用户名" not in page
    chinese = web.get("/login", headers={"Accept-Language": "zh-TW,zh;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="zh-CN">' in chinese


def test_the_switch_keeps_the_query_and_is_remembered_in_a_cookie(idp):
    web = idp.app.test_client()
    switched = web.get("/login?return_to=%2Fauthorize%3Fclient_id%3Dx&lang=en")
    page = switched.get_data(as_text=True)
    assert '<html lang="en">' in page and 'name="return_to" value="/authorize?client_id=x"' in page
    cookie = switched.headers["Set-Cookie"]
    assert cookie.startswith("yitong_lang=en;") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert 'href="/login?return_to=%2Fauthorize%3Fclient_id%3Dx&amp;lang=zh-CN"' in page
    # Remembered on the next page, whatever the browser prefers, including error messages from code.
    wrong = login(web, "nobody", "not-the-password")
    assert wrong.status_code == 401 and "Wrong username or password" in wrong.get_data(as_text=True)
    back = web.get("/login?lang=zh-CN").get_data(as_text=True)
    assert '<html lang="zh-CN">' in back


def test_an_unknown_language_is_ignored(idp):
    page = idp.app.test_client().get("/login?lang=fr").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page


@pytest.mark.parametrize(("asked", "lands"), [
    ("/account/agents", "/account/agents"),  # an account page sends the person to sign in and back
    ("/account", "/account"),
    ("/authorize?client_id=x", "/authorize?client_id=x"),
    ("/login/certificate/organisation", "/login/certificate/organisation"),
    ("https://evil.example/account", "/"),  # never off this site
    ("//evil.example/account", "/"),
    ("/\\evil.example", "/"),
    ("/account/agents?next=https://evil.example", "/"),
    ("/account/../logout", "/"),
    ("/seal/api", "/"),
])
def test_signing_in_returns_only_to_our_own_pages(idp, asked, lands):
    from tests.idp.support import PASSWORD

    idp.accounts.create(username="alice", password=PASSWORD)
    signed_in = login(idp.app.test_client(), "alice", return_to=asked)
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == lands


@pytest.mark.parametrize("path", ["/login", "/login/certificate", "/register", "/password/reset"])
def test_head_is_answered_like_get_not_as_a_form_post(idp, path):
    web = idp.app.test_client()
    assert web.head(path).status_code == web.get(path).status_code == 200
