"""RP-Initiated Logout (idp/oauth/logout.py): only an RP's ID token hint for the signed-in person, or
the person's own confirmation, ends a session — never a link any site can make (issue 12 item 5)."""

from __future__ import annotations

import pytest

from idp.audit import Audit
from tests.idp.support import PASSWORD, confirm_logout, login, make_idp, tokens_of

BYE = "http://127.0.0.1:9000/bye"
CROSS_SITE = {"Sec-Fetch-Site": "cross-site", "Referer": "https://evil.example/page"}


@pytest.fixture
def idp(storage, tmp_path):
    made = make_idp(storage, tmp_path)
    for name in ("alice", "bob"):
        made.accounts.create(username=name, password=PASSWORD)
    return made


@pytest.fixture
def portal(idp):
    return idp.client()


def still_signed_in(idp, web, portal, tokens) -> bool:
    """The session answers /authorize again and its grant still works."""
    client, secret = portal
    ok = web.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code == 200
    return ok and tokens_of(idp, web, client, secret, prompt="none")[0].get("access_token") is not None


def logout_events(idp) -> list:
    return [e for e in Audit(idp.home.engine).tail(100) if e.event == "logout"]


@pytest.mark.parametrize("params", [{}, {"client_id": "any", "post_logout_redirect_uri": BYE, "state": "s1"}],
                         ids=["bare", "with-redirect"])
def test_a_cross_site_logout_link_without_a_hint_asks_and_ends_nothing(idp, portal, params):
    web = idp.app.test_client()
    login(web, "alice")
    tokens, _ = tokens_of(idp, web, *portal)
    asked = web.get("/logout", query_string=params, headers=CROSS_SITE)
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200 and 'method="post" action="/logout"' in page and 'name="csrf"' in page
    assert asked.headers["Cache-Control"] == "no-store"
    assert "yitong_sso=;" not in " ".join(asked.headers.getlist("Set-Cookie"))  # the cookie stays
    assert still_signed_in(idp, web, portal, tokens) and logout_events(idp) == []


def test_the_confirmation_page_speaks_english_when_asked(idp):
    web = idp.app.test_client()
    login(web, "alice")
    page = web.get("/logout", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Sign out?" in page and 'id="confirm-logout"' in page


def test_confirming_ends_the_session_and_goes_to_the_registered_uri_with_state(idp, portal):
    client, secret = portal
    web = idp.app.test_client()
    login(web, "alice")
    tokens, _ = tokens_of(idp, web, client, secret)
    out = confirm_logout(web, client_id=client.client_id, post_logout_redirect_uri=BYE, state="s9")
    assert out.status_code == 302 and out.headers["Location"] == f"{BYE}?state=s9"
    assert web.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code == 401
    assert len(logout_events(idp)) == 1


def test_a_cross_site_post_without_the_csrf_token_ends_nothing(idp, portal):
    web = idp.app.test_client()
    login(web, "alice")
    tokens, _ = tokens_of(idp, web, *portal)
    forged = web.post("/logout", data={"csrf": "guessed"}, headers=CROSS_SITE)
    assert forged.status_code == 400
    assert web.post("/logout", headers=CROSS_SITE).status_code == 400
    assert still_signed_in(idp, web, portal, tokens) and logout_events(idp) == []


def test_a_hint_of_another_person_asks_too(idp, portal):
    client, secret = portal
    bobs_browser, web = idp.app.test_client(), idp.app.test_client()
    login(bobs_browser, "bob")
    bobs, _ = tokens_of(idp, bobs_browser, client, secret)
    login(web, "alice")
    alices, _ = tokens_of(idp, web, client, secret)
    asked = web.get("/logout", query_string={"id_token_hint": bobs["id_token"], "post_logout_redirect_uri": BYE},
                    headers=CROSS_SITE)
    assert asked.status_code == 200 and 'action="/logout"' in asked.get_data(as_text=True)
    assert still_signed_in(idp, web, portal, alices)
    # confirmed, the request goes on as the hint's client asked
    out = confirm_logout(web, id_token_hint=bobs["id_token"], post_logout_redirect_uri=BYE)
    assert out.status_code == 302 and out.headers["Location"] == BYE


def test_the_hint_of_the_signed_in_person_ends_the_session_at_once(idp, portal):
    client, secret = portal
    web = idp.app.test_client()
    login(web, "alice")
    tokens, _ = tokens_of(idp, web, client, secret)
    out = web.get("/logout", query_string={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": BYE})
    assert out.status_code == 302 and out.headers["Location"] == BYE
    assert len(logout_events(idp)) == 1


def test_without_a_session_there_is_nothing_to_confirm(idp):
    out = idp.app.test_client().get("/logout")
    assert out.status_code == 200 and 'action="/logout"' not in out.get_data(as_text=True)


def test_the_account_pages_sign_out_button_posts_with_its_csrf_token(idp):
    web = idp.app.test_client()
    login(web, "alice")
    page = web.get("/account").get_data(as_text=True)
    form = page.split('<form method="post" action="/logout">')[1].split("</form>")[0]
    csrf = form.split('name="csrf" value="')[1].split('"')[0]
    out = web.post("/logout", data={"csrf": csrf})
    assert out.status_code == 200 and len(logout_events(idp)) == 1
    assert web.get("/account").status_code == 302  # signed out: to the sign-in page
