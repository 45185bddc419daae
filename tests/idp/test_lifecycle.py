"""Password reset, phone change, data export and account deletion (issue 5) through the real app,
on both storage backends."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from idp.audit import Audit
from idp.models import audit_table, grants_table, identities_table, privacy_consents_table, users_table
from tests.idp.accounts_support import ask_code, csrf_of, field, known_captcha, last_code, outbox  # noqa: F401
from tests.idp.support import (
    PASSWORD,
    REDIRECT,
    BackchannelReceiver,
    authorize_url,
    code_from,
    login,
    make_idp,
    pkce_pair,
    through_consent,
)

pytestmark = pytest.mark.usefixtures("known_captcha")
PHONE = "13800138000"
NEW = "Bohai-Bay-2026-autumn"
ID_NUMBER = "11010519491231002X"


@pytest.fixture
def idp(storage, tmp_path):
    return make_idp(storage, tmp_path)


@pytest.fixture
def alice(idp):
    return idp.accounts.create(username="alice", password=PASSWORD, phone=PHONE, name="张三")


def _sessions(idp):
    return idp.app.extensions["yitong.idp"]


def reset(web, code: str, password: str = NEW):
    csrf = csrf_of(web.get("/password/reset/confirm"))
    return web.post("/password/reset/confirm", data={"csrf": csrf, "code": code, "password": password,
                                                     "password2": password})


def refresh_token_of(idp, web):
    client, _ = idp.client(public=True)
    verifier, challenge = pkce_pair()
    target = authorize_url(client.client_id, challenge)
    code = code_from(through_consent(web, web.get(target)))["code"]
    tokens = web.post("/token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                      "code_verifier": verifier, "client_id": client.client_id}).get_json()
    return client, tokens


# -- password reset ---------------------------------------------------------------------------------------------
def test_reset_by_sms_sets_the_password_and_ends_every_other_session(idp, alice):
    laptop, phone = idp.app.test_client(), idp.app.test_client()
    assert login(laptop, "alice").status_code == 302 and login(phone, "alice").status_code == 302
    client, tokens = refresh_token_of(idp, laptop)
    assert laptop.get("/account/data").status_code == 200
    stranger = idp.app.test_client()
    sent = ask_code(stranger, "/password/reset", "/password/reset/code", PHONE)
    assert sent.status_code == 200 and 'id="code-sent"' in sent.get_data(as_text=True)
    done = reset(stranger, last_code(idp, PHONE))
    assert done.status_code == 200 and 'id="reset-success"' in done.get_data(as_text=True)
    for browser in (laptop, phone):  # signed out everywhere
        assert browser.get("/account/data").status_code == 302
    refreshed = laptop.post("/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                            "client_id": client.client_id})
    assert refreshed.status_code == 400  # the grant is revoked too
    assert idp.accounts.authenticate("alice", PASSWORD) is None and idp.accounts.authenticate(PHONE, NEW)
    event = next(e for e in Audit(idp.home.engine).tail(50) if e.event == "password.reset")
    assert event.sub == alice.sub and event.detail["sessions_ended"] == 2
    with idp.home.engine.connect() as conn:
        details = json.dumps([r.detail for r in conn.execute(select(audit_table)).all()], ensure_ascii=False)
    assert NEW not in details and last_code(idp, PHONE) not in details and PHONE not in details


def test_reset_for_an_unknown_number_answers_the_same_and_sends_nothing(idp, alice):
    known = ask_code(idp.app.test_client(), "/password/reset", "/password/reset/code", PHONE, ip="198.51.100.1")
    unknown_web = idp.app.test_client()
    unknown = ask_code(unknown_web, "/password/reset", "/password/reset/code", "13900000000", ip="198.51.100.2")

    def shape(response):
        page = response.get_data(as_text=True).replace("138****8000", "#").replace("139****0000", "#")
        return re.sub(r'(name="csrf" value|nonce)="[^"]*"', "", page)  # per-session and per-response values

    assert known.status_code == unknown.status_code == 200 and shape(known) == shape(unknown)
    assert [m["to"] for m in outbox(idp)] == [PHONE]
    answer = reset(unknown_web, "123456")
    assert answer.status_code == 400 and 'id="reset-error"' in answer.get_data(as_text=True)


def test_a_reset_code_is_single_use(idp, alice):
    web = idp.app.test_client()
    ask_code(web, "/password/reset", "/password/reset/code", PHONE)
    code = last_code(idp, PHONE)
    assert reset(web, code).status_code == 200
    other = "Another-River-2026"
    again = web.post("/password/reset/confirm", data={"csrf": csrf_of(web.get("/password/reset")), "code": code,
                                                      "password": other, "password2": other})
    assert again.status_code == 302  # no flow any more
    assert idp.accounts.authenticate(PHONE, NEW) is not None


# -- phone change -------------------------------------------------------------------------------------------------
def ask_new_number(web, number: str, password: str = PASSWORD, ip: str = "198.51.100.7"):
    return ask_code(web, "/account/phone", "/account/phone/code", number, ip=ip, current_password=password)


def confirm_number(web, code: str):
    return web.post("/account/phone/confirm", data={"csrf": csrf_of(web.get("/account/phone/confirm")),
                                                    "code": code})


def test_phone_change_needs_the_password_and_a_code_sent_to_the_new_number(idp, alice):
    web = idp.app.test_client()
    assert web.get("/account/phone").status_code == 302  # signed in only
    login(web, "alice")
    wrong = ask_new_number(web, "13700000000", password="not my password")
    assert wrong.status_code == 401 and outbox(idp) == []
    sent = ask_new_number(web, "13700000000")
    assert sent.status_code == 200 and [m["to"] for m in outbox(idp)] == ["13700000000"]
    done = confirm_number(web, last_code(idp, "13700000000"))
    assert done.status_code == 200 and 'id="phone-success"' in done.get_data(as_text=True)
    assert idp.accounts.get(alice.sub).phone == "13700000000"
    assert outbox(idp)[-1] == {**outbox(idp)[-1], "to": PHONE, "purpose": "phone-changed"}  # the old one is told
    assert idp.accounts.authenticate(PHONE, PASSWORD) is None
    event = next(e for e in Audit(idp.home.engine).tail(20) if e.event == "phone.changed")
    assert {k: v for k, v in event.detail.items() if k != "request_id"} == {"old": "138****8000", "new": "137****0000"}
    assert any(e.event == "reauth.failure" for e in Audit(idp.home.engine).tail(20))


def test_phone_change_to_a_taken_number_sends_nothing_and_fails_like_a_wrong_code(idp, alice):
    idp.accounts.create(username="bob", password=PASSWORD, phone="13600000000")
    web = idp.app.test_client()
    login(web, "alice")
    sent = ask_new_number(web, "13600000000")
    assert sent.status_code == 200 and 'id="code-sent"' in sent.get_data(as_text=True) and outbox(idp) == []
    assert confirm_number(web, "123456").status_code == 400
    assert idp.accounts.get(alice.sub).phone == PHONE


def test_reauthentication_is_rate_limited(idp, alice):
    web = idp.app.test_client()
    login(web, "alice")
    statuses = [ask_new_number(web, "13700000000", password="wrong-guess-123").status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]


# -- export and deletion --------------------------------------------------------------------------------------------
def _verified(idp, alice):
    idp.app.extensions["yitong.idp"].identities.bind(
        alice.sub, id_type="resident", name="张三", id_number=ID_NUMBER, trust_framework="cn_population_library",
        evidence={"type": "electronic_record", "check_details": [{"check_method": "data", "txn": "t-1"}]})
    idp.accounts.raise_level(alice.sub, "urn:yitong:loa:2")


def test_export_holds_my_data_and_no_secrets(idp, alice):
    _verified(idp, alice)
    idp.app.extensions["yitong.idp"].organisations.register(
        uscc="91120116MA05JQXX0Q", name="天津某某科技有限公司", legal_representative_sub=alice.sub,
        acr="urn:yitong:loa:2", uscc_warnings=[], trust_framework="cn_legal_person_library", evidence={})
    idp.app.extensions["yitong.idp"].lifecycle.record_consent(alice.sub, "pipl-registration", "v-test")
    web = idp.app.test_client()
    assert web.get("/account/data/export").status_code == 302
    login(web, "alice")
    page = web.get("/account/data").get_data(as_text=True)
    assert "110105********002X" in page and ID_NUMBER not in page
    response = web.get("/account/data/export")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    data = response.get_json()
    assert data["schema"] == "yitong-account-export/1"
    assert data["profile"]["sub"] == alice.sub and data["profile"]["phone"] == PHONE
    assert data["identity"]["id_number"] == "110105********002X" and data["identity"]["evidence"]["type"]
    assert data["privacy_consents"][0]["version"] == "v-test"
    assert data["organisations"] == [{"uscc": "91120116MA05JQXX0Q", "name": "天津某某科技有限公司",
                                      "role": "legal_representative", "acr": "urn:yitong:loa:2",
                                      "verified_at": data["organisations"][0]["verified_at"]}]
    assert any(e["event"] == "login.success" for e in data["audit_events"])
    text = response.get_data(as_text=True)
    with idp.home.engine.connect() as conn:
        user = conn.execute(select(users_table).where(users_table.c.sub == alice.sub)).one()
        identity = conn.execute(select(identities_table)).one()
    assert ID_NUMBER not in text and user.password_hash not in text and "argon2" not in text
    assert identity.id_number_hash.hex() not in text and "password" not in text.lower()
    assert "totp" not in json.dumps(data["profile"]).replace('"second_factor": null', "")
    assert any(e.event == "user.data_exported" for e in Audit(idp.home.engine).tail(5))


def delete(web, password: str = PASSWORD, confirm: str | None = "delete"):
    form = {"csrf": csrf_of(web.get("/account/data")), "current_password": password}
    if confirm:
        form["confirm"] = confirm
    return web.post("/account/delete", data=form)


def test_deletion_erases_pii_keeps_the_tombstone_and_audit_and_revokes_everything(idp, alice):
    _verified(idp, alice)
    web, other = idp.app.test_client(), idp.app.test_client()
    login(web, "alice")
    login(other, "alice")
    client, tokens = refresh_token_of(idp, web)
    idp.accounts.enrol_totp(alice.sub, "JBSWY3DPEHPK3PXP")  # a second factor, to be erased too
    assert idp.accounts.get(alice.sub).has_totp
    assert delete(web, confirm=None).status_code == 400
    assert delete(web, password="wrong password!").status_code == 401
    assert idp.accounts.get(alice.sub) is not None
    done = delete(web)
    assert done.status_code == 200 and 'id="deleted"' in done.get_data(as_text=True)
    with idp.home.engine.connect() as conn:
        row = conn.execute(select(users_table).where(users_table.c.sub == alice.sub)).one()
        assert conn.execute(select(identities_table)).first() is None
        grants = conn.execute(select(grants_table).where(grants_table.c.sub == alice.sub)).all()
        audit_subs = {r.event for r in conn.execute(select(audit_table).where(audit_table.c.sub == alice.sub))}
    assert (row.username, row.phone, row.name, row.password_hash, row.totp_secret_wrapped,
            row.recovery_hashes) == (None,) * 6
    assert row.disabled and row.deleted_at is not None
    assert grants and all(g.revoked_at is not None for g in grants)
    assert {"login.success", "user.deleted"} <= audit_subs  # the audit trail names the tombstone sub
    for browser in (web, other):
        assert browser.get("/account/data").status_code == 302
    assert web.post("/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                    "client_id": client.client_id}).status_code == 400
    assert login(idp.app.test_client(), "alice").status_code == 401
    assert login(idp.app.test_client(), PHONE).status_code == 401
    # the number is free again: a new person can sign up with it
    fresh = idp.app.test_client()
    ask_code(fresh, "/register", "/signup/code", PHONE, ip="198.51.100.99")
    page = fresh.get("/signup/account")
    answer = fresh.post("/signup/account", data={"csrf": field(page.get_data(as_text=True), "csrf"),
                                                 "code": last_code(idp, PHONE), "password": NEW, "password2": NEW,
                                                 "consent": field(page.get_data(as_text=True), "consent")})
    assert answer.status_code == 200 and idp.accounts.find_by_phone(PHONE).sub != alice.sub


def test_consent_records_survive_deletion(idp, alice):
    idp.app.extensions["yitong.idp"].lifecycle.record_consent(alice.sub, "pipl-registration", "v-test")
    web = idp.app.test_client()
    login(web, "alice")
    assert delete(web).status_code == 200
    with idp.home.engine.connect() as conn:
        assert conn.execute(select(privacy_consents_table.c.sub)).scalar() == alice.sub


def test_a_reset_sends_back_channel_logout_tokens_for_the_sessions_it_ends(idp, alice):
    from keys import jose

    receiver = BackchannelReceiver()
    client, _ = idp.client(public=True, backchannel_logout_uri=receiver.uri)
    web = idp.app.test_client()
    login(web, "alice")
    verifier, challenge = pkce_pair()
    code = code_from(through_consent(web, web.get(authorize_url(client.client_id, challenge))))["code"]
    answer = web.post("/token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                      "code_verifier": verifier, "client_id": client.client_id})
    id_token = answer.get_json()["id_token"]
    stranger = idp.app.test_client()
    ask_code(stranger, "/password/reset", "/password/reset/code", PHONE)
    assert reset(stranger, last_code(idp, PHONE)).status_code == 200
    logout_token = receiver.logout_token(idp)
    keys = web.get("/jwks.json").get_json()["keys"]
    _header, claims = jose.verify_jwt(logout_token, keys, algorithms=["ES256"])
    _h, id_claims = jose.verify_jwt(id_token, keys, algorithms=["ES256"])
    assert (claims["aud"], claims["sub"], claims["sid"]) == (client.client_id, alice.sub, id_claims["sid"])
