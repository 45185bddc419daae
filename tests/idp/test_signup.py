"""Sign-up by mobile number (issue 5) through the real app, on both storage backends."""

from __future__ import annotations

import base64
import json
import re

import pytest
from sqlalchemy import select

from idp.accounts.routes import CONSENT_VERSION
from idp.audit import Audit
from idp.models import privacy_consents_table
from tests.idp.accounts_support import ask_code, csrf_of, known_captcha, last_code, outbox  # noqa: F401
from tests.idp.support import (
    PASSWORD,
    REDIRECT,
    authorize_url,
    code_from,
    login,
    make_idp,
    pkce_pair,
    through_consent,
)

NEW_PASSWORD = "Haihe-River-2026-spring"
pytestmark = pytest.mark.usefixtures("known_captcha")


@pytest.fixture
def idp(storage, tmp_path):
    return make_idp(storage, tmp_path)


def complete(web, code: str, *, password: str = NEW_PASSWORD, consent: str | None = CONSENT_VERSION,
             csrf: str | None = None, ip: str = "198.51.100.7"):
    page = web.get("/signup/account")
    form = {"csrf": csrf or csrf_of(page), "code": code, "password": password, "password2": password}
    if consent:
        form["consent"] = consent
    return web.post("/signup/account", data=form, environ_base={"REMOTE_ADDR": ip})


def test_sign_up_by_phone_gives_a_signed_in_loa1_account_with_recorded_consent(idp):
    web = idp.app.test_client()
    page = web.get("/register")
    assert page.status_code == 200 and 'action="/signup/code"' in page.get_data(as_text=True)
    assert 'id="sms-outbox-note"' in page.get_data(as_text=True)  # the page says where messages go
    sent = ask_code(web, "/register", "/signup/code", "13912345678")
    assert sent.status_code == 200 and 'id="code-sent"' in sent.get_data(as_text=True)
    assert CONSENT_VERSION in sent.get_data(as_text=True)
    code = last_code(idp, "13912345678")
    assert len(code) == 6 and code.isdigit()
    done = complete(web, code)
    body = done.get_data(as_text=True)
    assert done.status_code == 200 and 'id="signup-success"' in body, body
    assert 'id="signup-level" data-acr="urn:yitong:loa:1">基础账号<' in body and 'href="/account/realname"' in body
    assert web.get("/account/data").status_code == 200  # signed in
    user = idp.accounts.find_by_phone("13912345678")
    assert user.acr == "urn:yitong:loa:1" and user.username is None
    with idp.home.engine.connect() as conn:
        consent = conn.execute(select(privacy_consents_table)).one()
    assert (consent.sub, consent.document, consent.version) == (user.sub, "pipl-registration", CONSENT_VERSION)
    assert idp.accounts.authenticate("13912345678", NEW_PASSWORD).sub == user.sub
    events = [e.event for e in Audit(idp.home.engine).tail(20)]
    assert {"sms.sent", "user.registered", "privacy.consented", "login.success"} <= set(events)


def test_the_code_works_once_and_not_for_another_number(idp):
    web = idp.app.test_client()
    ask_code(web, "/register", "/signup/code", "13912345678")
    code = last_code(idp, "13912345678")
    assert complete(web, code).status_code == 200
    again = idp.app.test_client()  # a second browser replays the same code in a flow of its own
    ask_code(again, "/register", "/signup/code", "13700000001", ip="198.51.100.8")
    replay = complete(again, code, ip="198.51.100.8")
    assert replay.status_code == 400 and idp.accounts.find_by_phone("13700000001") is None


def test_wrong_codes_are_limited_to_five_then_the_code_is_spent(idp):
    web = idp.app.test_client()
    ask_code(web, "/register", "/signup/code", "13912345678")
    code = last_code(idp, "13912345678")
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    statuses = [complete(web, wrong) for _ in range(4)]
    assert all(r.status_code == 400 and 'action="/signup/account"' in r.get_data(as_text=True) for r in statuses)
    fifth = complete(web, wrong)
    assert fifth.status_code == 400 and 'action="/signup/code"' in fifth.get_data(as_text=True)  # start again
    # the right code no longer helps: the flow is gone and the challenge spent
    assert web.get("/signup/account").status_code == 302
    assert idp.accounts.find_by_phone("13912345678") is None
    assert any(e.event == "sms.code_failed" and e.detail["spent"] for e in Audit(idp.home.engine).tail(20))


def test_consent_is_required_and_costs_no_guess(idp):
    web = idp.app.test_client()
    ask_code(web, "/register", "/signup/code", "13912345678")
    code = last_code(idp, "13912345678")
    for _ in range(6):
        refused = complete(web, code, consent=None)
        assert refused.status_code == 400 and "13912345678" not in refused.get_data(as_text=True)
    assert complete(web, code, consent="an-old-version").status_code == 400
    assert complete(web, code).status_code == 200


def test_a_weak_password_is_refused_by_the_policy(idp):
    web = idp.app.test_client()
    ask_code(web, "/register", "/signup/code", "13912345678")
    refused = complete(web, last_code(idp, "13912345678"), password="woaini1314")
    assert refused.status_code == 400 and idp.accounts.find_by_phone("13912345678") is None


def test_a_registered_number_gets_the_same_answer_and_only_a_notice(idp):
    idp.accounts.create(username="alice", password=PASSWORD, phone="13800138000")
    web = idp.app.test_client()
    taken = ask_code(web, "/register", "/signup/code", "13800138000", ip="198.51.100.1")
    free = ask_code(idp.app.test_client(), "/register", "/signup/code", "13912345678", ip="198.51.100.2")
    assert taken.status_code == free.status_code == 200

    def shape(response):
        page = response.get_data(as_text=True).replace("138****8000", "#").replace("139****5678", "#")
        return re.sub(r'(name="csrf" value|nonce)="[^"]*"', "", page)  # per-session and per-response values

    assert shape(taken) == shape(free)
    notices = [m for m in outbox(idp) if m["to"] == "13800138000"]
    assert [m["purpose"] for m in notices] == ["register-taken"] and "code" not in notices[0]
    # whatever code is typed, the answer is the ordinary "wrong code"
    for guess in ("000000", "123456"):
        answer = complete(web, guess, ip="198.51.100.1")
        assert answer.status_code == 400 and "不正确" in answer.get_data(as_text=True)
    assert idp.accounts.authenticate("13800138000", PASSWORD).username == "alice"


def test_sms_needs_a_solved_captcha(idp):
    web = idp.app.test_client()
    refused = ask_code(web, "/register", "/signup/code", "13912345678", answer="ZZZZZ")
    assert refused.status_code == 400 and 'name="captcha_token"' in refused.get_data(as_text=True)
    assert outbox(idp) == []
    no_token = web.post("/signup/code", data={"csrf": csrf_of(web.get("/register")), "phone": "13912345678"})
    assert no_token.status_code == 400 and outbox(idp) == []


def test_one_message_a_minute_per_number_then_429_with_retry_after(idp):
    assert ask_code(idp.app.test_client(), "/register", "/signup/code", "13912345678").status_code == 200
    again = ask_code(idp.app.test_client(), "/register", "/signup/code", "13912345678", ip="203.0.113.50")
    assert again.status_code == 429 and 1 <= int(again.headers["Retry-After"]) <= 60
    assert "60" in again.get_data(as_text=True) or "秒" in again.get_data(as_text=True)
    assert len(outbox(idp)) == 1
    assert any(e.event == "sms.throttled" for e in Audit(idp.home.engine).tail(5))


def test_per_ip_limit_stops_bombing_many_numbers(idp):
    web = idp.app.test_client()
    statuses = [ask_code(web, "/register", "/signup/code", f"1391234{n:04d}", ip="203.0.113.77").status_code
                for n in range(21)]
    assert statuses[:20] == [200] * 20 and statuses[20] == 429
    assert len(outbox(idp)) == 20
    # another address is not affected
    assert ask_code(web, "/register", "/signup/code", "13600000000", ip="203.0.113.78").status_code == 200


def test_bad_numbers_and_csrf_are_refused_without_a_message(idp):
    web = idp.app.test_client()
    bad = ask_code(web, "/register", "/signup/code", "12345")
    assert bad.status_code == 400 and "11" in bad.get_data(as_text=True)
    forged = web.post("/signup/code", data={"csrf": "x", "phone": "13912345678"})
    assert forged.status_code == 400 and outbox(idp) == []


def test_sign_up_from_an_authorization_request_continues_it(idp):
    client, _ = idp.client(public=True)
    verifier, challenge = pkce_pair()
    target = authorize_url(client.client_id, challenge)
    web = idp.app.test_client()
    login_page = web.get("/login?" + __import__("urllib.parse").parse.urlencode({"return_to": target}))
    assert 'id="signup"' in login_page.get_data(as_text=True) and 'id="forgot-password"' in \
        login_page.get_data(as_text=True)
    ask_code(web, "/register?" + __import__("urllib.parse").parse.urlencode({"return_to": target}), "/signup/code",
             "13912345678")
    done = complete(web, last_code(idp, "13912345678"))
    assert done.status_code == 302 and done.headers["Location"] == target
    # the new person goes on to the portal: consent, code, an ID token at loa:1 saying how they signed in
    callback = code_from(through_consent(web, web.get(target)))
    tokens = web.post("/token", data={"grant_type": "authorization_code", "code": callback["code"],
                                      "redirect_uri": REDIRECT, "code_verifier": verifier,
                                      "client_id": client.client_id}).get_json()
    body = tokens["id_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert claims["acr"] == "urn:yitong:loa:1" and claims["amr"] == ["pwd", "sms"]
    assert "preferred_username" not in claims and None not in claims.values()


def test_english_page_and_no_500_on_garbage(idp):
    web = idp.app.test_client()
    assert "Sign up with your mobile number" in web.get("/register?lang=en").get_data(as_text=True)
    assert web.get("/signup/account").status_code == 302
    assert web.post("/signup/account", data={}).status_code == 302
    assert web.post("/signup/code", data={}).status_code == 400
    assert login(web, "13912345678").status_code == 401
