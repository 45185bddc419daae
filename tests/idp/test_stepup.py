"""loa:3 and step-up (issue 5 items 1 and 6) through the real Flask app, on both storage backends, with
the real reference base library over HTTP: strong real name at /account/realname/strong (bank-card
4-factor, carrier 3-factor; match / no_match / unavailable), the level raised only with TOTP enrolled,
a password-only sign-in of a loa:3 account is a loa:2 session, and acr_values=urn:yitong:loa:3 steps
the session up with a TOTP code at /login/mfa and comes back to /authorize — or is refused with
unmet_authentication_requirements, never answered with a lower acr."""

from __future__ import annotations

import logging
import time

import pyotp
import pytest
from sqlalchemy import select

from idp.audit import Audit
from idp.models import audit_table, identities_table
from keys import jose
from tests.baselib.server import (
    LI,
    LI_PHONE,
    LI_PHONE_SUSPENDED,
    ZHANG,
    ZHANG_CARD,
    ZHANG_PHONE,
    ZHAO_PHONE,
    running_baselib,
)
from tests.helpers import free_port
from tests.idp.accounts_support import known_captcha  # noqa: F401  (fixture)
from tests.idp.support import PASSWORD, authorize_url, code_from, login, make_idp, pkce_pair, through_consent
from tests.idp.test_oidc import exchange, jwks

LOA_1, LOA_2, LOA_3 = (f"urn:yitong:loa:{n}" for n in (1, 2, 3))
STRONG = "/account/realname/strong"


@pytest.fixture(scope="module")
def baselib(tmp_path_factory):
    with running_baselib(tmp_path_factory.mktemp("baselib")) as server:
        yield server


@pytest.fixture
def idp(storage, tmp_path, baselib):
    return make_idp(storage, tmp_path, YITONG_BASELIB_URL=baselib.url, YITONG_BASELIB_KEY=baselib.key.hex(),
                    YITONG_CONNECTOR_TIMEOUT="3")


def csrf_of(web, path):
    """The CSRF token of the page's form, or the session's when the page shows no form."""
    page = web.get(path).get_data(as_text=True)
    if 'name="csrf" value="' in page:
        return page.split('name="csrf" value="')[1].split('"')[0]
    with web.session_transaction() as flask_session:
        return flask_session["csrf"]


def real_name_person(idp, username, phone, person):
    """A new account signed in with its password, real name verified through /account/realname (loa:2)."""
    user = idp.accounts.create(username=username, password=PASSWORD, phone=phone)
    web = idp.app.test_client()
    assert login(web, username).status_code == 302
    csrf = csrf_of(web, "/account/realname")
    done = web.post("/account/realname", data={"csrf": csrf, "name": person[0], "id_number": person[1]})
    assert done.status_code == 200, done.get_data(as_text=True)
    assert idp.accounts.get(user.sub).acr == LOA_2
    return user, web


def enrol_totp(web) -> pyotp.TOTP:
    """Turn on two-step verification through /account/mfa (the secret shown, one code confirmed)."""
    page = web.get("/account/mfa").get_data(as_text=True)
    totp = pyotp.TOTP(page.split('data-secret="')[1].split('"')[0])
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    done = web.post("/account/mfa", data={"csrf": csrf, "code": totp.now()})
    assert 'id="recovery-codes"' in done.get_data(as_text=True)
    return totp


def strong(web, method, **form):
    return web.post(STRONG, data={"csrf": csrf_of(web, STRONG), "method": method, **form})


def events(idp, name):
    return [e for e in Audit(idp.home.engine).tail(300) if e.event == name]


def id_token_claims(idp, web, client, verifier, response):
    params = code_from(response)
    assert "code" in params, params
    tokens = exchange(web, client.client_id, params["code"], verifier).get_json()
    return jose.verify_jwt(tokens["id_token"], jwks(web), algorithms=["ES256"])[1]


# -- strong real name ----------------------------------------------------------------------------------------
def test_bank_four_factor_raises_to_loa3_only_after_totp_and_keeps_no_card_number(idp, caplog):
    caplog.set_level(logging.DEBUG)
    user, web = real_name_person(idp, "zhangsan", ZHANG_PHONE, ZHANG)
    first = web.get(STRONG)
    page = first.get_data(as_text=True)
    assert first.status_code == 200 and 'id="strong-needs-mfa"' in page and 'href="/account/mfa"' in page
    assert 'name="viewport"' in page and first.headers["Cache-Control"] == "no-store"
    refused = strong(web, "bank", card_number=ZHANG_CARD, phone=ZHANG_PHONE)
    assert refused.status_code == 409 and idp.accounts.get(user.sub).acr == LOA_2
    assert events(idp, "strong_realname.refused")[0].detail["reason"] == "needs_mfa"
    enrol_totp(web)
    form = web.get(STRONG).get_data(as_text=True)
    assert 'id="strong-bank"' in form and 'id="strong-carrier"' in form and "138****8000" in form
    assert "110105********002X" in form and ZHANG[1] not in form
    assert strong(web, "bank", card_number="12", phone=ZHANG_PHONE).status_code == 400  # local: no attempt used
    wrong = strong(web, "bank", card_number=ZHANG_CARD, phone=ZHAO_PHONE)
    assert wrong.status_code == 422 and 'id="strong-error"' in wrong.get_data(as_text=True)
    assert idp.accounts.get(user.sub).acr == LOA_2
    spaced = " ".join(ZHANG_CARD[i:i + 4] for i in range(0, len(ZHANG_CARD), 4))
    done = strong(web, "bank", card_number=spaced, phone=ZHANG_PHONE)
    text = done.get_data(as_text=True)
    assert done.status_code == 200 and 'id="strong-success"' in text and ZHANG_CARD not in text
    assert idp.accounts.get(user.sub).acr == LOA_3
    identity = idp.app.extensions["yitong.idp"].identities.get(user.sub)
    population, bank = identity.evidence  # the population check, then the bank's (OIDC4IA shaped)
    assert population["record"]["type"] == "population_register"
    assert bank["type"] == "electronic_record" and bank["record"]["type"] == "bank_account"
    assert bank["record"]["personal_number"] == "****" + ZHANG_CARD[-4:] and bank["time"]
    assert bank["check_details"][0]["txn"] and bank["stand_in"] is True
    with idp.home.engine.connect() as conn:
        stored = " ".join(str(r) for r in conn.execute(select(identities_table)).all())
        audit_text = " ".join(str(r) for r in conn.execute(select(audit_table)).all())
    for secret in (ZHANG_CARD, ZHANG_CARD[:12], ZHANG[1], ZHANG_PHONE):
        assert secret not in stored and secret not in audit_text and secret not in caplog.text
    verified = events(idp, "strong_realname.verified")
    assert len(verified) == 1 and verified[0].detail["acr"] == LOA_3 and verified[0].detail["method"] == "bank"
    assert len(events(idp, "strong_realname.no_match")) == 1
    again = strong(web, "bank", card_number=ZHANG_CARD, phone=ZHANG_PHONE)
    assert again.status_code == 409 and 'id="strong-status"' in again.get_data(as_text=True)


def test_carrier_three_factor_uses_the_accounts_own_phone(idp):
    user, web = real_name_person(idp, "lisi", LI_PHONE, LI)
    enrol_totp(web)
    english = web.get(STRONG + "?lang=en").get_data(as_text=True)
    assert "Mobile carrier (3 factors)" in english and "139****9001" in english
    done = strong(web, "carrier", phone=ZHAO_PHONE)  # a typed number is ignored: the account's is checked
    assert done.status_code == 200 and idp.accounts.get(user.sub).acr == LOA_3
    evidence = idp.app.extensions["yitong.idp"].identities.get(user.sub).evidence[-1]
    assert evidence["record"]["type"] == "mobile_subscription" and "personal_number" not in evidence["record"]
    assert events(idp, "strong_realname.verified")[0].detail["method"] == "carrier"


def test_carrier_no_match_for_a_number_registered_to_someone_else(idp):
    user, web = real_name_person(idp, "zhangsan", ZHAO_PHONE, ZHANG)  # ZHAO's number on ZHANG's account
    enrol_totp(web)
    assert strong(web, "carrier").status_code == 422
    english = web.post(STRONG, data={"csrf": csrf_of(web, STRONG), "method": "carrier"},
                       headers={"Accept-Language": "en"})
    assert english.status_code == 422 and "not a live line registered to" in english.get_data(as_text=True)
    assert idp.accounts.get(user.sub).acr == LOA_2
    # Nothing added: the identity keeps the population check alone (a list once a further step is added).
    assert isinstance(idp.app.extensions["yitong.idp"].identities.get(user.sub).evidence, dict)
    assert [e.detail["method"] for e in events(idp, "strong_realname.no_match")] == ["carrier", "carrier"]


def test_an_unavailable_check_means_try_later_and_no_change(storage, tmp_path, baselib):
    idp = make_idp(storage, tmp_path, YITONG_BASELIB_URL=baselib.url, YITONG_BASELIB_KEY=baselib.key.hex())
    user, web = real_name_person(idp, "zhangsan", ZHANG_PHONE, ZHANG)
    enrol_totp(web)
    # The same home, now pointed at a base library that does not answer.
    dead = make_idp(storage, tmp_path, YITONG_BASELIB_URL=f"http://127.0.0.1:{free_port()}/baselib",
                    YITONG_BASELIB_KEY=baselib.key.hex(), YITONG_CONNECTOR_RETRIES="0")
    web = dead.app.test_client()
    totp = pyotp.TOTP(dead.accounts.totp_secret(user.sub))
    assert login(web, "zhangsan").headers["Location"] == "/login/mfa"
    assert web.post("/login/mfa", data={"csrf": csrf_of(web, "/login/mfa"),
                                        "code": totp.at(time.time() + 30)}).status_code == 302
    later = web.post(STRONG, data={"csrf": csrf_of(web, STRONG + "?lang=en"), "method": "bank",
                                   "card_number": ZHANG_CARD, "phone": ZHANG_PHONE})
    assert later.status_code == 503 and "try again later" in later.get_data(as_text=True)
    assert dead.accounts.get(user.sub).acr == LOA_2
    assert [e.detail["reason"] for e in events(dead, "strong_realname.unavailable")] == ["connection"]
    assert isinstance(dead.app.extensions["yitong.idp"].identities.get(user.sub).evidence, dict)


def test_checks_are_limited_per_account_and_need_csrf_and_a_real_name(idp):
    user, web = real_name_person(idp, "zhangsan", ZHANG_PHONE, ZHANG)
    enrol_totp(web)
    for _ in range(5):
        assert strong(web, "bank", card_number="6222000000000000000", phone=ZHANG_PHONE).status_code == 422
    throttled = strong(web, "bank", card_number=ZHANG_CARD, phone=ZHANG_PHONE)
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
    assert idp.accounts.get(user.sub).acr == LOA_2 and events(idp, "strong_realname.throttled")
    forged = web.post(STRONG, data={"csrf": "forged", "method": "bank", "card_number": ZHANG_CARD,
                                    "phone": ZHANG_PHONE})
    assert forged.status_code == 400
    anonymous = idp.app.test_client().get(STRONG)
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")
    idp.accounts.create(username="nobody", password=PASSWORD)
    other = idp.app.test_client()
    login(other, "nobody")
    assert 'id="strong-needs-realname"' in other.get(STRONG).get_data(as_text=True)
    assert strong(other, "carrier").status_code == 409


# -- the level of a sign-in, and step-up at /authorize ---------------------------------------------------------
def strong_person(idp):
    """ZHANG at loa:3 (real name, TOTP, bank 4-factor), signed in earlier with the password only."""
    user, web = real_name_person(idp, "zhangsan", ZHANG_PHONE, ZHANG)
    totp = enrol_totp(web)
    assert strong(web, "bank", card_number=ZHANG_CARD, phone=ZHANG_PHONE).status_code == 200
    assert idp.accounts.get(user.sub).acr == LOA_3
    return user, web, totp


def test_a_password_only_sign_in_of_a_loa3_account_is_loa2_and_cannot_step_up_without_totp(idp):
    user = idp.accounts.create(username="wangwu", password=PASSWORD)
    idp.accounts.set_level(user.sub, LOA_3)  # an operator's level, but no second factor enrolled
    client, _ = idp.client(public=True)
    web = idp.app.test_client()
    verifier, challenge = pkce_pair()
    back = login(web, "wangwu", return_to=authorize_url(client.client_id, challenge))
    claims = id_token_claims(idp, web, client, verifier, through_consent(web, web.get(back.headers["Location"])))
    assert claims["acr"] == LOA_2 and claims["amr"] == ["pwd"]
    refused = code_from(web.get(authorize_url(client.client_id, challenge, acr_values=LOA_3)))
    assert refused["error"] == "unmet_authentication_requirements" and "code" not in refused
    assert events(idp, "authorize.refused")[0].detail["session_acr"] == LOA_2


def test_a_loa2_person_asked_for_loa3_gets_the_error_never_a_lower_acr(idp):
    _user, web = real_name_person(idp, "zhangsan", ZHANG_PHONE, ZHANG)
    enrol_totp(web)  # a second factor, but no bank or carrier check: the account cannot reach loa:3
    client, _ = idp.client(public=True)
    _, challenge = pkce_pair()
    for params in ({"acr_values": LOA_3},
                   {"claims": '{"id_token": {"acr": {"essential": true, "values": ["urn:yitong:loa:3"]}}}'}):
        answer = web.get(authorize_url(client.client_id, challenge, **params))
        refused = code_from(answer)
        assert refused["error"] == "unmet_authentication_requirements" and "code" not in refused
    assert events(idp, "authorize.step_up") == []


def test_step_up_to_loa3_with_a_totp_code_then_back_to_authorize(idp):
    user, web, totp = strong_person(idp)
    old_cookie = web.get_cookie("yitong_sso").value
    assert idp.accounts.session(old_cookie).acr == LOA_1  # this sign-in (password alone) predates the real name
    client, _ = idp.client(public=True)
    verifier, challenge = pkce_pair()
    request = authorize_url(client.client_id, challenge, acr_values=LOA_3)
    # prompt=none cannot show the second-factor page: the error, not a lower acr.
    silent = code_from(web.get(authorize_url(client.client_id, challenge, acr_values=LOA_3, prompt="none")))
    assert silent["error"] == "unmet_authentication_requirements"
    first = web.get(request)
    assert first.status_code == 302 and first.headers["Location"] == "/login/mfa"
    page = web.get("/login/mfa", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'id="step-up"' in page and "stronger sign-in" in page
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    wrong = web.post("/login/mfa", data={"csrf": csrf, "code": "000000"})
    assert wrong.status_code == 401 and idp.accounts.session(old_cookie).acr == LOA_1
    done = web.post("/login/mfa", data={"csrf": csrf, "code": totp.at(time.time() + 30)})
    assert done.status_code == 302 and done.headers["Location"] == request
    claims = id_token_claims(idp, web, client, verifier, through_consent(web, web.get(done.headers["Location"])))
    assert claims["acr"] == LOA_3 and claims["amr"] == ["pwd", "otp"] and claims["sub"] == user.sub
    assert idp.accounts.session(old_cookie) is None  # replaced by the raised session (a new cookie)
    assert idp.accounts.session(web.get_cookie("yitong_sso").value).acr == LOA_3
    step = events(idp, "authorize.step_up")
    assert len(step) == 1 and step[0].detail["method"] == "otp" and step[0].detail["session_acr"] == LOA_1
    # Now at loa:3: another request for it passes straight through, prompt=none too.
    verifier, challenge = pkce_pair()
    again = web.get(authorize_url(client.client_id, challenge, acr_values=LOA_3, prompt="none"))
    assert id_token_claims(idp, web, client, verifier, again)["acr"] == LOA_3


def test_prompt_login_with_acr_loa3_signs_in_again_with_password_and_code(idp):
    _user, web, totp = strong_person(idp)
    client, _ = idp.client(public=True)
    verifier, challenge = pkce_pair()
    request = authorize_url(client.client_id, challenge, acr_values=LOA_3, prompt="login")
    first = web.get(request)
    assert first.status_code == 302 and first.headers["Location"].startswith("/login?")
    assert login(web, "zhangsan", return_to=request).headers["Location"] == "/login/mfa"
    csrf = csrf_of(web, "/login/mfa")
    done = web.post("/login/mfa", data={"csrf": csrf, "code": totp.at(time.time() + 30)})
    assert done.headers["Location"] == request
    claims = id_token_claims(idp, web, client, verifier, through_consent(web, web.get(request)))
    assert claims["acr"] == LOA_3 and claims["amr"] == ["pwd", "otp"] and time.time() - claims["auth_time"] < 60


def test_a_level_reached_during_the_session_steps_up_by_signing_in_again(idp):
    """Real name verified after signing in (session loa:1, account loa:2): a client asking for loa:2
    sends the person to the sign-in page once more, and the new sign-in carries loa:2."""
    user, web = real_name_person(idp, "zhangsan", ZHANG_PHONE, ZHANG)
    client, _ = idp.client(public=True)
    verifier, challenge = pkce_pair()
    request = authorize_url(client.client_id, challenge, acr_values=LOA_2)
    first = web.get(request)
    assert first.status_code == 302 and first.headers["Location"].startswith("/login?")
    back = login(web, "zhangsan", return_to=request)
    assert back.headers["Location"] == request
    claims = id_token_claims(idp, web, client, verifier, through_consent(web, web.get(request)))
    assert claims["acr"] == LOA_2 and claims["amr"] == ["pwd"] and claims["sub"] == user.sub
    assert events(idp, "authorize.step_up")[0].detail["method"] == "password"


def _change_phone(idp, web, number: str):
    """Change the signed-in person's mobile number through /account/phone (password, CAPTCHA, SMS code)."""
    from tests.idp.accounts_support import ask_code, csrf_of, last_code

    sent = ask_code(web, "/account/phone", "/account/phone/code", number, current_password=PASSWORD)
    assert sent.status_code == 200, sent.get_data(as_text=True)
    confirm = web.get("/account/phone/confirm")
    return web.post("/account/phone/confirm", data={"csrf": csrf_of(confirm), "code": last_code(idp, number)})


@pytest.mark.usefixtures("known_captcha")
def test_a_level_resting_on_the_old_number_is_lowered_when_the_new_one_does_not_check_out(idp):
    """Issue 5: a mobile-number change re-checks real name where the level depends on it."""
    user, web = real_name_person(idp, "lisi", LI_PHONE, LI)
    enrol_totp(web)
    assert strong(web, "carrier").status_code == 200 and idp.accounts.get(user.sub).acr == LOA_3
    done = _change_phone(idp, web, LI_PHONE_SUSPENDED)  # LI's, but suspended at the carrier: no match
    page = done.get_data(as_text=True)
    assert done.status_code == 200 and 'id="phone-success"' in page and 'id="phone-level"' in page
    assert idp.accounts.get(user.sub).acr == LOA_2
    assert events(idp, "strong_realname.lowered")[0].detail["acr"] == LOA_2


@pytest.mark.usefixtures("known_captcha")
def test_a_level_resting_on_a_bank_card_does_not_depend_on_the_phone(idp):
    user, web = real_name_person(idp, "zhangsan", ZHANG_PHONE, ZHANG)
    enrol_totp(web)
    assert strong(web, "bank", card_number=ZHANG_CARD, phone=ZHANG_PHONE).status_code == 200
    done = _change_phone(idp, web, "13500135000")
    assert done.status_code == 200 and 'id="phone-level"' not in done.get_data(as_text=True)
    assert idp.accounts.get(user.sub).acr == LOA_3 and events(idp, "strong_realname.lowered") == []
